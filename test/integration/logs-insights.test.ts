// The Logs Insights queries of docs/queries/, every file of the folder, run over lines the real handlers wrote:
// tokens signed, allowed and refused, a logout, then the keyring unreadable, a Redis whose eviction policy is
// refused, and Redis gone. Each query must find what the runbook sends an operator to it for, and read only fields
// some line has: a renamed log field fails here, not in the middle of an incident.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { fetchKeyring } from '../../shared/auth/keyring';
import { newId } from '../../shared/sessions/keys';
import type { Container } from '../../testkit/cold-start';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { httpAuthorizerEvent } from '../../testkit/events-v2';
import { eventually, useContainers } from '../../testkit/fixtures';
import { forgeJws } from '../../testkit/jws';
import { fieldsRead, logEvents, parseQuery, runQuery, type LogEvent, type Row } from '../../testkit/logs-insights';
import { captureLogs } from '../../testkit/logs';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

jest.setTimeout(60_000);

const QUERIES_DIR = join(__dirname, '..', '..', 'docs', 'queries');
const QUERIES = readdirSync(QUERIES_DIR)
  .filter((name) => name.endsWith('.logsinsights'))
  .map((name) => ({ name: name.replace(/\.logsinsights$/, ''), text: readFileSync(join(QUERIES_DIR, name), 'utf8') }));

const SECRET = 'logs-insights-test-secret-0123456789abcdef';
const PARAMETER = '/revocable-jwt/test/jwt-keys';
/** Generous: these tests are about what the lines say, not how fast; a busy machine must not fail a request. */
const TIMEOUT_MS = '2000';
const BIN = /^\d{4}-\d\d-\d\d \d\d:\d\d:00\.000$/;

type Issued = { token: string; jti: string; sid: string };

/** What happened, as the test saw it: the sessions the trail must find and keep apart. */
interface Story {
  events: LogEvent[];
  /** alice's session that is used, logged out, and refused afterwards. */
  loggedOut: Issued;
  /** alice's other session. */
  other: Issued;
  /** bob's one session. */
  bob: Issued;
}

/** Sums a numeric column by another: rows binned per minute may straddle a minute boundary. */
function sumBy(rows: Row[], key: string, value: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const row of rows) sums[String(row[key])] = (sums[String(row[key])] ?? 0) + Number(row[value]);
  return sums;
}

function expectDescending(rows: Row[], column: string): void {
  const values = rows.map((row) => row[column] as number);
  expect(values).toEqual([...values].sort((a, b) => b - a));
}

/** The trail of `placeholder`'s value: the query as the runbook has the operator fill it in. */
function trail(text: string, placeholder: 'SID' | 'SUB', value: string, events: LogEvent[]): Row[] {
  expect(text).toContain(`"${placeholder}"`);
  return runQuery(parseQuery(text.replace(`"${placeholder}"`, JSON.stringify(value))), events);
}

