// Keys fetched at cold start (JWT_KEYS_SSM_PARAMETER): loaded once, a failure never cached, and nothing
// signed or allowed while they are missing.
import { KeyringUnavailableError } from '../../shared/errors';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { TokenService, type KeyLoader } from '../../shared/auth/tokens';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

const KEYS = [{ kid: 'ssm-1', secret: 'keyring-loading-secret-0123456789abcd' }];
const config = { keys: [], issuer: 'i', audience: 'a', defaultTtlSeconds: 60, maxTtlSeconds: 60 };

describe('Class: TokenService with keys loaded at first use', () => {
  let server: RedisServer;
  let redis: RedisConnection;

  beforeAll(async () => {
    setLogLevel('silent');
    server = await startRedisServer();
    redis = new RedisConnection({ url: server.url, timeoutMs: 1000 });
  });

  beforeEach(async () => {
    await (await server.admin()).flushAll();
  });

  afterAll(async () => {
    await redis.close();
    await server.stop();
  });

  it('loads the keys once, during warm-up, and uses them for every call', async () => {
    const load = jest.fn<ReturnType<KeyLoader>, []>(async () => KEYS);
    const tokens = new TokenService(redis, new SessionStore(redis), config, load);
    tokens.warmUp();
    const issued = await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 60 });
    await expect(tokens.verify(issued.token)).resolves.toMatchObject({ sub: 'alice' });
    expect(issued.kid).toBe('ssm-1');
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('fails closed while the keys cannot be had, and tries again on the next call', async () => {
    const unavailable = new KeyringUnavailableError('cannot read the keyring parameter /x: TimeoutError');
    const load = jest.fn<ReturnType<KeyLoader>, []>().mockRejectedValueOnce(unavailable).mockResolvedValue(KEYS);
    const tokens = new TokenService(redis, new SessionStore(redis), config, load);
    await expect(tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 60 })).rejects.toThrow(KeyringUnavailableError);
    expect(await (await server.admin()).dbSize()).toBe(0);
    const issued = await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 60 });
    await expect(tokens.verify(issued.token)).resolves.toMatchObject({ sub: 'alice' });
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('refuses to be built with neither keys nor a way to load them', () => {
    expect(() => new TokenService(redis, new SessionStore(redis), config)).toThrow(/needs signing keys/);
  });
});
