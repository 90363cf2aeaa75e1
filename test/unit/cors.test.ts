// CORS_ORIGINS: what it accepts, and the headers the Bearer routes answer with (the REST API passes a
// Lambda proxy response through as it is, so on AWS these are the only CORS headers a browser gets there).
import { loadConfig, loadCorsOrigins } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { json } from '../../shared/http/messages';
import { authorizerContext } from '../../shared/auth/policy';
import { authorizedRoute, route } from '../../shared/http/frame';
import { proxyEvent } from '../../testkit/events';
import { proxyEventV2 } from '../../testkit/events-v2';
import { captureLogs } from '../../testkit/logs';
import { log } from '../../shared/telemetry/log';
import { meHandler } from '../../shared/handlers/me';
import { createServices } from '../../shared/services';

const APP = 'https://app.example.com';
const DEV = 'http://localhost:5173';
const context = authorizerContext({ sub: 'user-1', jti: 'a'.repeat(22), iat: 1_700_000_000, exp: 1_700_000_900, claims: {} });

function corsError(value: string): ConfigError {
  try {
    loadCorsOrigins({ CORS_ORIGINS: value });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(value)}`);
}

describe('Function: loadCorsOrigins', () => {
  it.each([
    ['unset', undefined],
    ['empty', ''],
    ['blank', '  '],
  ])('allows no origin when %s', (_case, value) => {
    expect(loadCorsOrigins({ CORS_ORIGINS: value })).toEqual([]);
  });

  it('reads comma-separated origins, spaces around them ignored, ports kept', () => {
    expect(loadCorsOrigins({ CORS_ORIGINS: ` ${APP} , ${DEV},http://127.0.0.1:8080` })).toEqual([APP, DEV, 'http://127.0.0.1:8080']);
  });

  it.each([
    ['a path', 'https://app.example.com/app'],
    ['a trailing slash', 'https://app.example.com/'],
    ['a query', 'https://app.example.com?x=1'],
    ['a wildcard', '*'],
    ['a wildcard host', 'https://*.example.com'],
    ['another scheme', 'ftp://files.example.com'],
    ['no scheme', 'app.example.com'],
    ['the opaque origin', 'null'],
    ['an empty entry', `${APP},,${DEV}`],
    ['credentials', 'https://user:pw@app.example.com'],
    ['a quote in the host', "https://a'b.example.com"],
    ['a host ending in a dot', 'https://app.example.com.'],
  ])('refuses %s, naming CORS_ORIGINS and what an origin looks like', (_case, value) => {
    const error = corsError(value);
    expect(error.message).toMatch(/^CORS_ORIGINS entry \d must be an origin such as https:\/\/app\.example\.com/);
  });

  it.each([
    ['an uppercase host', 'https://App.Example.com', APP],
    ['the default port', 'https://app.example.com:443', APP],
  ])('refuses %s, which a browser never sends, and says what it would', (_case, value, origin) => {
    expect(corsError(value).message).toContain(`(did you mean "${origin}"?)`);
  });

  it.each([['user:s3cr#t/pw@'], ['user:s3cr#t/pw@app.example.com@'], ['s3cr#t/pw@']])('never echoes user info %s, which may be a secret', (userInfo) => {
    const error = corsError(`https://${userInfo}app.example.com`);
    expect(error.message).toContain('without user:password@');
    expect(`${error.message}${String(error.stack)}`).not.toContain('s3cr#t');
  });

  it('accepts a bracketed IPv6 host and a punycode name', () => {
    expect(loadCorsOrigins({ CORS_ORIGINS: 'http://[::1]:5173,https://xn--bcher-kva.example' })).toEqual([
      'http://[::1]:5173',
      'https://xn--bcher-kva.example',
    ]);
  });

  it('refuses an origin listed twice', () => {
    expect(corsError(`${APP},${DEV},${APP}`).message).toBe(`CORS_ORIGINS lists "${APP}" twice`);
  });
});

