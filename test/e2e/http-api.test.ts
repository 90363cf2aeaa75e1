// The HTTP API (payload 2.0, request authorizer with simple responses) over serverless offline, beside the
// REST API in the same server: the REST API under /dev, the HTTP API at the root (its $default stage). Both serve
// POST /auth/refresh behind no authorizer: a session is refreshed on one and used on the other.
//
// Where serverless offline 13 answers otherwise than AWS, the tests say so:
//   - authorizer says { isAuthorized: false }: both 403; offline's body is its own, AWS's {"message":"Forbidden"}
//   - no Authorization header: both 401 without calling the authorizer; AWS's body is {"message":"Unauthorized"}
//   - authorizer throws (Redis down): AWS answers 500; offline answers 401. Either way the route never runs.
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { findOperation } from '../../testkit/openapi';
import { freePort, startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { request, startApi, type RunningApi } from './start-api';

jest.setTimeout(60_000);

const JWT_SECRET = randomBytes(48).toString('base64');
/** REFRESH_REUSE_GRACE (s): short, so that the refresh flow below waits little for it to pass. */
const REUSE_GRACE_SECONDS = 3;
const SIGN_API_KEY = randomBytes(20).toString('hex');

let redis: RedisServer;
let api: RunningApi;
/** The REST API, e.g. http://localhost:3000/dev */
let restUrl: string;
/** The HTTP API, e.g. http://localhost:3000 */
let httpUrl: string;
const issuedTokens: string[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  api = await startApi({
    PORT: String(await freePort()),
    LAMBDA_PORT: String(await freePort()),
    REDIS_URL: redis.url,
    SIGN_API_KEY,
    JWT_SECRET,
    // Short, so that the Redis-down test below does not wait long.
    REDIS_TIMEOUT_MS: '300',
    REFRESH_REUSE_GRACE: String(REUSE_GRACE_SECONDS),
  });
  restUrl = api.banner.baseUrl;
  httpUrl = api.banner.httpApiUrl;
});

afterAll(async () => {
  await api?.stop();
  await redis?.stop();
});

interface Issued {
  token: string;
  jti: string;
  sid: string;
  refreshToken?: string;
  refreshExpiresIn?: number;
}

/** Tokens are issued by the REST API only: it alone has the API key. */
async function signToken(sub: string, claims: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Issued> {
  const response = await request(`${restUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': SIGN_API_KEY },
    body: JSON.stringify({ sub, claims, ttl: 600, ...extra }),
  });
  expect(response.status).toBe(201);
  const issued = response.body as Issued;
  issuedTokens.push(issued.token, ...(issued.refreshToken === undefined ? [] : [issued.refreshToken]));
  return issued;
}

/** POST /auth/refresh on either API: no API key, no Authorization header. */
async function refresh(base: string, refreshToken: string) {
  const response = await request(`${base}/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken }),
  });
  const rotated = response.body as Partial<Issued> | undefined;
  for (const token of [rotated?.token, rotated?.refreshToken]) if (token !== undefined) issuedTokens.push(token);
  return response;
}

