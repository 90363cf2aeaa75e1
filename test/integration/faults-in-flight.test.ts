// Redis hangs, dies, restarts or drops its connections while 64 requests are in flight on one container
// (a separate process, as a Lambda container is). Every answer must come within REDIS_TIMEOUT_MS (plus
// slack), fail closed, and never allow what should be refused; the container must recover by itself once
// Redis is back, and a logout it acknowledged must never come undone.
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { forgeJws } from '../../testkit/jws';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { bundleHandlerHost, startHost, type Answer, type HostBundle, type HostProcess } from '../../testkit/host-process';

const TIMEOUT_MS = 500;
/** Scheduling on a loaded 2-core machine (the rest of `npm test` runs beside), measured inside the container. */
const SLACK_MS = 500;
const IN_FLIGHT = 64;
const SECRET = 'faults-in-flight-secret-0123456789abcdefgh';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Kind = 'live' | 'revoked' | 'forged' | 'sign' | 'logout';
type Outcome = 'allow' | 'deny' | 'error' | number;

interface Observation {
  kind: Kind;
  outcome: Outcome;
  answer: Answer;
  token?: string;
}

interface Issued {
  token: string;
  jti: string;
  /** performance.now() here when sign answered. */
  answeredAt: number;
}

const outcomeOf = (answer: Answer): Outcome => {
  if (answer.ok) {
    const result = answer.result as APIGatewayAuthorizerResult | APIGatewayProxyResult;
    return 'statusCode' in result ? result.statusCode : 'allow';
  }
  return answer.error.message === 'Unauthorized' ? 'deny' : 'error';
};

