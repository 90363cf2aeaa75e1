import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { labelKey } from '../../shared/sessions';
import { proxyEvent, tokenAuthorizerEvent } from '../helpers/events';
import { startRedisServer, type RedisServer } from '../helpers/redis-server';

const CONFIG_VARIABLES = ['REDIS_URL', 'REDIS_TIMEOUT_MS', 'JWT_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE', 'TOKEN_TTL', 'MAX_TTL', 'LOG_LEVEL', 'IS_OFFLINE'];
const SECRET = 'handlers-test-secret-0123456789abcdefghij';

type Handlers = {
  sign: typeof import('../../functions/sign').handler;
  authorizer: typeof import('../../functions/authorizer').handler;
  logout: typeof import('../../functions/logout').handler;
  me: typeof import('../../functions/me').handler;
  resetServices: typeof import('../../shared/services').resetServices;
};

/** Loads the handler modules afresh, as a new Lambda container would with this environment. */
function coldStart(env: Record<string, string>): Handlers {
  let loaded: Handlers | undefined;
  const saved = { ...process.env };
  // Start from none of our variables, whatever the developer's shell exports.
  for (const name of CONFIG_VARIABLES) delete process.env[name];
  Object.assign(process.env, env);
  try {
    jest.isolateModules(() => {
      loaded = {
        sign: require('../../functions/sign').handler,
        authorizer: require('../../functions/authorizer').handler,
        logout: require('../../functions/logout').handler,
        me: require('../../functions/me').handler,
        resetServices: require('../../shared/services').resetServices,
      };
    });
  } finally {
    process.env = saved;
  }
  if (loaded === undefined) throw new Error('handlers did not load');
  return loaded;
}

