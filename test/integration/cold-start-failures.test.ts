// A container cold-starts against a Redis it cannot use: down, a host that does not resolve, a wrong
// password, TLS expected but not offered. Each must fail fast (within REDIS_TIMEOUT_MS plus slack), closed
// (503 from sign, an error that is not "Unauthorized" from the authorizer, never an allow), and say clearly
// in the log what went wrong, without the password.
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { newId } from '../../shared/sessions/keys';
import { useContainers, useLogLines } from '../../testkit/fixtures';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { forgeJws } from '../../testkit/jws';
import { freePort, startRedisServer, type RedisServer } from '../../testkit/redis-server';

const TIMEOUT_MS = 500;
const SLACK_MS = 700;
const SECRET = 'cold-start-failures-secret-0123456789abcdef';
// Distinctive, so that a log line echoing one would be caught.
const PASSWORD = `right-pw-${randomBytes(8).toString('hex')}`;
const WRONG_PASSWORD = `wrong-pw-${randomBytes(8).toString('hex')}`;

/** A token with our signature and claims, so the authorizer must ask Redis for its label. */
function signedButUnknownToken(): string {
  const now = Math.floor(Date.now() / 1000);
  return forgeJws({
    header: { alg: 'HS256', typ: 'JWT', kid: 'default' },
    payload: { sub: 'cold-user', jti: newId('cold-user'), iat: now, exp: now + 600, iss: 'revocable-jwt', aud: 'revocable-jwt-api' },
    secret: SECRET,
  });
}

describe('Cold start against a Redis that cannot be used', () => {
  let plain: RedisServer;
  let guarded: RedisServer;
  const container = useContainers();
  const logLines = useLogLines();
  const tried: string[] = [];

  beforeAll(async () => {
    plain = await startRedisServer();
    guarded = await startRedisServer();
    // Set after start-up, so the helper's own PING and admin connection need no password.
    await (await guarded.admin()).configSet('requirepass', PASSWORD);
  });

  afterAll(async () => {
    await plain?.stop();
    await guarded?.stop();
    console.log(`cold-start failures: ${tried.length} tried (${tried.join('; ')})`);
  });

  /** `timeoutMs` longer than TIMEOUT_MS where a test needs Redis to answer: a busy machine must not fail it. */
  const start = (url: string, timeoutMs = TIMEOUT_MS) => {
    return container({ REDIS_URL: url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: String(timeoutMs), LOG_LEVEL: 'info' });
  };
  const signEvent = () => proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'cold-user' }) });

  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['Redis down (nothing listens on the port)', async () => `redis://127.0.0.1:${await freePort()}`, /ECONNREFUSED/],
    ['a host name that does not resolve', async () => 'redis://no-such-host.invalid:6379', /ENOTFOUND|EAI_AGAIN/],
    ['a wrong password', async () => `redis://:${WRONG_PASSWORD}@127.0.0.1:${guarded.port}`, /WRONGPASS/],
    ['a wrong ACL user and password', async () => `redis://intruder:${WRONG_PASSWORD}@127.0.0.1:${guarded.port}`, /WRONGPASS/],
    ['no password where one is required', async () => `redis://127.0.0.1:${guarded.port}`, /NOAUTH/],
    // The server waits for the end of a command line that the TLS ClientHello never sends: the handshake
    // times out, and the log says the connect took too long (it cannot know that TLS was the reason).
    [
      'TLS expected (rediss://) but the server speaks plain Redis',
      async () => `rediss://127.0.0.1:${plain.port}`,
      /connect took longer than|Connection timeout/,
    ],
  ];

  it.each(cases)('%s: fails fast and closed, and the log says why without the password', async (name, url, reason) => {
    tried.push(name);
    const started = performance.now();
    const container = start(await url());

    const first = await container.sign(signEvent());
    expect(first.statusCode).toBe(503);
    expect(JSON.parse(first.body)).toEqual({ error: 'STORE_UNAVAILABLE', message: 'token store unavailable, try again' });
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);

    // Not a cached failure, not a cached success: every request tries again, each within the bound.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const again = performance.now();
      expect((await container.sign(signEvent())).statusCode).toBe(503);
      const refusal = container.authorizer(tokenAuthorizerEvent(`Bearer ${signedButUnknownToken()}`));
      await expect(refusal).rejects.toThrow(/^Redis \S+ failed/);
      expect(performance.now() - again).toBeLessThan(2 * TIMEOUT_MS + SLACK_MS);
    }

    const entries = logLines().map((line) => JSON.parse(line) as Record<string, unknown>);
    // One error line per failed request, each naming the cause.
    const failures = entries.filter((entry) => entry.level === 'error');
    expect(failures.map((entry) => entry.message).sort()).toEqual(['authorize', 'authorize', 'sign', 'sign', 'sign']);
    for (const entry of failures) expect(JSON.stringify(entry)).toMatch(reason);
    // Never a secret.
    const all = logLines().join('\n');
    expect(all).not.toContain(WRONG_PASSWORD);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(SECRET);
  });

  it('the same containers work once given what they need (the setup can succeed)', async () => {
    for (const url of [`redis://:${PASSWORD}@127.0.0.1:${guarded.port}`, `redis://default:${PASSWORD}@127.0.0.1:${guarded.port}`, plain.url]) {
      const container = start(url, 5000);
      const signed = await container.sign(signEvent());
      expect(signed.statusCode).toBe(201);
      const { token } = JSON.parse(signed.body) as { token: string };
      await expect(container.authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ principalId: 'cold-user' });
    }
    expect(logLines().join('\n')).not.toContain(PASSWORD);
  });

  it('Redis down at the cold start: the same container connects by itself once Redis is up', async () => {
    const server = await startRedisServer();
    await server.kill();
    try {
      const container = start(server.url, 5000);
      expect((await container.sign(signEvent())).statusCode).toBe(503);
      await server.restart();
      const signed = await container.sign(signEvent());
      expect(signed.statusCode).toBe(201);
      const { token } = JSON.parse(signed.body) as { token: string };
      await expect(container.authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ principalId: 'cold-user' });
    } finally {
      await server.stop();
    }
  });

  it('a REDIS_URL that is not a URL fails the cold start naming the variable, without echoing the value', () => {
    for (const url of [`redis://:${WRONG_PASSWORD}@[bad-host`, `http://user:${WRONG_PASSWORD}@127.0.0.1:6379`]) {
      let thrown: unknown;
      try {
        start(url);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^REDIS_URL /) });
      expect(String((thrown as Error).message)).not.toContain(WRONG_PASSWORD);
    }
  });
});
