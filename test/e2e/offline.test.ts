// The README flow over HTTP, against serverless offline started by `npm start`'s script with its own Redis.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from '@jest/globals';
import jsonwebtoken from 'jsonwebtoken';
import { freePort, startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { groupAlive, REPO_ROOT, request, startApi, type RunningApi } from './start-api';

jest.setTimeout(60_000);

const TTL_SECONDS = 600;
const JWT_SECRET = randomBytes(48).toString('base64');
const SIGN_API_KEY = randomBytes(20).toString('hex');
/** What serverless offline accepts when apiKeys has no value: md5 of the empty string. Must never work. */
const OFFLINE_PUBLIC_DEFAULT_KEY = createHash('md5').update('').digest('hex');

let redis: RedisServer;
let api: RunningApi;
let baseUrl: string;
let lambdaPort: number;
/** Every token the API handed out, to check afterwards that none of them reached a log. */
const issuedTokens: string[] = [];

interface SignResponse {
  token: string;
  tokenType: string;
  expiresIn: number;
  jti: string;
  sid: string;
  /** Only when signed with `"refresh": true`. */
  refreshToken?: string;
  refreshExpiresIn?: number;
}

beforeAll(async () => {
  redis = await startRedisServer();
  lambdaPort = await freePort();
  api = await startApi({
    PORT: String(await freePort()),
    LAMBDA_PORT: String(lambdaPort),
    REDIS_URL: redis.url,
    SIGN_API_KEY,
    JWT_SECRET,
  });
  baseUrl = api.banner.baseUrl;
});

afterAll(async () => {
  await api?.stop();
  await redis?.stop();
});

async function sign(body: unknown, apiKey: string | null = SIGN_API_KEY) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey !== null) headers['x-api-key'] = apiKey;
  return request(`${baseUrl}/auth/token`, { method: 'POST', headers, body: JSON.stringify(body) });
}

async function signToken(sub: string, claims: Record<string, unknown> = {}, extra: { refresh?: boolean } = {}): Promise<SignResponse> {
  const response = await sign({ sub, claims, ttl: TTL_SECONDS, ...extra });
  expect(response.status).toBe(201);
  const issued = response.body as SignResponse;
  issuedTokens.push(issued.token, ...(issued.refreshToken === undefined ? [] : [issued.refreshToken]));
  return issued;
}

