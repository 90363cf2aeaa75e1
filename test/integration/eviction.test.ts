// A Redis that may evict keys when full could drop a subject's revocation counter and undo logout-all: such a
// server is refused at connect, fail closed, with one log line (in a cluster, such a primary is refused for
// the subjects it holds); the opt-out serves with a warning. And with noeviction, a full Redis refuses sign
// (503) while every revocation still works: never a success that leaves the token alive.
import { expect } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { newId, subjectTag } from '../../shared/sessions/keys';
import type { Container } from '../../testkit/cold-start';
import { useContainers, useLogLines } from '../../testkit/fixtures';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { forgeJws } from '../../testkit/jws';
import { startRedisCluster, type RedisCluster } from '../../testkit/redis-cluster';
import { startRedisServer, type AdminClient, type RedisServer } from '../../testkit/redis-server';

jest.setTimeout(60_000);

const SECRET = 'eviction-test-secret-0123456789abcdefghij';
/** Generous: these tests are about what is refused, not how fast; a busy machine must not fail them. */
const TIMEOUT_MS = '3000';

type Entry = Record<string, unknown>;
type Issued = { token: string; jti: string; sid: string; refreshToken?: string };

describe('Redis maxmemory-policy and a full Redis', () => {
  const container = useContainers();
  const logLines = useLogLines();
  const servers: RedisServer[] = [];

  const start = (url: string, extra: Record<string, string> = {}) =>
    container({ REDIS_URL: url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: TIMEOUT_MS, LOG_LEVEL: 'info', ...extra });
  const server = async (args: string[]) => {
    const started = await startRedisServer(args);
    servers.push(started);
    return started;
  };
  const entries = (): Entry[] => logLines().map((line) => JSON.parse(line) as Entry);
  const policyLines = () => entries().filter((entry) => typeof entry.message === 'string' && entry.message.startsWith('redis maxmemory-policy'));
  const signEvent = (sub: string, refresh = false) =>
    proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(refresh ? { sub, refresh } : { sub }) });
  const sign = async (container: Container, sub: string, refresh = false) => {
    const response = await container.sign(signEvent(sub, refresh));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as Issued;
  };
  const authorize = (container: Container, token: string) => container.authorizer(tokenAuthorizerEvent(`Bearer ${token}`));

  afterAll(async () => {
    await Promise.all(servers.map((started) => started.stop()));
  });

  describe('an evicting policy is refused at connect, fail closed', () => {
    it.each(['volatile-lru', 'allkeys-lru'])(
      '%s: sign 503 and the authorizer errors on every request, one log line saying why and how to fix it',
      async (policy) => {
        const redis = await server(['--maxmemory-policy', policy]);
        const container = start(redis.url);

        for (let round = 0; round < 3; round += 1) {
          const signed = await container.sign(signEvent('evicted-user'));
          expect(signed.statusCode).toBe(503);
          expect(JSON.parse(signed.body)).toMatchObject({ error: 'STORE_UNAVAILABLE' });
          // A token with our signature: only Redis could refuse it, and Redis is refused. Not "Unauthorized"
          // (a 401): an error, so API Gateway answers 500, never an Allow.
          await expect(authorize(container, signedToken('evicted-user'))).rejects.toThrow(
            new RegExp(`^Redis \\S+ failed: EvictionPolicyError\\(REDIS_EVICTION_POLICY\\): maxmemory-policy ${policy}`),
          );
        }
        expect(await (await redis.admin()).keys('*')).toEqual([]);

        // One line for the container (its init-time connect and six refused requests), naming the policy,
        // the risk and the fix. Each request's own line still says why it failed.
        expect(policyLines()).toEqual([
          expect.objectContaining({
            level: 'error',
            message: `redis maxmemory-policy is ${policy}, not noeviction: refusing to serve`,
            code: 'REDIS_EVICTION_POLICY',
            policy,
            node: `127.0.0.1:${redis.port}`,
            risk: expect.stringMatching(/evict .*logout-all/),
            fix: expect.stringMatching(/noeviction in the ElastiCache\/MemoryDB parameter group/),
          }),
        ]);
        expect(entries().filter((entry) => entry.message === 'redis connect failed')).toEqual([]);
        expect(entries().filter((entry) => entry.message === 'sign' && entry.status === 503)).toHaveLength(3);

        // Not a cached refusal: once the operator sets noeviction, the next request connects and is served.
        await (await redis.admin()).configSet('maxmemory-policy', 'noeviction');
        const { token } = await sign(container, 'evicted-user');
        await expect(authorize(container, token)).resolves.toMatchObject({ principalId: 'evicted-user' });
        expect(policyLines()).toHaveLength(1);
      },
    );

    it('noeviction serves, and the policy is read once per connect, not per request', async () => {
      const redis = await server(['--maxmemory-policy', 'noeviction']);
      const admin = await redis.admin();
      await admin.configResetStat();
      const container = start(redis.url);

      const { token } = await sign(container, 'safe-user');
      // The connect's INFO, once.
      expect(calls(await admin.info('commandstats'), 'info')).toBe(1);
      await admin.configResetStat();
      for (let i = 0; i < 5; i += 1) await expect(authorize(container, token)).resolves.toMatchObject({ principalId: 'safe-user' });

      // Each decision is its one MGET (the label and its subject's revocation counter), and nothing else ran.
      expect(commandCalls(await admin.info('commandstats'))).toEqual({ 'config|resetstat': 1, mget: 5 });
      expect(policyLines()).toEqual([]);
    });

    it('REDIS_ALLOW_EVICTION=true serves an evicting Redis, with one warning line', async () => {
      const redis = await server(['--maxmemory-policy', 'volatile-lru']);
      const container = start(redis.url, { REDIS_ALLOW_EVICTION: 'true' });

      const { token } = await sign(container, 'risky-user');
      await expect(authorize(container, token)).resolves.toMatchObject({ principalId: 'risky-user' });
      await sign(container, 'risky-user');

      expect(policyLines()).toEqual([
        expect.objectContaining({
          level: 'warn',
          message: 'redis maxmemory-policy is volatile-lru, not noeviction: serving anyway because REDIS_ALLOW_EVICTION=true',
          policy: 'volatile-lru',
          risk: expect.stringMatching(/logout-all/),
          fix: expect.stringMatching(/noeviction/),
        }),
      ]);
    });
  });

  describe('REDIS_CLUSTER=true', () => {
    let cluster: RedisCluster;

    beforeAll(async () => {
      cluster = await startRedisCluster();
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    /** A subject whose keys live on a primary that `accept`s, and that primary. */
    const subjectOn = async (accept: (primary: RedisServer) => boolean): Promise<[string, RedisServer]> => {
      for (let i = 0; i < 100; i += 1) {
        const sub = `cluster-user-${i}`;
        const primary = await cluster.primaryFor(`jwt_sessions:{${subjectTag(sub)}}`);
        if (accept(primary)) return [sub, primary];
      }
      throw new Error('no subject on such a primary');
    };

    it('a primary with an evicting policy is refused for the subjects it holds; the others are served', async () => {
      // Not the node the client discovers the cluster from: only a check of each node it uses finds it.
      const [refused, evicting] = await subjectOn((primary) => primary !== cluster.nodes[0]);
      const [served, safe] = await subjectOn((primary) => primary !== evicting);
      const admin = await evicting.admin();
      await admin.configSet('maxmemory-policy', 'volatile-lru');
      await (await safe.admin()).configResetStat();
      try {
        const container = start(cluster.url, { REDIS_CLUSTER: 'true' });
        for (let round = 0; round < 3; round += 1) {
          const signed = await container.sign(signEvent(refused));
          expect(signed.statusCode).toBe(503);
          await expect(authorize(container, signedToken(refused))).rejects.toThrow(/EvictionPolicyError/);
          // The same container, at the same time: a subject on a primary that cannot evict is served.
          const { token } = await sign(container, served);
          await expect(authorize(container, token)).resolves.toMatchObject({ principalId: served });
        }
        expect(await admin.keys('jwt_*')).toEqual([]);
        // Each node is checked once per connection, not once per request.
        const stats = await (await safe.admin()).info('commandstats');
        expect({ info: calls(stats, 'info'), mget: calls(stats, 'mget') }).toEqual({ info: 1, mget: 3 });
        expect(policyLines()).toEqual([
          expect.objectContaining({ level: 'error', policy: 'volatile-lru', node: `127.0.0.1:${evicting.port}`, code: 'REDIS_EVICTION_POLICY' }),
        ]);

        // Read again on the next request, which the operator's fix lets through.
        await admin.configSet('maxmemory-policy', 'noeviction');
        const { token } = await sign(container, refused);
        await expect(authorize(container, token)).resolves.toMatchObject({ principalId: refused });
      } finally {
        await admin.configSet('maxmemory-policy', 'noeviction');
      }
    });
  });

  describe('noeviction and a full Redis', () => {
    it('sign and refresh answer 503 (not 500); every revocation still works, and a success leaves no token alive', async () => {
      const redis = await server(['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']);
      const admin = await redis.admin();
      const container = start(redis.url);
      const [alice, bob] = ['oom-alice', 'oom-bob'];
      const refreshEvent = (refreshToken: string) => proxyEvent({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken }) });
      const a = await Promise.all([true, false, false, false].map((refresh) => sign(container, alice, refresh)));
      // A second access token of a[0]'s session: logging out of that session must end it too.
      const refreshed = JSON.parse((await container.refresh(refreshEvent(a[0]!.refreshToken as string))).body) as Issued;
      const b = await Promise.all([1, 2, 3].map(() => sign(container, bob)));
      const carol = await sign(container, 'oom-carol', true);
      const context = async (token: string) => (await authorize(container, token)).context as Record<string, unknown>;
      // Taken before Redis is full: the authorizer context each route receives.
      const [a1, a3] = [await context(a[0]!.token), await context(a[2]!.token)];

      await fill(admin);
      await expect(admin.set('probe', 'x')).rejects.toThrow(/^OOM /);

      const signed = await container.sign(signEvent(alice));
      expect(signed.statusCode).toBe(503);
      expect(JSON.parse(signed.body)).toMatchObject({ error: 'STORE_UNAVAILABLE' });
      expect(entries()).toContainEqual(expect.objectContaining({ message: 'sign', status: 503, reason: expect.stringMatching(/OOM command not allowed/) }));
      // A refresh writes a label first: refused before it changed anything, its refresh token still good after.
      const refused = await container.refresh(refreshEvent(carol.refreshToken as string));
      expect(refused.statusCode).toBe(503);
      expect(JSON.parse(refused.body)).toMatchObject({ error: 'STORE_UNAVAILABLE' });

      const asCaller = (caller: Record<string, unknown>, method: string, path: string, pathParameters?: Record<string, string>) =>
        proxyEvent({ method, path, authorizer: caller, ...(pathParameters === undefined ? {} : { pathParameters }) });
      const revoke = (body: Record<string, string>) => container.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify(body) }));
      const revocations: Array<[string, () => Promise<APIGatewayProxyResult>, Issued[]]> = [
        ['end session', () => container.endSession(asCaller(a1, 'DELETE', `/auth/sessions/${a[1]!.sid}`, { sid: a[1]!.sid })), [a[1]!]],
        ['logout', () => container.logout(asCaller(a1, 'POST', '/auth/logout')), [a[0]!, refreshed]],
        ['logout-all', () => container.logoutAll(asCaller(a3, 'POST', '/auth/logout-all')), [a[2]!, a[3]!]],
        ['revoke by jti', () => revoke({ jti: b[0]!.jti }), [b[0]!]],
        ['revoke by sid', () => revoke({ sid: b[1]!.sid }), [b[1]!]],
        ['revoke by sub', () => revoke({ sub: bob }), [b[2]!]],
      ];

      // Reads still work when Redis is full: live tokens are allowed.
      const everyToken = [...a, refreshed, ...b, carol];
      expect(await aliveOf(container, everyToken)).toHaveLength(everyToken.length);

      const outcomes: Record<string, string> = {};
      for (const [name, run, tokens] of revocations) {
        const response = await run();
        // Still full: the revocation ran under OOM, not after something freed memory.
        await expect(admin.set('probe', 'x')).rejects.toThrow(/^OOM /);
        if (response.statusCode === 503) {
          outcomes[name] = 'unavailable';
          continue;
        }
        // A success must mean what it says: every token it ended is refused (401) from now on.
        expect({ name, status: response.statusCode, alive: await aliveOf(container, tokens) }).toEqual({
          name,
          status: response.statusCode < 300 ? response.statusCode : 'a success or a 503',
          alive: [],
        });
        outcomes[name] = 'revoked';
      }
      // What each path does today: its scripts read and delete (ZREM, DEL) before they write, if they write at
      // all (logout-all's and revoke-by-sub's counter SET); an eval script without shebang flags is refused
      // only at a SET, ZADD or other memory-growing command before its first write, so Redis runs them under OOM. A 503 would also keep the promise (fail closed), but would lose logout
      // exactly when Redis is full: a path that starts writing first must change this line knowingly.
      expect(outcomes).toEqual(Object.fromEntries(revocations.map(([name]) => [name, 'revoked'])));

      // Room again: the refresh refused under OOM had used nothing up.
      await admin.configSet('maxmemory', '0');
      expect((await container.refresh(refreshEvent(carol.refreshToken as string))).statusCode).toBe(200);
    });
  });
});

