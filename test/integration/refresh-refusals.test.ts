// Every refused refresh token gets one answer, whatever the reason: status, headers and body, byte for byte, on
// both APIs, from a browser origin too. Only the log line says why.
import { expect } from '@jest/globals';
import { indexKey, recordKey, subjectTag } from '../../shared/sessions/keys';
import { useContainers, useLogLines, useRedisServer } from '../../testkit/fixtures';
import { manualClock, REFRESH_REFUSED, SessionClient, type Answer } from '../../testkit/session-client';

const SECRET = 'refresh-refusals-secret-0123456789abcdefgh';
const ORIGIN = 'https://app.example';

/** The refresh token's field `field` (0 to 3) replaced by `value`. */
const swap = (token: string, field: number, value: string) =>
  token
    .split('.')
    .map((part, i) => (i === field ? value : part))
    .join('.');

describe('POST /auth/refresh refusals', () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  const logLines = useLogLines();

  it('answers malformed, unknown, wrong-family, reused, revoked, ended, bad-grant and expired refresh tokens identically', async () => {
    const clock = manualClock();
    const env = { REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'info', REFRESH_REUSE_GRACE: '0', REFRESH_IDLE_TTL: '1', CORS_ORIGINS: ORIGIN };
    const container = containers(env, { now: clock.now });
    const api = new SessionClient(() => container);
    const admin = await server().admin();

    /** One refresh token refused for each reason, with the reason the log gives; subjects named after `set`. */
    const refusedTokens = async (set: string): Promise<Array<[string, string]>> => {
      const sub = (name: string) => `${set}-${name}`;
      const unknown = await api.signIn(sub('unknown'), { ttl: 600 });
      const reused = await api.signIn(sub('reused'), { ttl: 600 });
      await api.rotate(reused.refreshToken);
      // Its index lost: the revocation counter alone ends it, and its record is still there to say so.
      const revoked = await api.signIn(sub('revoked'), { ttl: 600 });
      await admin.del(indexKey(subjectTag(sub('revoked'))));
      expect((await api.revoke({ sub: sub('revoked') })).status).toBe(200);
      const ended = await api.signIn(sub('ended'), { ttl: 600 });
      expect((await api.logout(ended.token)).status).toBe(204);
      const badGrant = await api.signIn(sub('bad-grant'), { ttl: 600 });
      await admin.hSet(recordKey(badGrant.sid), 'grant', 'a.b.c');
      const expired = await api.signIn(sub('expired'), { ttl: 600 });
      return [
        ['malformed', 'x'.repeat(112)],
        ['unknown', swap(unknown.refreshToken, 1, 'A'.repeat(22))],
        ['unknown', swap(unknown.refreshToken, 2, 'B'.repeat(22))],
        ['reused', reused.refreshToken],
        ['revoked', revoked.refreshToken],
        ['unknown', ended.refreshToken],
        ['grant', badGrant.refreshToken],
        ['expired', expired.refreshToken],
      ];
    };
    const cases = [...(await refusedTokens('rest')).map((c) => ['rest', ...c] as const), ...(await refusedTokens('http')).map((c) => ['http', ...c] as const)];
    // The expired ones last: the clock moves past REFRESH_IDLE_TTL only for them, or every refusal would be an expiry.
    cases.sort(([, a], [, b]) => Number(a === 'expired') - Number(b === 'expired'));
    logLines().splice(0);

    const answers: Record<'rest' | 'http', Answer[]> = { rest: [], http: [] };
    for (const [apiName, reason, token] of cases) {
      if (reason === 'expired') clock.advance(2);
      answers[apiName].push(
        apiName === 'rest' ? await api.refreshWith(JSON.stringify({ refreshToken: token }), 'rest', { Origin: ORIGIN }) : await api.refresh(token, 'http'),
      );
    }

    for (const apiName of ['rest', 'http'] as const) {
      expect(new Set(answers[apiName].map((answer) => JSON.stringify(answer))).size).toBe(1);
    }
    expect(answers.rest[0]).toEqual({
      status: 401,
      body: REFRESH_REFUSED,
      headers: expect.objectContaining({ 'WWW-Authenticate': 'Bearer', 'Access-Control-Allow-Origin': ORIGIN }),
    });
    expect(answers.http[0]).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    // Each was refused for the reason it stands for.
    const reasons = logLines()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.message === 'refresh' && line.outcome === 'refused')
      .map((line) => line.reason);
    expect(reasons).toEqual(cases.map(([, reason]) => reason));
  });
});