/** POST /auth/refresh on the REST API: no API key, no Authorization header. */
async function refresh(refreshToken: string) {
  const response = await request(`${baseUrl}/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken }),
  });
  const rotated = response.body as Partial<SignResponse> | undefined;
  if (rotated?.token !== undefined) issuedTokens.push(rotated.token);
  if (rotated?.refreshToken !== undefined) issuedTokens.push(rotated.refreshToken);
  return response;
}

/** The first JavaScript example of docs/operations.md's "Trusted callers" section: a login backend calling sign. */
function docsTrustedCallerExample(): string {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const start = doc.indexOf('\n## Trusted callers\n');
  const snippet = start === -1 ? undefined : /```js\n([\s\S]*?)```/.exec(doc.slice(start))?.[1];
  if (snippet === undefined) throw new Error('docs/operations.md: no js example under "## Trusted callers"');
  return snippet;
}

function me(token: string | undefined) {
  return request(`${baseUrl}/me`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
}

function logout(token: string, body?: unknown) {
  return request(`${baseUrl}/auth/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe('serverless offline: sign, use, log out', () => {
  test('the banner names the API under the dev stage and the key it was given', () => {
    expect(baseUrl).toMatch(/^http:\/\/localhost:\d+\/dev$/);
    expect(api.banner.apiKey).toBe(SIGN_API_KEY);
    expect(api.banner.redisUrl).toBe(redis.url);
  });

  test.each([
    ['no x-api-key', null],
    ['a wrong x-api-key', randomBytes(20).toString('hex')],
    ["offline's public default key", OFFLINE_PUBLIC_DEFAULT_KEY],
  ])('POST /auth/token with %s is 403 Forbidden and issues nothing', async (_case, apiKey) => {
    const labelsBefore = await (await redis.admin()).keys('jwt_label:*');
    const response = await sign({ sub: 'alice' }, apiKey);
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ message: 'Forbidden' });
    expect(await (await redis.admin()).keys('jwt_label:*')).toEqual(labelsBefore);
  });

  test.each([
    ['no sub', { claims: {} }],
    ['an unknown field', { sub: 'alice', admin: true }],
    ['a reserved claim', { sub: 'alice', claims: { exp: 1 } }],
    ['a ttl above MAX_TTL', { sub: 'alice', ttl: 86_401 }],
    ['a refresh that is not a boolean', { sub: 'alice', refresh: 'yes' }],
    ['a session ip that is not an address', { sub: 'alice', session: { ip: 'localhost' } }],
    ['an unknown session field', { sub: 'alice', session: { browser: 'x' } }],
    ['a sid among the claims', { sub: 'alice', claims: { sid: 'mine' } }],
  ])('POST /auth/token with %s is 400 with a JSON error', async (_case, body) => {
    const response = await sign(body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body).toEqual({ error: 'BAD_REQUEST', message: expect.any(String) });
  });

  test('POST /auth/token with a body that is not JSON is 400', async () => {
    const response = await request(`${baseUrl}/auth/token`, {
      method: 'POST',
      headers: { 'x-api-key': SIGN_API_KEY, 'content-type': 'application/json' },
      body: '{"sub":',
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: 'BAD_REQUEST', message: 'request body is not valid JSON' });
  });

  test('GET /.well-known/jwks.json answers the public keys to anyone: with HS256, none, cacheable', async () => {
    const jwks = await request(`${baseUrl}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(jwks.body).toEqual({ keys: [] });
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
  });

  test('a token works until logout, then is refused at once', async () => {
    const signed = await sign({ sub: 'alice', claims: { role: 'admin' }, ttl: TTL_SECONDS });
    expect(signed.status).toBe(201);
    expect(signed.headers.get('cache-control')).toBe('no-store');
    const issued = signed.body as SignResponse;
    issuedTokens.push(issued.token);
    // No refresh token unless asked for one.
    expect(issued).toEqual({ token: expect.any(String), tokenType: 'Bearer', expiresIn: TTL_SECONDS, jti: expect.any(String), sid: expect.any(String) });
    expect(issued.jti).not.toBe('');
    expect(issued.sid).not.toBe(issued.jti);

    // Signed with the JWT_SECRET given to the script: proves provider.environment reaches the handlers.
    const payload = jsonwebtoken.verify(issued.token, JWT_SECRET, { algorithms: ['HS256'] }) as jsonwebtoken.JwtPayload;
    expect(payload).toMatchObject({ sub: 'alice', jti: issued.jti, sid: issued.sid, iss: 'revocable-jwt', aud: 'revocable-jwt-api', role: 'admin' });

    // The label lives exactly as long as the token (jwt-redis floors, our store adds a second back).
    const admin = await redis.admin();
    const labelTtl = await admin.ttl(`jwt_label:${issued.jti}`);
    expect(labelTtl).toBeGreaterThanOrEqual(TTL_SECONDS - 5);
    expect(labelTtl).toBeLessThanOrEqual(TTL_SECONDS + 1);

    const identity = await me(issued.token);
    expect(identity.status).toBe(200);
    expect(identity.body).toMatchObject({ sub: 'alice', jti: issued.jti, sid: issued.sid, issuedAt: payload.iat, expiresAt: payload.exp });
    expect((identity.body as { expiresAt: number; issuedAt: number }).expiresAt - (identity.body as { issuedAt: number }).issuedAt).toBe(TTL_SECONDS);

    const loggedOut = await logout(issued.token);
    expect(loggedOut.status).toBe(204);
    expect(loggedOut.text).toBe('');
    expect(await admin.exists([`jwt_label:${issued.jti}`, `jwt_session:${issued.sid}`])).toBe(0);

    const afterLogout = await me(issued.token);
    expect(afterLogout.status).toBe(401);
    expect(afterLogout.body).toMatchObject({ message: expect.any(String) });

    // A second logout with the dead token does not get past the authorizer either.
    expect((await logout(issued.token)).status).toBe(401);
  });

  // serverless offline overwrites requestContext.authorizer.claims with the decoded JWT: the context
  // carries custom claims under another name, and this shows they survive the trip.
  test('GET /me returns the custom claims given at sign time', async () => {
    const issued = await signToken('carol', { role: 'admin', tenant: 't-1' });
    const identity = await me(issued.token);
    expect(identity.status).toBe(200);
    expect(identity.body).toMatchObject({ claims: { role: 'admin', tenant: 't-1' } });
  });

  test('logging out one token leaves another token of the same subject working', async () => {
    const first = await signToken('dave');
    const second = await signToken('dave');
    expect((await logout(first.token)).status).toBe(204);
    expect((await me(first.token)).status).toBe(401);
    expect((await me(second.token)).status).toBe(200);
  });

  test('a token whose payload was altered is 401', async () => {
    const issued = await signToken('erin');
    const [header, payload, signature] = issued.token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url');
    const response = await me(`${header}.${forged}.${signature}`);
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ message: expect.any(String) });
  });

  test('a token signed with another secret is 401 even though its label exists', async () => {
    const issued = await signToken('frank');
    const payload = jsonwebtoken.decode(issued.token) as jsonwebtoken.JwtPayload;
    const forged = jsonwebtoken.sign(payload, randomBytes(48), { algorithm: 'HS256' });
    expect((await me(forged)).status).toBe(401);
    expect((await me(issued.token)).status).toBe(200);
  });

  test.each([
    ['no Authorization header', {}],
    ['a Basic scheme', { authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' }],
    ['a Bearer value that is not a JWT', { authorization: 'Bearer not-a-token' }],
  ])('GET /me with %s is 401', async (_case, headers) => {
    const response = await request(`${baseUrl}/me`, { headers });
    expect(response.status).toBe(401);
  });

  test("logout-all kills every token of the caller, the presented one included, and no one else's", async () => {
    const first = await signToken('grace');
    const second = await signToken('grace');
    const bystander = await signToken('heidi');
    const sessions = await request(`${baseUrl}/auth/sessions`, { headers: { authorization: `Bearer ${second.token}` } });
    expect(sessions.status).toBe(200);
    expect(sessions.body).toEqual({
      sessions: [expect.objectContaining({ sid: second.sid, current: true }), expect.objectContaining({ sid: first.sid, current: false })],
    });

    const response = await request(`${baseUrl}/auth/logout-all`, { method: 'POST', headers: { authorization: `Bearer ${first.token}` } });
    expect(response.status).toBe(204);
    expect([(await me(first.token)).status, (await me(second.token)).status, (await me(bystander.token)).status]).toEqual([401, 401, 200]);
  });

  test("DELETE /auth/sessions/{sid} ends one of the caller's sessions, and answers 404 for another user's", async () => {
    const caller = await signToken('ivan');
    const other = await signToken('ivan');
    const stranger = await signToken('judy');
    const end = (sid: string) =>
      request(`${baseUrl}/auth/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE', headers: { authorization: `Bearer ${caller.token}` } });
    const notFound = await end(stranger.sid);
    expect(notFound).toMatchObject({ status: 404, body: { error: 'SESSION_NOT_FOUND' } });
    // A jti names no session.
    expect((await end(other.jti)).status).toBe(404);
    expect((await me(other.token)).status).toBe(200);
    expect((await end(other.sid)).status).toBe(204);
    expect([(await me(caller.token)).status, (await me(other.token)).status, (await me(stranger.token)).status]).toEqual([200, 401, 200]);
  });

  const refreshRefused = { status: 401, body: { error: 'REFRESH_TOKEN_INVALID', message: expect.any(String) } };

  test.each([
    ['no body', undefined],
    ['a body that is not JSON', '{"refreshToken":'],
    ['no refreshToken', '{}'],
    ['an unknown field', JSON.stringify({ refreshToken: 'x', sub: 'alice' })],
  ])('POST /auth/refresh with %s is 400 with a JSON error', async (_case, body) => {
    const response = await request(`${baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
    expect(response).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: expect.any(String) } });
  });

  test.each([
    ['not shaped as one', 'not-a-refresh-token'],
    ['shaped as one, of no session', `${'A'.repeat(22)}.${'B'.repeat(22)}.${'C'.repeat(22)}.${'D'.repeat(43)}`],
  ])('POST /auth/refresh with a refresh token %s is 401 REFRESH_TOKEN_INVALID with a Bearer challenge', async (_case, refreshToken) => {
    const response = await refresh(refreshToken);
    expect(response).toMatchObject(refreshRefused);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  test('POST /auth/refresh needs no API key and no Authorization header: the refresh token is the credential, and an access token is not one', async () => {
    const signed = await signToken('refresh-credential', {}, { refresh: true });
    expect(await refresh(signed.token)).toMatchObject(refreshRefused);
    const rotated = await refresh(signed.refreshToken as string);
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.body).toEqual({
      token: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: TTL_SECONDS,
      jti: expect.any(String),
      sid: signed.sid,
      refreshToken: expect.any(String),
      refreshExpiresIn: expect.any(Number),
    });
  });

  test.each([
    ['no body', undefined, 'logout-no-body'],
    ['{}', {}, 'logout-empty-object'],
    ['{"scope":"local"}', { scope: 'local' }, 'logout-scope-local'],
  ])("POST /auth/logout with %s ends the caller's whole session: the access tokens refreshed from it, and its refresh token", async (_case, body, sub) => {
    const signed = await signToken(sub, {}, { refresh: true });
    const rotated = await refresh(signed.refreshToken as string);
    expect(rotated.status).toBe(200);
    const { token: refreshed, refreshToken } = rotated.body as SignResponse;
    const otherSession = await signToken(sub);

    expect((await logout(signed.token, body)).status).toBe(204);
    expect([(await me(signed.token)).status, (await me(refreshed)).status, (await me(otherSession.token)).status]).toEqual([401, 401, 200]);
    expect(await refresh(refreshToken as string)).toMatchObject(refreshRefused);
    expect(await (await redis.admin()).exists(`jwt_session:${signed.sid}`)).toBe(0);
  });

  test('POST /auth/logout with {"scope":"others"} ends every other session of the caller, refresh tokens included, and keeps this one', async () => {
    const kept = await signToken('scope-others', {}, { refresh: true });
    const refreshable = await signToken('scope-others', {}, { refresh: true });
    const plain = await signToken('scope-others');
    const stranger = await signToken('scope-others-stranger');

    expect((await logout(kept.token, { scope: 'others' })).status).toBe(204);
    expect([(await me(kept.token)).status, (await me(refreshable.token)).status, (await me(plain.token)).status, (await me(stranger.token)).status]).toEqual([
      200, 401, 401, 200,
    ]);
    expect(await refresh(refreshable.refreshToken as string)).toMatchObject(refreshRefused);
    const listed = await request(`${baseUrl}/auth/sessions`, { headers: { authorization: `Bearer ${kept.token}` } });
    expect(listed.body).toEqual({ sessions: [expect.objectContaining({ sid: kept.sid, current: true })] });
    // The kept session is whole: its refresh token still rotates.
    expect((await refresh(kept.refreshToken as string)).status).toBe(200);
  });

  test('POST /auth/logout with {"scope":"global"} ends every session of the caller, this one included', async () => {
    const first = await signToken('scope-global', {}, { refresh: true });
    const second = await signToken('scope-global');
    expect((await logout(second.token, { scope: 'global' })).status).toBe(204);
    expect([(await me(first.token)).status, (await me(second.token)).status]).toEqual([401, 401]);
    expect(await refresh(first.refreshToken as string)).toMatchObject(refreshRefused);
  });

  test.each([
    ['an unknown scope', { scope: 'everywhere' }],
    ['an unknown field', { scope: 'local', all: true }],
  ])('POST /auth/logout with %s is 400 and ends nothing', async (_case, body) => {
    const issued = await signToken('scope-bad');
    const response = await logout(issued.token, body);
    expect(response).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: expect.any(String) } });
    expect((await me(issued.token)).status).toBe(200);
  });

  test('POST /auth/revoke needs the API key, and ends every session of a subject', async () => {
    const issued = await signToken('mallory');
    const revoke = (apiKey: string | null) =>
      request(`${baseUrl}/auth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(apiKey === null ? {} : { 'x-api-key': apiKey }) },
        body: JSON.stringify({ sub: 'mallory' }),
      });
    expect((await revoke(null)).status).toBe(403);
    expect((await me(issued.token)).status).toBe(200);
    const response = await revoke(SIGN_API_KEY);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ revoked: 1 });
    expect((await me(issued.token)).status).toBe(401);
  });

  test('POST /auth/introspect needs the API key, and answers RFC 7662 form requests: active, then inactive after logout', async () => {
    const issued = await signToken('introspected');
    const introspect = (apiKey: string | null) =>
      request(`${baseUrl}/auth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(apiKey === null ? {} : { 'x-api-key': apiKey }) },
        body: new URLSearchParams({ token: issued.token }).toString(),
      });
    expect((await introspect(null)).status).toBe(403);
    const active = await introspect(SIGN_API_KEY);
    expect(active).toMatchObject({ status: 200, body: { active: true, sub: 'introspected', jti: issued.jti, sid: issued.sid, token_type: 'Bearer' } });
    expect((await request(`${baseUrl}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${issued.token}` } })).status).toBe(204);
    expect((await introspect(SIGN_API_KEY)).body).toEqual({ active: false });
  });

  // Offline puts this header's JSON in place of the authorizer's context; npm start's gateway drops it.
  test("a request header cannot change the caller: alice's token with an override naming bob stays alice's", async () => {
    const alice = await signToken('override-alice');
    const bob = await signToken('override-bob');
    const bobContext = {
      principalId: 'override-bob',
      sub: 'override-bob',
      jti: bob.jti,
      sid: bob.sid,
      iat: 1,
      exp: 4_102_444_800,
      customClaims: '{"role":"admin"}',
    };
    // One value for both APIs: the REST API reads the context at its top, the HTTP API under `lambda`.
    const headers = { authorization: `Bearer ${alice.token}`, 'sls-offline-authorizer-override': JSON.stringify({ ...bobContext, lambda: bobContext }) };
    for (const base of [baseUrl, api.banner.httpApiUrl]) {
      const identity = await request(`${base}/me`, { headers });
      expect({ base, status: identity.status, body: identity.body }).toEqual({
        base,
        status: 200,
        body: expect.objectContaining({ sub: 'override-alice', jti: alice.jti, sid: alice.sid, claims: {} }),
      });
      const sessions = await request(`${base}/auth/sessions`, { headers });
      expect({ base, sessions: sessions.body }).toEqual({ base, sessions: { sessions: [expect.objectContaining({ sid: alice.sid, current: true })] } });
      const endBob = await request(`${base}/auth/sessions/${encodeURIComponent(bob.sid)}`, { method: 'DELETE', headers });
      expect({ base, status: endBob.status }).toEqual({ base, status: 404 });
    }
    expect((await request(`${baseUrl}/auth/logout-all`, { method: 'POST', headers })).status).toBe(204);
    expect([(await me(alice.token)).status, (await me(bob.token)).status]).toEqual([401, 200]);
  });

  test("offline's Lambda invoke endpoint lets no web page read its answers (corsAllowOrigin: none)", async () => {
    const invoke = `http://localhost:${lambdaPort}/2015-03-31/functions/revocable-jwt-dev-me/invocations`;
    const origin = 'https://evil.example.com';
    const notTheApi = { outsideContract: "offline's Lambda invoke endpoint, not the API" };
    const answer = await request(invoke, { method: 'POST', headers: { origin, 'content-type': 'text/plain' }, body: '{}' }, notTheApi);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await request(
      invoke,
      { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } },
      notTheApi,
    );
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('the documented login backend (docs/operations.md, fetch with the API key) issues a token that works', async () => {
    const snippet = docsTrustedCallerExample();
    const dir = mkdtempSync(join(tmpdir(), 'readme-login-backend-'));
    try {
      const script = join(dir, 'login-backend.mjs');
      writeFileSync(script, `${snippet}\nconsole.log(JSON.stringify(await issueToken({ id: 'readme-user', role: 'reader' })));\n`);
      const { stdout } = await promisify(execFile)(process.execPath, [script], {
        env: { PATH: process.env.PATH, AUTH_API: baseUrl, SIGN_API_KEY },
        timeout: 20_000,
      });
      const issued = JSON.parse(stdout) as SignResponse;
      issuedTokens.push(issued.token);
      expect(issued.tokenType).toBe('Bearer');
      const response = await me(issued.token);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ sub: 'readme-user', claims: { role: 'reader' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Runs after the flows (jest keeps declaration order): by now every route has logged something.
  test('nothing the server printed contains a token or the JWT secret', () => {
    const output = api.output();
    expect(output).toContain('"message":"sign"');
    expect(output).toContain('"message":"authorize"');
    expect(output).toContain('"message":"refresh"');
    expect(issuedTokens.length).toBeGreaterThanOrEqual(5);
    for (const token of issuedTokens) {
      // A JWT's signature; a refresh token's family secret and secret.
      const secrets = token.split('.').slice(2);
      expect(output.includes(token)).toBe(false);
      for (const secret of secrets) expect(output.includes(secret)).toBe(false);
    }
    expect(output.includes(JWT_SECRET)).toBe(false);
    // JWT_SECRET was set, so the public development secret is not in use.
    expect(output).not.toContain('public development secret');
  });

  test('SIGTERM to the script stops serverless offline with it and leaves the given Redis alone', async () => {
    const pid = api.child.pid;
    if (pid === undefined) throw new Error('start script has no pid');
    process.kill(pid, 'SIGTERM');
    expect(await api.exited).toEqual({ code: 143, signal: null });
    const deadline = Date.now() + 5000;
    while (groupAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(groupAlive(pid)).toBe(false);
    await expect(fetch(`${baseUrl}/me`)).rejects.toThrow();
    expect(await (await redis.admin()).ping()).toBe('PONG');
  });
});
