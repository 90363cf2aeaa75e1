// REDIS_WAIT_REPLICAS: an acknowledged logout survives a failover to the replica.
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { INDEX_PREFIX, labelKey, recordKey, subjectTag } from '../../shared/sessions/keys';
import { TokenService } from '../../shared/auth/tokens';
import { StoreUnavailableError, TokenRevokedError } from '../../shared/errors';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

const config = {
  keys: [{ kid: 'k', secret: 'replication-test-secret-0123456789abcd' }],
  issuer: 'i',
  audience: 'a',
  defaultTtlSeconds: 600,
  maxTtlSeconds: 600,
};

async function waitForSync(replica: RedisServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const info = await (await replica.admin()).info('replication');
    if (/master_link_status:up/.test(info)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('replica did not sync within 10 s');
}

describe('REDIS_WAIT_REPLICAS (primary with a replica)', () => {
  let primary: RedisServer;
  let replica: RedisServer;
  let redis: RedisConnection;

  beforeEach(async () => {
    setLogLevel('silent');
    primary = await startRedisServer();
    replica = await startRedisServer(['--replicaof', '127.0.0.1', String(primary.port)]);
    await waitForSync(replica);
    redis = new RedisConnection({ url: primary.url, timeoutMs: 1000 });
  });

  afterEach(async () => {
    await redis.close();
    await replica.stop();
    await primary.stop();
  });

  it('acknowledges a logout only once the replica holds it, so promoting the replica keeps it revoked', async () => {
    const sessions = new SessionStore(redis, 1);
    const tokens = new TokenService(redis, sessions, config);
    const issued = await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 });
    replica.pause();
    let acknowledged = false;
    const logout = sessions.end(issued.sid).then((ended) => {
      acknowledged = true;
      return ended;
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    // The primary has deleted the session and its label, but no replica holds that yet: no acknowledgement.
    expect(acknowledged).toBe(false);
    replica.resume();
    await expect(logout).resolves.toBe(true);

    // Fail over at once: the primary dies, the replica is promoted.
    await primary.kill();
    await (await replica.admin()).sendCommand(['REPLICAOF', 'NO', 'ONE']);
    expect(await (await replica.admin()).exists([labelKey(issued.jti), recordKey(issued.sid)])).toBe(0);
  });

  it('acknowledges logout-all only once the replica holds it, so promoting the replica keeps every earlier token refused', async () => {
    const sessions = new SessionStore(redis, 1);
    const tokens = new TokenService(redis, sessions, config);
    const issued = [await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 }), await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 })];
    // Without their index, only the subject's revocation counter can end them: it must reach the replica.
    await (await primary.admin()).del(`${INDEX_PREFIX}{${subjectTag('alice')}}`);
    replica.pause();
    let acknowledged = false;
    const logoutAll = sessions.endAll('alice').then(() => (acknowledged = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(acknowledged).toBe(false);
    replica.resume();
    await logoutAll;

    await primary.kill();
    await (await replica.admin()).sendCommand(['REPLICAOF', 'NO', 'ONE']);
    const promoted = new RedisConnection({ url: replica.url, timeoutMs: 1000 });
    try {
      const afterFailover = new TokenService(promoted, new SessionStore(promoted), config);
      for (const { token } of issued) await expect(afterFailover.verify(token)).rejects.toThrow(TokenRevokedError);
    } finally {
      await promoted.close();
    }
  });

  it('refuses to acknowledge (503) when the replica cannot confirm in time, and the retry succeeds once it can', async () => {
    const sessions = new SessionStore(redis, 1);
    const tokens = new TokenService(redis, sessions, config);
    const issued = await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 });
    replica.pause();
    try {
      const started = Date.now();
      await expect(sessions.end(issued.sid)).rejects.toThrow(StoreUnavailableError);
      await expect(sessions.endAll('alice')).rejects.toThrow(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(2 * 1000 + 1500);
    } finally {
      replica.resume();
    }
    await waitForSync(replica);
    await expect(sessions.endAll('alice')).resolves.toBe(0);
    expect(await (await replica.admin()).exists(labelKey(issued.jti))).toBe(0);
  });

  it('does not wait at all with REDIS_WAIT_REPLICAS=0', async () => {
    const sessions = new SessionStore(redis, 0);
    const tokens = new TokenService(redis, sessions, config);
    const issued = await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 });
    replica.pause();
    try {
      await expect(sessions.end(issued.sid)).resolves.toBe(true);
    } finally {
      replica.resume();
    }
  });
});