/** What each query must find in the story's lines. A query file without an entry here fails: say what it is for. */
const EXPECTATIONS: Record<string, (rows: Row[], story: Story, text: string) => void> = {
  'authorizer-errors': (rows) => {
    expect(rows).toEqual([
      { Function: 'authorizer', Reason: 'STORE_UNAVAILABLE', errors: 2 },
      { Function: 'authorizer', Reason: 'KEYRING_UNAVAILABLE', errors: 1 },
      { Function: 'httpAuthorizer', Reason: 'STORE_UNAVAILABLE', errors: 1 },
    ]);
  },
  'deny-reasons': (rows) => {
    expectDescending(rows, 'denials');
    expect(rows).toHaveLength(7);
    expect(rows).toEqual(
      expect.arrayContaining([
        { Function: 'authorizer', Reason: 'TOKEN_REVOKED', denials: 1 },
        { Function: 'httpAuthorizer', Reason: 'TOKEN_REVOKED', denials: 1 },
        { Function: 'authorizer', Reason: 'TOKEN_EXPIRED', denials: 1 },
        { Function: 'authorizer', Reason: 'TOKEN_INVALID', denials: 1 },
        { Function: 'authorizer', Reason: 'TOKEN_MALFORMED', denials: 1 },
        { Function: 'authorizer', Reason: 'TOKEN_MISSING', denials: 1 },
        { Function: 'httpAuthorizer', Reason: 'TOKEN_INVALID', denials: 1 },
      ]),
    );
  },
  'store-unavailable': (rows) => {
    for (const row of rows) expect(row['bin(1m)']).toMatch(BIN);
    // The keyring's 503 is not counted: that one is not Redis's doing.
    expect(sumBy(rows, 'Function', 'failures')).toEqual({ sign: 2, authorizer: 2, httpAuthorizer: 1 });
  },
  'keyring-unavailable': (rows) => {
    const times = rows.map((row) => row['@timestamp'] as string);
    expect(times).toEqual([...times].sort().reverse());
    // The two may share a millisecond, and then either comes first.
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(
      expect.arrayContaining([
        {
          '@timestamp': expect.any(String),
          Function: 'authorizer',
          message: 'authorize',
          Reason: 'KEYRING_UNAVAILABLE',
          reason: 'KEYRING_UNAVAILABLE',
          detail: expect.stringMatching(/^KeyringUnavailableError\(KEYRING_UNAVAILABLE\): cannot read the keyring parameter \S+: AccessDeniedException/),
          requestId: expect.any(String),
        },
        {
          '@timestamp': expect.any(String),
          Function: 'sign',
          message: 'sign',
          Reason: '503',
          reason: expect.stringMatching(/^KeyringUnavailableError\(KEYRING_UNAVAILABLE\): cannot read the keyring parameter \S+: AccessDeniedException/),
          requestId: expect.any(String),
        },
      ]),
    );
  },
  latency: (rows) => {
    expectDescending(rows, 'p99');
    expect(rows.map((row) => row.Function).sort()).toEqual(['authorizer', 'httpAuthorizer', 'logout', 'sign']);
    for (const row of rows) {
      expect(row).toEqual({
        Function: expect.any(String),
        requests: expect.any(Number),
        p50: expect.any(Number),
        p99: expect.any(Number),
        slowest: expect.any(Number),
        redisP50: expect.any(Number),
        redisP99: expect.any(Number),
        redisCalls: expect.any(Number),
      });
      expect(row.p50 as number).toBeLessThanOrEqual(row.p99 as number);
      expect(row.p99 as number).toBeLessThanOrEqual(row.slowest as number);
      expect(row.redisP50 as number).toBeLessThanOrEqual(row.redisP99 as number);
    }
    // Every decision that reached Redis made its one call: the allows and the revoked token's refusals.
    expect(rows.find((row) => row.Function === 'authorizer')?.redisP99).toBeGreaterThan(0);
  },
  'redis-connects': (rows) => {
    for (const row of rows) expect(row['bin(1m)']).toMatch(BIN);
    const byMessage = sumBy(rows, 'message', 'lines');
    // The main container's, the keyring container's.
    expect(byMessage['redis connected']).toBeGreaterThanOrEqual(2);
    expect(byMessage['redis maxmemory-policy is allkeys-lru, not noeviction: refusing to serve']).toBe(1);
    expect(rows).toContainEqual({
      'bin(1m)': expect.any(String),
      message: 'redis connect failed',
      reason: expect.stringMatching(/ECONNREFUSED/),
      lines: expect.any(Number),
    });
    // A connect has no failure reason: a row without one, not a row lost.
    expect(rows).toContainEqual({ 'bin(1m)': expect.any(String), message: 'redis connected', lines: expect.any(Number) });
  },
  'session-trail': (_, { events, loggedOut, other, bob }, text) => {
    const session = trail(text, 'SID', loggedOut.sid, events);
    expect(session.map((row) => [row.message, row.outcome])).toEqual([
      ['sign', 'issued'],
      ['authorize', 'allow'],
      ['authorize', 'allow'],
      ['authorize', 'allow'],
      ['authorize', 'allow'],
      ['logout', 'revoked'],
      ['authorize', 'deny'],
      ['authorize', 'deny'],
    ]);
    expect(session.every((row) => row.sid === loggedOut.sid && row.jti === loggedOut.jti && row.sub === 'alice')).toBe(true);
    expect(session.at(-1)).toMatchObject({ Function: 'httpAuthorizer', reason: 'TOKEN_REVOKED', requestId: expect.any(String) });
    const times = session.map((row) => row['@timestamp'] as string);
    expect(times).toEqual([...times].sort());

    const subject = trail(text, 'SUB', 'alice', events);
    expect(new Set(subject.map((row) => row.sid))).toEqual(new Set([loggedOut.sid, other.sid]));
    expect(subject.filter((row) => row.sid === other.sid).map((row) => row.message)).toEqual(['sign', 'authorize']);
    expect(JSON.stringify(subject)).not.toContain(bob.sid);
  },
};