describe('Redis faults with 64 requests in flight on one container', () => {
  let server: RedisServer;
  let bundle: HostBundle;
  let container: HostProcess;
  /** Every fault injected, for the report. */
  const faults: string[] = [];
  let requestsDuringFaults = 0;
  const summaries: string[] = [];

  const sign = async (sub: string): Promise<Issued | undefined> => {
    const answer = await container.invoke('sign', proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub, ttl: 600 }) }));
    if (outcomeOf(answer) !== 201) return undefined;
    const body = JSON.parse((answer as { result: APIGatewayProxyResult }).result.body) as { token: string; jti: string };
    return { ...body, answeredAt: answer.answeredAt };
  };
  const authorize = (token: string) => container.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
  const logout = async (token: string): Promise<{ authorized: Answer; loggedOut?: Answer }> => {
    const authorized = await authorize(token);
    if (!authorized.ok) return { authorized };
    const context = (authorized.result as APIGatewayAuthorizerResult).context as Record<string, unknown>;
    return { authorized, loggedOut: await container.invoke('logout', proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context })) };
  };

  /** Setup, before any fault: in batches, each sign retried, so a busy machine cannot fail it. */
  async function mustSign(count: number, sub: string): Promise<Issued[]> {
    const issued: Issued[] = [];
    while (issued.length < count) {
      const batch = await Promise.all(Array.from({ length: Math.min(16, count - issued.length) }, () => sign(sub)));
      issued.push(...batch.filter((token): token is Issued => token !== undefined));
    }
    return issued;
  }

  /** Setup: logs a token out, retrying a 503 (a busy machine), until it is refused. */
  async function mustLogOut(token: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const { authorized, loggedOut: answer } = await logout(token);
      if (outcomeOf(authorized) === 'deny' || (answer !== undefined && outcomeOf(answer) === 204)) return;
    }
    throw new Error('setup: logout failed 5 times');
  }

  /** Server-side normal clients other than the admin connection, once they have settled (CLIENT LIST if not). */
  async function settledConnections(expected: number): Promise<number | string> {
    let list = '';
    for (let attempt = 0; attempt < 30; attempt += 1) {
      list = await (await server.admin()).sendCommand<string>(['CLIENT', 'LIST', 'TYPE', 'normal']);
      if (list.split('\n').filter((line) => line.trim() !== '').length - 1 === expected) return expected;
      await sleep(100);
    }
    return list;
  }

  interface Run {
    observations: Observation[];
    live: Issued[];
    revoked: Issued[];
    signed: Array<{ issued: Issued }>;
    loggedOut: Array<{ token: string; status: number }>;
    faultAt: number;
    /** When healing began (resume sent, restart launched) and when it was done (the server answers). */
    healStartedAt: number;
    healedAt: number;
    connectsBefore: number;
  }

  /**
   * 64 requests in flight throughout: authorizations of live, revoked and forged tokens, signs and logouts.
   * `fault` hits `before` ms in, `heal` runs `during` ms later, and the load goes on `after` ms more.
   */
  async function underLoad(
    name: string,
    timing: { before: number; during: number; after: number },
    fault: () => Promise<void> | void,
    heal: () => Promise<void> | void,
  ): Promise<Run> {
    const sub = `faults-${name}`;
    const live = await mustSign(32, sub);
    const revoked = await mustSign(16, sub);
    for (const { token } of revoked) await mustLogOut(token);
    const toLogOut = await mustSign(400, sub);
    const forged = [
      forgeJws({
        header: { alg: 'HS256', kid: 'default' },
        payload: { sub, jti: live[0]?.jti, exp: 4e9, iss: 'revocable-jwt', aud: 'revocable-jwt-api' },
        secret: 'not-the-secret-0123456789abcdefghijkl',
      }),
      forgeJws({ header: { alg: 'none', kid: 'default' }, payload: { sub, jti: live[1]?.jti, exp: 4e9, iss: 'revocable-jwt', aud: 'revocable-jwt-api' } }),
    ];
    const { connectCount: connectsBefore } = await container.stats();

    const observations: Observation[] = [];
    const signed: Array<{ issued: Issued }> = [];
    const loggedOut: Array<{ token: string; status: number }> = [];
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop) {
        n += 1;
        const roll = n % 20;
        if (roll < 11) {
          const token = (live[n % live.length] as Issued).token;
          const answer = await authorize(token);
          observations.push({ kind: 'live', outcome: outcomeOf(answer), answer, token });
        } else if (roll < 14) {
          const answer = await authorize((revoked[n % revoked.length] as Issued).token);
          observations.push({ kind: 'revoked', outcome: outcomeOf(answer), answer });
        } else if (roll < 16) {
          const answer = await authorize(forged[n % forged.length] as string);
          observations.push({ kind: 'forged', outcome: outcomeOf(answer), answer });
        } else if (roll < 18) {
          // Over 32 subjects: thousands of signs for one would reach MAX_SESSIONS and end its oldest sessions.
          const answer = await container.invoke(
            'sign',
            proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `${sub}-${n % 32}`, ttl: 600 }) }),
          );
          observations.push({ kind: 'sign', outcome: outcomeOf(answer), answer });
          if (outcomeOf(answer) === 201)
            signed.push({ issued: { ...(JSON.parse((answer as { result: APIGatewayProxyResult }).result.body) as Issued), answeredAt: answer.answeredAt } });
        } else {
          const target = toLogOut.pop();
          if (target === undefined) continue;
          const { authorized, loggedOut: answer } = await logout(target.token);
          observations.push({ kind: 'live', outcome: outcomeOf(authorized), answer: authorized, token: target.token });
          if (answer !== undefined) {
            observations.push({ kind: 'logout', outcome: outcomeOf(answer), answer, token: target.token });
            loggedOut.push({ token: target.token, status: outcomeOf(answer) as number });
          }
        }
      }
    };
    const workers = Array.from({ length: IN_FLIGHT }, worker);
    await sleep(timing.before);
    const faultAt = performance.now();
    await fault();
    faults.push(name);
    await sleep(timing.during);
    const healStartedAt = performance.now();
    await heal();
    const healedAt = performance.now();
    await sleep(timing.after);
    stop = true;
    await Promise.all(workers);
    requestsDuringFaults += observations.length;
    const tally = new Map<string, number>();
    for (const { kind, outcome } of observations) tally.set(`${kind} ${outcome}`, (tally.get(`${kind} ${outcome}`) ?? 0) + 1);
    const inFlight = observations.filter(({ answer }) => answer.sentAt < faultAt && answer.answeredAt > faultAt).length;
    const slowest = Math.round(Math.max(...observations.map(({ answer }) => answer.elapsedMs)));
    summaries.push(
      `${name}: ${observations.length} answers, ${inFlight} in flight when it hit, slowest ${slowest} ms; ${[...tally]
        .sort()
        .map(([key, count]) => `${key}: ${count}`)
        .join(', ')}`,
    );
    return { observations, live, revoked, signed, loggedOut, faultAt, healStartedAt, healedAt, connectsBefore };
  }

  /** What holds whatever the fault: bounded, fail closed, nothing forged or revoked let through, no crash. */
  async function expectFailClosed(run: Run): Promise<void> {
    const { observations, faultAt } = run;
    // A sign whose script may have run when its bound ran out takes its session back with a second command,
    // bounded in turn: twice the bound at most. Every other request makes one command.
    const boundOf = (kind: Kind) => (kind === 'sign' ? 2 : 1) * TIMEOUT_MS + SLACK_MS;
    const slow = observations.filter((observation) => observation.answer.elapsedMs > boundOf(observation.kind));
    expect(slow.map((observation) => `${observation.kind}: ${Math.round(observation.answer.elapsedMs)} ms`)).toEqual([]);
    expect(observations.filter((observation) => observation.kind === 'revoked' && observation.outcome === 'allow')).toEqual([]);
    expect(observations.filter((observation) => observation.kind === 'forged').map((observation) => observation.outcome)).toEqual(
      observations.filter((observation) => observation.kind === 'forged').map(() => 'deny'),
    );
    // Redis trouble is never passed off as a 401 on a live token (API Gateway would tell the client to log in again).
    for (const observation of observations.filter((each) => each.outcome === 'error')) {
      expect(observation.answer.ok ? '' : observation.answer.error.message).toMatch(/^Redis \S+ failed/);
    }
    const statuses = (kind: Kind) => new Set(observations.filter((observation) => observation.kind === kind).map((observation) => observation.outcome));
    expect([...statuses('sign')].filter((status) => status !== 201 && status !== 503)).toEqual([]);
    expect([...statuses('logout')].filter((status) => status !== 204 && status !== 503)).toEqual([]);
    // The fault hit while requests were in flight.
    const inFlightAtFault = observations.filter((observation) => observation.answer.sentAt < faultAt && observation.answer.answeredAt > faultAt);
    expect(inFlightAtFault.length).toBeGreaterThanOrEqual(IN_FLIGHT / 2);
    expect((await container.stats()).unhandled).toEqual([]);
  }

  /**
   * The same container, untouched, serves correctly again: signs, allows, logs out, refuses. A request that
   * failed closed (Redis over the 500 ms bound on a busy machine) is retried once, as a client would.
   */
  async function expectRecovered(run: Run): Promise<void> {
    const again = async <T>(attempt: () => Promise<T>, failed: (value: T) => boolean) => {
      const first = await attempt();
      return failed(first) ? attempt() : first;
    };
    const fresh = await Promise.all(
      Array.from({ length: IN_FLIGHT }, () =>
        again(
          () => sign('after-the-fault'),
          (issued) => issued === undefined,
        ),
      ),
    );
    expect(fresh.filter((issued) => issued === undefined)).toEqual([]);
    const decisions = await Promise.all(
      fresh.map((issued) =>
        again(
          () => authorize((issued as Issued).token),
          (answer) => outcomeOf(answer) === 'error',
        ),
      ),
    );
    expect(decisions.map(outcomeOf)).toEqual(decisions.map(() => 'allow'));
    const [first] = fresh as Issued[];
    expect(outcomeOf((await logout((first as Issued).token)).loggedOut as Answer)).toBe(204);
    expect(outcomeOf(await authorize((first as Issued).token))).toBe('deny');
    const stats = await container.stats();
    expect(stats.unhandled).toEqual([]);
    expect(stats.connectCount).toBeGreaterThanOrEqual(run.connectsBefore);
    // Every connection given up on during the fault is closed: one left, the container's.
    expect(await settledConnections(1)).toBe(1);
  }

  /** No logout acknowledged with 204 comes undone; a 503 means "unknown", and retrying it settles it. */
  async function expectLogoutsHeld(run: Run): Promise<void> {
    for (const { token, status } of run.loggedOut) {
      if (status === 503) {
        // Retried: either the first one did happen (the token is refused already) or this one answers 204.
        const retry = await logout(token);
        expect(retry.loggedOut === undefined ? outcomeOf(retry.authorized) : outcomeOf(retry.loggedOut)).toBe(retry.loggedOut === undefined ? 'deny' : 204);
      }
      expect({ token, outcome: outcomeOf(await authorize(token)) }).toEqual({ token, outcome: 'deny' });
    }
  }

  beforeAll(async () => {
    server = await startRedisServer();
    // Each fault's subject holds 448 sessions before the load starts: under the default MAX_SESSIONS, its
    // live tokens would end as the oldest.
    bundle = bundleHandlerHost();
    container = await startHost(bundle, {
      REDIS_URL: server.url,
      JWT_SECRET: SECRET,
      REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
      LOG_LEVEL: 'silent',
      MAX_SESSIONS: '1000',
    });
  });

  afterAll(async () => {
    container?.stop();
    bundle?.cleanup();
    await server?.stop();
    console.log(
      `faults: ${faults.length} injected (${faults.join(', ')}) under ${IN_FLIGHT} requests in flight; ${requestsDuringFaults} answers checked\n${summaries.join('\n')}`,
    );
  });

  it('Redis hangs (SIGSTOP) longer than the bound: every request answers in time and fails closed; all resumes by itself', async () => {
    const run = await underLoad(
      'hang',
      { before: 300, during: 3 * TIMEOUT_MS, after: 1000 },
      () => server.pause(),
      () => server.resume(),
    );
    await expectFailClosed(run);
    const live = run.observations.filter((observation) => observation.kind === 'live');
    // Live tokens are allowed or fail closed, never refused as if logged out.
    expect(live.filter((observation) => observation.outcome === 'deny')).toEqual([]);
    expect(live.filter((observation) => observation.outcome === 'error').length).toBeGreaterThan(0);
    // Soon after the server resumes, requests are answered normally again.
    const late = run.observations.filter((observation) => observation.answer.sentAt > run.healedAt + 200);
    expect(late.length).toBeGreaterThan(IN_FLIGHT);
    expect(late.filter((observation) => observation.outcome === 'error' || observation.outcome === 503)).toEqual([]);
    // Nothing acknowledged was lost: every token signed with a 201 works (unless logged out), every 204 holds.
    const loggedOut = new Set(run.loggedOut.map(({ token }) => token));
    const signedDecisions = await Promise.all(run.signed.map(({ issued }) => authorize(issued.token)));
    expect(signedDecisions.map(outcomeOf)).toEqual(run.signed.map(({ issued }) => (loggedOut.has(issued.token) ? 'deny' : 'allow')));
    for (const { token } of run.live) expect(outcomeOf(await authorize(token))).toBe('allow');
    await expectLogoutsHeld(run);
    await expectRecovered(run);
    expect((await container.stats()).connectCount).toBeGreaterThan(run.connectsBefore);
  }, 30_000);

  it('Redis stalls for less than the bound: nothing fails, nothing reconnects', async () => {
    const run = await underLoad(
      'stall',
      { before: 300, during: TIMEOUT_MS / 3, after: 600 },
      () => server.pause(),
      () => server.resume(),
    );
    await expectFailClosed(run);
    const wrong = run.observations.filter(({ kind, outcome }) => outcome !== { live: 'allow', revoked: 'deny', forged: 'deny', sign: 201, logout: 204 }[kind]);
    expect(wrong.map(({ kind, outcome }) => `${kind}: ${outcome}`)).toEqual([]);
    expect((await container.stats()).connectCount).toBe(run.connectsBefore);
    await expectLogoutsHeld(run);
    await expectRecovered(run);
  }, 30_000);

  it.each([
    ['dies (SIGKILL) and stays down for a second', 1000],
    ['restarts (killed and started again at once)', 0],
  ])(
    'Redis %s: fails closed and fast, loses every label (all refused), and the container recovers by itself',
    async (_, downMs) => {
      const run = await underLoad(
        downMs > 0 ? 'die' : 'restart',
        { before: 300, during: downMs, after: 1000 },
        () => server.kill(),
        () => server.restart(),
      );
      await expectFailClosed(run);
      // The server keeps nothing on disk: once it is gone, no token issued before may ever be allowed again.
      const afterKill = run.observations.filter(({ kind, answer }) => kind === 'live' && answer.sentAt > run.faultAt);
      expect(afterKill.length).toBeGreaterThan(IN_FLIGHT);
      expect(afterKill.filter(({ outcome }) => outcome === 'allow')).toEqual([]);
      // While it is down, requests fail at once (connection refused), not after the bound.
      const whileDown = run.observations.filter(({ answer }) => answer.sentAt > run.faultAt + 50 && answer.answeredAt < run.healStartedAt);
      if (downMs > 0) {
        expect(whileDown.length).toBeGreaterThan(IN_FLIGHT);
        expect(whileDown.filter(({ kind, outcome }) => kind !== 'forged' && outcome !== 'error' && outcome !== 503)).toEqual([]);
        expect(whileDown.filter(({ answer }) => answer.elapsedMs > TIMEOUT_MS / 2)).toEqual([]);
      }
      // Tokens signed once it was back work.
      const signedAfter = run.signed.filter(({ issued }) => issued.answeredAt > run.healedAt);
      expect(signedAfter.length).toBeGreaterThan(0);
      const loggedOut = new Set(run.loggedOut.map(({ token }) => token));
      for (const { issued } of signedAfter) expect(outcomeOf(await authorize(issued.token))).toBe(loggedOut.has(issued.token) ? 'deny' : 'allow');
      for (const { token } of run.live) expect(outcomeOf(await authorize(token))).toBe('deny');
      await expectRecovered(run);
    },
    30_000,
  );

  it('Redis drops every connection (CLIENT KILL) under load: the one retry keeps live tokens working', async () => {
    const run = await underLoad(
      'connections dropped',
      { before: 300, during: 0, after: 700 },
      async () => void (await (await server.admin()).sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'])),
      () => undefined,
    );
    await expectFailClosed(run);
    const live = run.observations.filter((observation) => observation.kind === 'live');
    expect(live.filter((observation) => observation.outcome === 'deny')).toEqual([]);
    for (const { token } of run.live) expect(outcomeOf(await authorize(token))).toBe('allow');
    await expectLogoutsHeld(run);
    await expectRecovered(run);
    expect((await container.stats()).connectCount).toBeGreaterThan(run.connectsBefore);
  }, 30_000);
});