/** What the server printed after `since`, once it matches the pattern (or after 5 s, to fail with it). */
async function outputMatching(pattern: RegExp, since: number): Promise<string> {
  const deadline = Date.now() + 5000;
  while (!pattern.test(api.output().slice(since)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return api.output().slice(since);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const REFRESH_REFUSED = { status: 401, body: { error: 'REFRESH_TOKEN_INVALID', message: expect.any(String) } };
const me = (base: string, token: string) => request(`${base}/me`, { headers: bearer(token) });

describe('serverless offline: the HTTP API beside the REST API', () => {
  test('serves the protected routes at the root, behind the HTTP API authorizer', async () => {
    const { token, jti, sid } = await signToken('alice', { role: 'admin', tenant: 't-1' });
    const viaHttp = await me(httpUrl, token);
    expect(viaHttp.status).toBe(200);
    expect(viaHttp.headers.get('cache-control')).toBe('no-store');
    // The custom claims come through the authorizer's context (offline also puts the decoded JWT beside it).
    expect(viaHttp.body).toEqual({
      sub: 'alice',
      jti,
      sid,
      issuedAt: expect.any(Number),
      expiresAt: expect.any(Number),
      claims: { role: 'admin', tenant: 't-1' },
    });
    // The same handler answers the same through the REST API.
    const viaRest = await me(restUrl, token);
    expect(viaRest.status).toBe(200);
    expect(viaRest.body).toEqual(viaHttp.body);
    const ranHttpAuthorizer = /Running Authorization function for get \/me \(λ: httpAuthorizer\)/;
    expect(await outputMatching(ranHttpAuthorizer, 0)).toMatch(ranHttpAuthorizer);
  });

  test.each([
    ['POST', '/auth/token'],
    ['POST', '/auth/revoke'],
  ])('has no %s %s: the trusted routes need an API key, which only the REST API has', async (method, path) => {
    const response = await request(
      `${httpUrl}${path}`,
      { method, headers: { 'content-type': 'application/json', 'x-api-key': SIGN_API_KEY }, body: JSON.stringify({ sub: 'alice' }) },
      { outsideContract: "serverless offline's own 404: the HTTP API has no such route" },
    );
    expect(response.status).toBe(404);
    // And the contract says so.
    expect(findOperation('http', method, path)).toBeUndefined();
    expect(findOperation('rest', method, path)).toBeDefined();
  });

  test('a request without an Authorization header is 401, as on AWS', async () => {
    const response = await request(`${httpUrl}/me`);
    expect(response.status).toBe(401);
  });

  test.each([
    ['a Basic scheme', 'Basic YWxpY2U6cGFzc3dvcmQ='],
    ['a Bearer value that is not a JWT', 'Bearer not-a-token'],
    ['a token with a forged signature', 'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImRlZmF1bHQifQ.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl'],
  ])('%s is 403: the authorizer said { isAuthorized: false }', async (_case, authorization) => {
    const response = await request(`${httpUrl}/me`, { headers: { authorization } });
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ error: 'Forbidden' });
  });

  test('a logout through the HTTP API kills the token on both APIs at once', async () => {
    const { token } = await signToken('bob');
    const loggedOut = await request(`${httpUrl}/auth/logout`, { method: 'POST', headers: bearer(token) });
    expect(loggedOut.status).toBe(204);
    expect(loggedOut.text).toBe('');
    expect((await me(httpUrl, token)).status).toBe(403);
    expect((await me(restUrl, token)).status).toBe(401);
  });

  test('a logout through the REST API kills the token on the HTTP API too', async () => {
    const { token } = await signToken('carol');
    expect((await request(`${restUrl}/auth/logout`, { method: 'POST', headers: bearer(token) })).status).toBe(204);
    expect((await me(httpUrl, token)).status).toBe(403);
  });

  test("sessions: list, end one by sid (another user's is 404), log out everywhere", async () => {
    const first = await signToken('dave');
    const second = await signToken('dave');
    const stranger = await signToken('erin');

    const listed = await request(`${httpUrl}/auth/sessions`, { headers: bearer(first.token) });
    expect(listed.status).toBe(200);
    const { sessions } = listed.body as { sessions: { sid: string; current: boolean }[] };
    expect(sessions.map((session) => [session.sid, session.current]).sort()).toEqual(
      [
        [first.sid, true],
        [second.sid, false],
      ].sort(),
    );

    const end = (sid: string) => request(`${httpUrl}/auth/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE', headers: bearer(first.token) });
    expect((await end(stranger.sid)).status).toBe(404);
    expect((await end(second.sid)).status).toBe(204);
    expect([(await me(httpUrl, first.token)).status, (await me(httpUrl, second.token)).status]).toEqual([200, 403]);

    expect((await request(`${httpUrl}/auth/logout-all`, { method: 'POST', headers: bearer(first.token) })).status).toBe(204);
    expect([(await me(httpUrl, first.token)).status, (await me(httpUrl, stranger.token)).status]).toEqual([403, 200]);
  });

  test('refresh: sign with a refresh token, rotate it on the REST API then on the HTTP API; a rotated one presented after the grace window ends the session on both', async () => {
    const device = 'Firefox on Linux (e2e)';
    const ip = '2001:db8::7';
    const signed = await signToken('refresh-user', { role: 'reader' }, { refresh: true, session: { device, ip } });
    const pair = { token: expect.any(String), tokenType: 'Bearer', expiresIn: 600, jti: expect.any(String), sid: signed.sid, refreshToken: expect.any(String) };
    // REFRESH_IDLE_TTL's default, a week.
    expect(signed).toEqual({ ...pair, sid: expect.any(String), refreshExpiresIn: 604_800 });

    const viaRest = await refresh(restUrl, signed.refreshToken as string);
    expect(viaRest).toMatchObject({ status: 200, body: { ...pair, refreshExpiresIn: 604_800 } });
    expect(viaRest.headers.get('cache-control')).toBe('no-store');
    const first = viaRest.body as Issued;
    const viaHttp = await refresh(httpUrl, first.refreshToken as string);
    const rotatedAt = Date.now();
    expect(viaHttp).toMatchObject({ status: 200, body: pair });
    const second = viaHttp.body as Issued;
    // Within the grace window a retry with the token just rotated (a client that lost the answer) gets the same pair.
    expect(await refresh(httpUrl, first.refreshToken as string)).toMatchObject({ status: 200, body: { jti: second.jti, refreshToken: second.refreshToken } });
    expect(new Set([signed.jti, first.jti, second.jti]).size).toBe(3);
    expect(new Set([signed.refreshToken, first.refreshToken, second.refreshToken]).size).toBe(3);

    // Every access token of the session works on both APIs, with its sid and the claims given at sign time.
    for (const { token, jti } of [signed, first, second]) {
      for (const base of [restUrl, httpUrl]) {
        const identity = await me(base, token);
        expect({ base, status: identity.status, body: identity.body }).toEqual({
          base,
          status: 200,
          body: expect.objectContaining({ sub: 'refresh-user', jti, sid: signed.sid, claims: { role: 'reader' } }),
        });
      }
    }
    const listed = await request(`${restUrl}/auth/sessions`, { headers: bearer(second.token) });
    expect(listed.body).toEqual({
      sessions: [
        { sid: signed.sid, createdAt: expect.any(Number), lastRefreshedAt: expect.any(Number), expiresAt: expect.any(Number), device, ip, current: true },
      ],
    });

    // After the window, the same retry is a used refresh token presented again, as a thief would: refused, and the session ends.
    await sleep(rotatedAt + REUSE_GRACE_SECONDS * 1000 + 250 - Date.now());
    expect(await refresh(restUrl, first.refreshToken as string)).toMatchObject(REFRESH_REFUSED);
    // Every access token of the session is refused on the very next request, on both APIs, and so is its newest refresh token.
    for (const { token } of [signed, first, second]) {
      expect([(await me(restUrl, token)).status, (await me(httpUrl, token)).status]).toEqual([401, 403]);
    }
    expect(await refresh(httpUrl, second.refreshToken as string)).toMatchObject(REFRESH_REFUSED);
    const admin = await redis.admin();
    expect(
      await admin.exists([`jwt_session:${signed.sid}`, `jwt_refresh_replay:${signed.sid}`, ...[signed, first, second].map(({ jti }) => `jwt_label:${jti}`)]),
    ).toBe(0);
  });

  test('POST /auth/logout with {"scope":"others"} through the HTTP API ends the other sessions on both APIs, and keeps this one', async () => {
    const kept = await signToken('http-others');
    const other = await signToken('http-others', {}, { refresh: true });
    const loggedOut = await request(`${httpUrl}/auth/logout`, {
      method: 'POST',
      headers: { ...bearer(kept.token), 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'others' }),
    });
    expect(loggedOut.status).toBe(204);
    expect([(await me(httpUrl, kept.token)).status, (await me(restUrl, kept.token)).status]).toEqual([200, 200]);
    expect([(await me(httpUrl, other.token)).status, (await me(restUrl, other.token)).status]).toEqual([403, 401]);
    expect(await refresh(httpUrl, other.refreshToken as string)).toMatchObject(REFRESH_REFUSED);
  });

  // AWS answers 500 when the authorizer throws; serverless offline 13 turns any authorizer error into 401.
  test('with Redis not answering, a live token is refused and the route never runs', async () => {
    const { token } = await signToken('frank');
    const before = api.output().length;
    redis.pause();
    let response;
    try {
      response = await me(httpUrl, token);
    } finally {
      redis.resume();
    }
    expect(response.status).toBe(401);
    // The log line may reach us a moment after the response.
    const decision = /"message":"authorize".*"outcome":"error".*"Function":"httpAuthorizer"/;
    const logged = await outputMatching(decision, before);
    expect(logged).toMatch(decision);
    expect(logged).not.toContain('"message":"me"');
    // And once Redis answers again, so does the route.
    expect((await me(httpUrl, token)).status).toBe(200);
  });

  test('nothing the server printed contains a token or the JWT secret', () => {
    const output = api.output();
    expect(output).toContain('"Function":"httpAuthorizer"');
    expect(output).toContain('"message":"refresh"');
    expect(issuedTokens.length).toBeGreaterThanOrEqual(5);
    for (const token of issuedTokens) {
      // A JWT's signature; a refresh token's family secret and secret.
      for (const secret of [token, ...token.split('.').slice(2)]) expect(output.includes(secret)).toBe(false);
    }
    expect(output.includes(JWT_SECRET)).toBe(false);
  });
});