describe('Logs Insights queries (docs/queries/) over the lines real handlers write', () => {
  const container = useContainers('suite');
  const servers: RedisServer[] = [];
  let story: Story | undefined;

  const started = async (args: string[] = []) => {
    const server = await startRedisServer(args);
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    const lines = captureLogs();
    try {
      story = await tellStory(container, started);
      story.events.push(...logEvents(lines, '2026/01/31/[$LATEST]0123456789abcdef'));
    } finally {
      jest.restoreAllMocks();
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  const told = (): Story => {
    if (story === undefined) throw new Error('the story is told in beforeAll');
    return story;
  };

  it('has a query for every expectation and an expectation for every query', () => {
    expect(QUERIES.map(({ name }) => name).sort()).toEqual(Object.keys(EXPECTATIONS).sort());
  });

  it.each(QUERIES)('$name reads only fields that some line has', ({ text }) => {
    const { events } = told();
    const missing = fieldsRead(parseQuery(text)).filter((field) => !events.some((event) => field in event));
    expect(missing).toEqual([]);
  });

  it.each(QUERIES)('$name finds what it is for', ({ name, text }) => {
    const expectation = EXPECTATIONS[name];
    if (expectation === undefined) throw new Error(`no expectation for docs/queries/${name}.logsinsights: add what it must find`);
    const rows = runQuery(parseQuery(text), told().events);
    // Session-trail's placeholders match nothing until filled in; every other query finds something.
    if (name !== 'session-trail') expect(rows.length).toBeGreaterThan(0);
    expectation(rows, told(), text);
  });
});

/**
 * Writes the lines: sessions signed and used, refusals of every kind, a logout, then failures of each dependency,
 * each on a container of its own as in Lambda. Returns what the queries must find (events are added by the caller).
 */
async function tellStory(container: ReturnType<typeof useContainers>, started: (args?: string[]) => Promise<RedisServer>): Promise<Story> {
  let requests = 0;
  const context = () => ({ awsRequestId: `req-${(requests += 1)}` });
  const env = (redis: RedisServer) => ({ REDIS_URL: redis.url, REDIS_TIMEOUT_MS: TIMEOUT_MS, LOG_LEVEL: 'info' });
  const signEvent = (sub: string) => proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub }) });
  const sign = async (on: Container, sub: string): Promise<Issued> => {
    const response = await on.sign(signEvent(sub), context());
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as Issued;
  };
  const authorize = (on: Container, header: string | undefined) => on.authorizer(tokenAuthorizerEvent(header), context());
  const authorizeHttp = (on: Container, token: string) => on.httpAuthorizer(httpAuthorizerEvent({ authorization: `Bearer ${token}` }), context());
  const refused = async (decision: Promise<unknown>, message: RegExp) => expect(decision).rejects.toThrow(message);
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'revocable-jwt', aud: 'revocable-jwt-api', sub: 'alice', jti: newId('alice') };

  // Redis up: two sessions of alice's and one of bob's, used; one of alice's logged out, then refused.
  const redis = await started();
  const main = container({ ...env(redis), JWT_SECRET: SECRET });
  await eventually(() => main.services.redis.primaryCount());
  const loggedOut = await sign(main, 'alice');
  const other = await sign(main, 'alice');
  const bob = await sign(main, 'bob');
  await authorize(main, `Bearer ${loggedOut.token}`);
  await authorize(main, `Bearer ${loggedOut.token}`);
  expect(await authorizeHttp(main, loggedOut.token)).toMatchObject({ isAuthorized: true });
  await authorize(main, `Bearer ${other.token}`);
  await authorize(main, `Bearer ${bob.token}`);
  const { context: caller } = await authorize(main, `Bearer ${loggedOut.token}`);
  const loggedOutResponse = await main.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: caller as Record<string, unknown> }), context());
  expect(loggedOutResponse.statusCode).toBe(204);
  await refused(authorize(main, `Bearer ${loggedOut.token}`), /^Unauthorized$/);
  expect(await authorizeHttp(main, loggedOut.token)).toEqual({ isAuthorized: false });
  const expired = forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid: 'default' }, payload: { ...claims, iat: now - 120, exp: now - 60 }, secret: SECRET });
  await refused(authorize(main, `Bearer ${expired}`), /^Unauthorized$/);
  const forged = forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid: 'default' }, payload: { ...claims, iat: now, exp: now + 600 }, secret: 'f'.repeat(40) });
  await refused(authorize(main, `Bearer ${forged}`), /^Unauthorized$/);
  expect(await authorizeHttp(main, forged)).toEqual({ isAuthorized: false });
  await refused(authorize(main, 'Bearer not.a.jwt'), /^Unauthorized$/);
  await refused(authorize(main, undefined), /^Unauthorized$/);

  // The keyring unreadable: SSM refuses the parameter (keyring-ssm.test.ts runs the real SDK against a stand-in;
  // the lines read the same, and this keeps the container in this process).
  const denied = async () => {
    throw Object.assign(new Error(`User is not authorized to perform: ssm:GetParameter on resource: ${PARAMETER}`), { name: 'AccessDeniedException' });
  };
  const keyless = container({ ...env(redis), JWT_KEYS_SSM_PARAMETER: PARAMETER }, { loadKeys: () => fetchKeyring(PARAMETER, 1000, denied) });
  expect((await keyless.sign(signEvent('carol'), context())).statusCode).toBe(503);
  await refused(authorize(keyless, `Bearer ${other.token}`), /cannot read the keyring parameter/);

  // A Redis that may evict keys: refused at connect, so it fails as an absent one does.
  const evicting = await started(['--maxmemory-policy', 'allkeys-lru']);
  const refusing = container({ ...env(evicting), JWT_SECRET: SECRET });
  expect((await refusing.sign(signEvent('dave'), context())).statusCode).toBe(503);
  await refused(authorize(refusing, `Bearer ${other.token}`), /EvictionPolicyError/);

  // Redis gone: the main container fails closed.
  await redis.kill();
  expect((await main.sign(signEvent('alice'), context())).statusCode).toBe(503);
  await refused(authorize(main, `Bearer ${other.token}`), /^Redis \S+ failed/);
  await expect(authorizeHttp(main, other.token)).rejects.toThrow(/^Redis \S+ failed/);

  return { events: [], loggedOut, other, bob };
}