const signEvent = (body: unknown) => proxyEvent({ method: 'POST', path: '/auth/token', body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('Handlers (real redis-server)', () => {
  let server: RedisServer;
  let handlers: Handlers;
  let output: string[];

  beforeAll(async () => {
    server = await startRedisServer();
    handlers = coldStart({ REDIS_URL: server.url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '300', LOG_LEVEL: 'info' });
  });

  beforeEach(async () => {
    await (await server.admin()).flushAll();
    output = [];
    jest.spyOn(console, 'log').mockImplementation((line: string) => void output.push(line));
    jest.spyOn(console, 'error').mockImplementation((line: string) => void output.push(line));
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await handlers.resetServices();
    await server.stop();
  });

  async function signToken(body: unknown = { sub: 'user-1', claims: { role: 'admin' } }) {
    const response = await handlers.sign(signEvent(body));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as { token: string; tokenType: string; expiresIn: number; jti: string };
  }

  async function labelCount(): Promise<number> {
    return (await server.admin()).dbSize();
  }

  async function authorize(header: string | undefined): Promise<APIGatewayAuthorizerResult> {
    return handlers.authorizer(tokenAuthorizerEvent(header));
  }

  describe('sign', () => {
    it('answers 201 with a Bearer token, and stores its label', async () => {
      const response = await handlers.sign(signEvent({ sub: 'user-1', ttl: 120 }));
      expect(response.statusCode).toBe(201);
      expect(response.headers).toMatchObject({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      const body = JSON.parse(response.body);
      expect(body).toEqual({ token: expect.any(String), tokenType: 'Bearer', expiresIn: 120, jti: expect.any(String) });
      expect(await (await server.admin()).ttl(labelKey(body.jti))).toBeGreaterThan(115);
    });

    it.each([
      ['no body', null, /body is required/],
      ['invalid JSON', '{"sub"', /not valid JSON/],
      ['no sub', {}, /sub must be a non-empty string/],
      ['a reserved claim', { sub: 'u', claims: { exp: 1 } }, /reserved claim/],
      ['a ttl above MAX_TTL', { sub: 'u', ttl: 86_401 }, /ttl must be an integer/],
      ['an unknown field', { sub: 'u', role: 'admin' }, /unknown field/],
    ])('answers 400 for %s and writes nothing', async (_, body, message) => {
      const response = await handlers.sign(body === null ? proxyEvent({ method: 'POST', path: '/auth/token' }) : signEvent(body));
      expect(response.statusCode).toBe(400);
      const error = JSON.parse(response.body);
      expect(error.error).toBe('BAD_REQUEST');
      expect(error.message).toMatch(message);
      expect(await labelCount()).toBe(0);
    });

    it('answers 503 and hands out no token while Redis hangs', async () => {
      server.pause();
      try {
        const response = await handlers.sign(signEvent({ sub: 'user-1' }));
        expect(response.statusCode).toBe(503);
        expect(JSON.parse(response.body)).toEqual({ error: 'STORE_UNAVAILABLE', message: 'token store unavailable, try again' });
        expect(response.headers).toMatchObject({ 'Retry-After': '1' });
      } finally {
        server.resume();
      }
    });
  });

  describe('authorizer', () => {
    it('allows a live token for the whole stage and passes the identity on', async () => {
      const { token, jti } = await signToken();
      const result = await authorize(`Bearer ${token}`);
      expect(result.principalId).toBe('user-1');
      expect(result.policyDocument.Statement).toEqual([
        { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*' },
      ]);
      expect(result.context).toMatchObject({ sub: 'user-1', jti, claims: '{"role":"admin"}' });
    });

    it('accepts the scheme in any case', async () => {
      const { token } = await signToken();
      await expect(authorize(`bearer ${token}`)).resolves.toMatchObject({ principalId: 'user-1' });
    });

    it.each([
      ['a missing header', () => undefined],
      ['an empty header', () => ''],
      ['another scheme', (token: string) => `Basic ${token}`],
      ['garbage', () => 'Bearer not.a.jwt'],
      ['a tampered token', (token: string) => `Bearer ${token.slice(0, -2)}xx`],
    ])('throws exactly "Unauthorized" for %s', async (_, header) => {
      const { token } = await signToken();
      await expect(authorize(header(token))).rejects.toThrow(/^Unauthorized$/);
    });

    it('throws "Unauthorized" for a token signed with another secret', async () => {
      const other = coldStart({ REDIS_URL: server.url, JWT_SECRET: 'z'.repeat(40), LOG_LEVEL: 'silent' });
      const { token } = JSON.parse((await other.sign(signEvent({ sub: 'user-1' }))).body) as { token: string };
      await other.resetServices();
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it('throws "Unauthorized" once the token has expired', async () => {
      const { token } = await signToken({ sub: 'user-1', ttl: 1 });
      await expect(authorize(`Bearer ${token}`)).resolves.toMatchObject({ principalId: 'user-1' });
      await new Promise((resolve) => setTimeout(resolve, 2100));
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it('fails closed with another error than "Unauthorized" (a 500 on AWS) while Redis is down', async () => {
      const { token } = await signToken();
      server.pause();
      try {
        const refusal = authorize(`Bearer ${token}`);
        await expect(refusal).rejects.toThrow(/Redis GET failed/);
        await expect(refusal).rejects.not.toThrow(/^Unauthorized$/);
      } finally {
        server.resume();
      }
      await expect(authorize(`Bearer ${token}`)).resolves.toMatchObject({ principalId: 'user-1' });
    });
  });

  describe('logout and me', () => {
    async function contextOf(token: string) {
      return (await authorize(`Bearer ${token}`)).context as Record<string, string | number>;
    }

    it('returns the authorizer context from /me', async () => {
      const { token, jti } = await signToken();
      const context = await contextOf(token);
      const response: APIGatewayProxyResult = await handlers.me(proxyEvent({ method: 'GET', path: '/me', authorizer: context }));
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ sub: 'user-1', jti, issuedAt: context.iat, expiresAt: context.exp, claims: { role: 'admin' } });
    });

    it('answers 204 and the same token is refused at once', async () => {
      const { token } = await signToken();
      const response = await handlers.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(token) }));
      expect(response.statusCode).toBe(204);
      expect(response.body).toBe('');
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it('leaves the same subject\'s other tokens alive', async () => {
      const first = await signToken();
      const second = await signToken();
      await handlers.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(first.token) }));
      await expect(authorize(`Bearer ${second.token}`)).resolves.toMatchObject({ principalId: 'user-1' });
    });

    it('answers 503 while Redis hangs; the logout can be retried and then holds', async () => {
      const { token } = await signToken();
      const event = proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(token) });
      server.pause();
      try {
        expect((await handlers.logout(event)).statusCode).toBe(503);
      } finally {
        server.resume();
      }
      // The DEL may or may not have reached Redis before the timeout: a 503 means "unknown, retry",
      // and retrying is safe because deleting a label twice is the same as once.
      expect((await handlers.logout(event)).statusCode).toBe(204);
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it.each(['logout', 'me'] as const)('%s refuses with 500 when reached without the authorizer (a deployment error)', async (name) => {
      const response = await handlers[name](proxyEvent({ method: 'POST', path: '/x' }));
      expect(response.statusCode).toBe(500);
    });
  });

  describe('logging', () => {
    it('writes JSON lines with jti, sub, outcome and latency, never the token or the secret', async () => {
      const { token, jti } = await signToken();
      await authorize(`Bearer ${token}`);
      await authorize(`Bearer ${token}x`).catch(() => undefined);
      const lines = output.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ message: 'sign', outcome: 'issued', jti, sub: 'user-1', latencyMs: expect.any(Number) }));
      expect(lines).toContainEqual(expect.objectContaining({ message: 'authorize', outcome: 'allow', jti, sub: 'user-1' }));
      expect(lines).toContainEqual(expect.objectContaining({ message: 'authorize', outcome: 'deny', reason: 'TOKEN_INVALID' }));
      const all = output.join('\n');
      expect(all).not.toContain(token.split('.')[2]);
      expect(all).not.toContain(SECRET);
    });
  });

  describe('cold start', () => {
    it('fails with a message naming the variable when the configuration is invalid', () => {
      // Each cold start loads its own copy of errors.ts, so compare by name and code, not by class.
      expect(() => coldStart({ REDIS_URL: server.url, JWT_SECRET: 'too-short' })).toThrow(
        expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/^JWT_SECRET /) }),
      );
      expect(() => coldStart({ JWT_SECRET: SECRET })).toThrow(expect.objectContaining({ message: expect.stringMatching(/^REDIS_URL is required/) }));
    });

    it('survives Redis being down at init, and connects on the first invocation once it is back', async () => {
      await server.kill();
      const cold = coldStart({ REDIS_URL: server.url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
      const response = await cold.sign(signEvent({ sub: 'user-1' }));
      expect(response.statusCode).toBe(503);
      await server.restart();
      expect((await cold.sign(signEvent({ sub: 'user-1' }))).statusCode).toBe(201);
      await cold.resetServices();
    });
  });
});
