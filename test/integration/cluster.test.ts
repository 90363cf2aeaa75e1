// REDIS_CLUSTER=true against a real local cluster (three primaries, a replica each), failover included.
import { StoreUnavailableError, TokenRevokedError } from '../../shared/errors';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { labelKey, SessionStore } from '../../shared/sessions/store';
import { TokenService } from '../../shared/auth/tokens';
import { startRedisCluster, type RedisCluster } from '../../testkit/redis-cluster';

jest.setTimeout(60_000);

const tokenConfig = { keys: [{ kid: 'k', secret: 'cluster-test-secret-0123456789abcdefgh' }], issuer: 'i', audience: 'a', defaultTtlSeconds: 600, maxTtlSeconds: 600 };

describe('Redis Cluster (REDIS_CLUSTER=true)', () => {
  let cluster: RedisCluster;
  let redis: RedisConnection;
  let sessions: SessionStore;
  let tokens: TokenService;
  const issue = (sub: string) => tokens.issue({ sub, claims: {}, ttlSeconds: 600 });
  const isAlive = (token: string) => tokens.verify(token).then(() => true, () => false);

  beforeAll(async () => {
    setLogLevel('silent');
    cluster = await startRedisCluster();
    // Generous: this test is about features, not bounds, and a cold cluster connect does discovery first.
    redis = new RedisConnection({ url: cluster.url, timeoutMs: 3000, cluster: true });
    sessions = new SessionStore(redis, 1);
    tokens = new TokenService(redis, sessions, tokenConfig);
  });

  afterAll(async () => {
    await redis?.close();
    await cluster?.stop();
  });

  it('spreads subjects over the primaries and runs every feature on them', async () => {
    const subjects = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const issued = await Promise.all(subjects.flatMap((sub) => [issue(sub), issue(sub)]));
    const primaries = new Set(await Promise.all(issued.map(async ({ jti }) => (await cluster.primaryFor(labelKey(jti))).port)));
    expect(primaries.size).toBe(3);

    for (const { token } of issued) expect(await isAlive(token)).toBe(true);
    const [first, second] = issued as [(typeof issued)[0], (typeof issued)[0]];
    expect((await sessions.list('user-0', 0)).map((session) => session.jti).sort()).toEqual([first.jti, second.jti].sort());
    await expect(sessions.end(first.jti)).resolves.toBe(true);
    expect(await isAlive(first.token)).toBe(false);
    expect(await isAlive(second.token)).toBe(true);
    await expect(sessions.endAll('user-1')).resolves.toBe(2);
    await expect(sessions.endOwn('user-2', (issued[4] as (typeof issued)[0]).jti)).resolves.toBe(true);

    // The kill switch visits every primary.
    const live = issued.length - 1 - 2 - 1;
    await expect(sessions.endEverything()).resolves.toBe(live);
    for (const { token } of issued) expect(await isAlive(token)).toBe(false);
  });

  it('fails closed while a primary fails over, and recovers on its own once its replica took over', async () => {
    const issued = await issue('failover-user');
    const primary = await cluster.primaryFor(labelKey(issued.jti));
    const survivor = cluster.nodes.find((node) => node !== primary) ?? cluster.nodes[0]!;
    // The configuration endpoint must outlive the primary: point a fresh container at a survivor.
    const container = new RedisConnection({ url: survivor.url, timeoutMs: 1000, cluster: true });
    const containerTokens = new TokenService(container, new SessionStore(container), tokenConfig);
    try {
      await expect(containerTokens.verify(issued.token)).resolves.toMatchObject({ sub: 'failover-user' });
      await primary.kill();

      // During the switch: every answer is a refusal within the bound, never an allow of a revoked token.
      const outcomes: string[] = [];
      const deadline = Date.now() + 20_000;
      for (;;) {
        const started = Date.now();
        const outcome = await containerTokens.verify(issued.token).then(
          () => 'allow',
          (error: unknown) => {
            if (error instanceof StoreUnavailableError) return 'unavailable';
            return error instanceof TokenRevokedError ? 'revoked' : String(error);
          },
        );
        expect(Date.now() - started).toBeLessThan(1000 + 1500);
        outcomes.push(outcome);
        if (outcome === 'allow' || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The label was replicated before the kill, so the promoted replica still allows the live token.
      expect(outcomes).toContain('allow');
      expect(outcomes.at(-1)).toBe('allow');
      expect(outcomes.slice(0, -1).every((outcome) => outcome === 'unavailable')).toBe(true);
      expect(outcomes.length).toBeGreaterThan(1);

      // And writes work again on the new primary.
      const fresh = await containerTokens.issue({ sub: 'failover-user', claims: {}, ttlSeconds: 60 });
      await expect(containerTokens.verify(fresh.token)).resolves.toMatchObject({ jti: fresh.jti });
    } finally {
      await container.close();
    }
  });
});
