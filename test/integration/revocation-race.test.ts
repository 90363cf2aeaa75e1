// The race a skeptic asks about: a token is being used by many requests at once when it is revoked. Once
// the revocation has answered, no authorization that starts afterwards may allow it, whether it runs on
// the same container as the logout or on another (on AWS the authorizer and logout are separate functions,
// so separate containers with separate connections).
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import type { Container } from '../../testkit/cold-start';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';

const SECRET = 'revocation-race-secret-0123456789abcdefghij';
const IN_FLIGHT = 64;
const ROUNDS = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Target = { token: string; jti: string; sid: string; sub: string; refreshToken: string; context: Record<string, unknown> };
type Revocation = (target: Target, via: Container) => Promise<APIGatewayProxyResult>;

const contextOf = async (via: Container, token: string) => (await via.authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).context as Record<string, unknown>;

const REVOCATIONS: Array<[string, Revocation, number]> = [
  ['logout', ({ context }, via) => via.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context })), 204],
  [
    "logout with another access token of the session (from its refresh token): the session's every token ends",
    async ({ refreshToken }, via) => {
      const refreshed = await via.refresh(proxyEvent({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken }) }));
      const { token } = JSON.parse(refreshed.body) as { token: string };
      return via.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(via, token) }));
    },
    204,
  ],
  ['logout-all', ({ context }, via) => via.logoutAll(proxyEvent({ method: 'POST', path: '/auth/logout-all', authorizer: context })), 204],
  [
    'DELETE /auth/sessions/{sid} from another session of the same user',
    async ({ sid, sub }, via) => {
      const other = JSON.parse((await via.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub }) }))).body) as { token: string };
      const context = await contextOf(via, other.token);
      return via.endSession(proxyEvent({ method: 'DELETE', path: `/auth/sessions/${sid}`, authorizer: context, pathParameters: { sid } }));
    },
    204,
  ],
  ['POST /auth/revoke {jti}', ({ jti }, via) => via.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ jti }) })), 200],
  ['POST /auth/revoke {sid}', ({ sid }, via) => via.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ sid }) })), 200],
  ['POST /auth/revoke {sub}', ({ sub }, via) => via.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ sub }) })), 200],
];

describe('Revocation racing 64 authorizations of the same token', () => {
  const containers = useContainers('suite');
  const server = useRedisServer();
  let authorizerContainer: Container;
  let otherContainer: Container;
  const totals = { races: 0, authorizations: 0, inFlightAtAcknowledgement: 0, startedAfterAcknowledgement: 0, allowedAfterAcknowledgement: 0 };

  beforeAll(() => {
    // A generous Redis bound: a revocation that timed out on a busy machine would answer 503, not race.
    const env = { REDIS_URL: server().url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '5000', LOG_LEVEL: 'silent' };
    authorizerContainer = containers(env);
    otherContainer = containers(env);
  });

  afterAll(async () => {
    console.log(
      `revocation races: ${totals.races} races, ${totals.authorizations} authorizations, ${totals.inFlightAtAcknowledgement} in flight when the revocation answered, ${totals.startedAfterAcknowledgement} started after it, ${totals.allowedAfterAcknowledgement} of those allowed`,
    );
  });

  async function race(revoke: Revocation, expectedStatus: number, via: Container, round: number) {
    const sub = `racer-${totals.races}-${round}`;
    const signed = await authorizerContainer.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub, refresh: true }) }));
    const { token, jti, sid, refreshToken } = JSON.parse(signed.body) as { token: string; jti: string; sid: string; refreshToken: string };
    const authorize = () =>
      authorizerContainer.authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
        (result: APIGatewayAuthorizerResult) => (result.context?.jti === jti ? 'allow' : 'wrong identity'),
        (error: Error) => (error.message === 'Unauthorized' ? 'deny' : `error: ${error.message}`),
      );
    const context = await contextOf(authorizerContainer, token);

    let acknowledged = false;
    let stop = false;
    const decisions: Array<{ startedAfterAcknowledgement: boolean; answeredAfterAcknowledgement: boolean; outcome: string }> = [];
    const loops = Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = 1; !stop; i += 1) {
        const startedAfterAcknowledgement = acknowledged;
        const outcome = await authorize();
        decisions.push({ startedAfterAcknowledgement, answeredAfterAcknowledgement: acknowledged, outcome });
        // Let timers run even if authorizations never wait on I/O (a broken build that skips Redis).
        if (i % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await sleep(5 + (round % 3) * 5);
    const response = await revoke({ token, jti, sid, sub, refreshToken, context }, via);
    acknowledged = true;
    expect(response.statusCode).toBe(expectedStatus);
    // Keep authorizing until at least one round of all 64 has started after the answer (not a fixed sleep:
    // on a busy machine 15 ms may not see them all start).
    const deadline = Date.now() + 10_000;
    while (decisions.filter((decision) => decision.startedAfterAcknowledgement).length < IN_FLIGHT && Date.now() < deadline) await sleep(5);
    stop = true;
    await Promise.all(loops);

    const before = decisions.filter((decision) => !decision.startedAfterAcknowledgement);
    const after = decisions.filter((decision) => decision.startedAfterAcknowledgement);
    // A real race: the token was in use and allowed until the revocation, and used on after it.
    expect(before.filter((decision) => decision.outcome === 'allow').length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThanOrEqual(IN_FLIGHT);
    totals.inFlightAtAcknowledgement += before.filter((decision) => decision.answeredAfterAcknowledgement).length;
    // The property: nothing that started after the answer was allowed. And nothing failed or mixed up identities.
    expect(after.filter((decision) => decision.outcome !== 'deny')).toEqual([]);
    expect(before.filter((decision) => decision.outcome !== 'allow' && decision.outcome !== 'deny')).toEqual([]);
    totals.races += 1;
    totals.authorizations += decisions.length;
    totals.startedAfterAcknowledgement += after.length;
    totals.allowedAfterAcknowledgement += after.filter((decision) => decision.outcome === 'allow').length;
  }

  describe.each([
    ['on the same container', () => authorizerContainer],
    ['on another container', () => otherContainer],
  ])('revoked %s', (_, via) => {
    it.each(REVOCATIONS)('%s', async (__, revoke, status) => {
      const inFlightBefore = totals.inFlightAtAcknowledgement;
      for (let round = 0; round < ROUNDS; round += 1) await race(revoke, status, via(), round);
      // Over the rounds, authorizations were still in flight when revocations answered.
      expect(totals.inFlightAtAcknowledgement).toBeGreaterThan(inFlightBefore);
    });
  });
});