describe('Function: authorizedRoute, with CORS_ORIGINS', () => {
  const answer = jest.fn(async () => ({ response: json(200, { ok: true }), log: { outcome: 'ok' } }));
  const handler = authorizedRoute('test', answer, { corsOrigins: [APP, DEV], log });
  const withOrigin = (origin: string | undefined) => ({
    ...proxyEvent({ method: 'GET', path: '/me', authorizer: context }),
    headers: origin === undefined ? {} : { Origin: origin },
  });

  beforeEach(() => captureLogs());
  afterEach(() => jest.restoreAllMocks());

  it('lets an allowed origin read the answer, and says the answer varies by Origin', async () => {
    const response = await handler(withOrigin(DEV));
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ 'Access-Control-Allow-Origin': DEV, Vary: 'Origin', 'Content-Type': 'application/json' });
    expect(response.headers).not.toHaveProperty('Access-Control-Allow-Credentials');
  });

  it('reads Origin from an HTTP API event, whose header names are lowercase', async () => {
    const event = { ...proxyEventV2({ method: 'GET', path: '/me', lambda: context }), headers: { origin: APP } };
    expect((await handler(event)).headers).toMatchObject({ 'Access-Control-Allow-Origin': APP, Vary: 'Origin' });
  });

  it.each([
    ['another origin', 'https://evil.example.com'],
    ['an allowed origin with a path', `${APP}/`],
    ['no Origin', undefined],
  ])('gives %s no Access-Control-Allow-Origin, but still Vary: Origin', async (_case, origin) => {
    const response = await handler(withOrigin(origin));
    expect(response.statusCode).toBe(200);
    expect(response.headers).not.toHaveProperty('Access-Control-Allow-Origin');
    expect(response.headers).toMatchObject({ Vary: 'Origin' });
  });

  it('lets an allowed origin read an error too', async () => {
    answer.mockRejectedValueOnce(new Error('boom'));
    const response = await handler(withOrigin(APP));
    expect(response.statusCode).toBe(500);
    expect(response.headers).toMatchObject({ 'Access-Control-Allow-Origin': APP, Vary: 'Origin' });
  });

  it('adds no CORS header at all when no origin is allowed', async () => {
    const response = await authorizedRoute('test', answer, { corsOrigins: [], log })(withOrigin(APP));
    expect(Object.keys(response.headers ?? {}).filter((name) => /^(access-control-|vary$)/i.test(name))).toEqual([]);
  });
});

describe('CORS_ORIGINS, through the configuration', () => {
  const env = { REDIS_URL: 'redis://127.0.0.1:6379', JWT_SECRET: 'cors-test-secret-0123456789abcdefghijklmnop' };
  afterEach(() => jest.restoreAllMocks());
  beforeEach(() => captureLogs());

  it('is what the Bearer routes of a container allow', async () => {
    const handler = meHandler({ corsOrigins: loadConfig({ ...env, CORS_ORIGINS: APP }).corsOrigins, log });
    const event = { ...proxyEvent({ method: 'GET', path: '/me', authorizer: context }), headers: { origin: APP } };
    expect((await handler(event)).headers).toMatchObject({ 'Access-Control-Allow-Origin': APP });
  });

  it('fails the cold start when invalid, naming the variable', () => {
    expect(() => createServices({ ...env, CORS_ORIGINS: `${APP}/` })).toThrow(ConfigError);
    expect(() => createServices({ ...env, CORS_ORIGINS: `${APP}/` })).toThrow(/CORS_ORIGINS/);
  });

  it('never reaches the API-key routes, which browsers must not call', async () => {
    const handler = route('test', async () => ({ response: json(201, {}), log: {} }), { log });
    const event = { ...proxyEvent({ method: 'POST', path: '/auth/token' }), headers: { Origin: APP } };
    const response = await handler(event);
    expect(response.statusCode).toBe(201);
    expect(Object.keys(response.headers ?? {}).filter((name) => /^(access-control-|vary$)/i.test(name))).toEqual([]);
  });
});