/** The jtis of the tokens among `issued` the authorizer allows (jtis, so that no token is printed); a refusal must be a 401, never an error. */
async function aliveOf(container: Container, issued: Array<{ token: string; jti: string }>): Promise<string[]> {
  const alive: string[] = [];
  for (const { token, jti } of issued) {
    try {
      await container.authorizer(tokenAuthorizerEvent(`Bearer ${token}`));
      alive.push(jti);
    } catch (error) {
      if ((error as Error).message !== 'Unauthorized') throw error;
    }
  }
  return alive;
}

/** A token with our signature and claims, so that only its label (in Redis) can decide. */
function signedToken(sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  return forgeJws({
    header: { alg: 'HS256', typ: 'JWT', kid: 'default' },
    payload: { sub, jti: newId(sub), iat: now, exp: now + 600, iss: 'revocable-jwt', aud: 'revocable-jwt-api' },
    secret: SECRET,
  });
}

/** `calls=` of one command in `INFO commandstats`; 0 if it never ran. */
function calls(stats: string, command: string): number {
  return commandCalls(stats)[command] ?? 0;
}

/** `calls=` of every command that ran, by name, from `INFO commandstats`. */
function commandCalls(stats: string): Record<string, number> {
  return Object.fromEntries([...stats.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)].map(([, command, count]) => [command!, Number(count)] as const));
}

/**
 * Writes other keys until Redis refuses one for want of memory, then sets maxmemory 1 MB below what is used:
 * a refusal right at the limit may pass again once a pipeline's buffers are freed, or once a revocation
 * frees a few bytes, and the revocations must all run while Redis is still full.
 */
async function fill(admin: AdminClient): Promise<void> {
  const value = 'x'.repeat(1024);
  for (let batch = 0; batch < 10_000; batch += 1) {
    const written = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => admin.set(`filler:${batch}:${i}`, value)));
    const refused = written.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (refused !== undefined) {
      if (!/^OOM /.test(String((refused.reason as Error).message))) throw refused.reason;
      const used = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
      await admin.configSet('maxmemory', String(used - 1024 * 1024));
      return;
    }
  }
  throw new Error('Redis never ran out of memory');
}
