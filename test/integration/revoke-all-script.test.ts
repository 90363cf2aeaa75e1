// `npm run revoke-all`, run as an operator would, against a real redis-server.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from '@jest/globals';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { labelKey, newId } from '../../shared/sessions/keys';
import { TokenService } from '../../shared/auth/tokens';
import { RefreshTokenInvalidError } from '../../shared/errors';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

async function runScript(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(TSX, ['scripts/revoke-all.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('Script: npm run revoke-all', () => {
  let server: RedisServer;
  let redis: RedisConnection;
  let tokens: TokenService;

  beforeAll(async () => {
    setLogLevel('silent');
    server = await startRedisServer();
    redis = new RedisConnection({ url: server.url, timeoutMs: 1000 });
    const keys = [{ kid: 'k', secret: 'revoke-all-script-secret-0123456789abc' }];
    tokens = new TokenService(redis, new SessionStore(redis), { keys, issuer: 'i', audience: 'a', defaultTtlSeconds: 60, maxTtlSeconds: 60 });
  });

  afterAll(async () => {
    await redis.close();
    await server.stop();
  });

  it('refuses without --yes and changes nothing', async () => {
    const issued = await tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 60 });
    const result = await runScript([], { REDIS_URL: server.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/without --yes/);
    await expect(tokens.verify(issued.token)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('revokes every live token, refresh tokens included, with --yes, needing no signing key', async () => {
    const issued = await Promise.all(['alice', 'bob', 'bob'].map((sub, i) => tokens.issue({ sub, claims: {}, ttlSeconds: 60, refresh: i === 2 })));
    const result = await runScript(['--yes'], { REDIS_URL: server.url });
    // Four: the token of the previous test is still alive too.
    expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^revoked 4 tokens in \d+ ms$/m) });
    for (const { token } of issued) await expect(tokens.verify(token)).rejects.toThrow(/revoked/);
    await expect(tokens.refresh(issued[2]?.refresh?.token as string)).rejects.toThrow(RefreshTokenInvalidError);
    // Only the subjects' revocation counters stay, expiring with the labels they outlive.
    expect((await (await server.admin()).keys('*')).every((key) => key.startsWith('jwt_revoked:'))).toBe(true);
  });

  it('revokes every token when there are many more than one SCAN page holds', async () => {
    // Labels only, as many sessions leave behind: 5000 spread over 50 subjects, written in one MSET.
    const bulk = Array.from({ length: 5000 }, (_, i) => labelKey(newId(`bulk-${i % 50}`)));
    const admin = await server.admin();
    await admin.mSet(bulk.map((key) => [key, '1'] as [string, string]));
    const issued = await Promise.all(['carol', 'dave'].map((sub) => tokens.issue({ sub, claims: {}, ttlSeconds: 60 })));

    const result = await runScript(['--yes'], { REDIS_URL: server.url });

    expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^revoked 5002 tokens in \d+ ms$/m) });
    for (const { token } of issued) await expect(tokens.verify(token)).rejects.toThrow(/revoked/);
    expect(await admin.keys('jwt_label:*')).toEqual([]);
  });

  it('fails clearly when REDIS_URL is missing', async () => {
    const result = await runScript(['--yes'], {});
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/REDIS_URL is required/);
  });
});
