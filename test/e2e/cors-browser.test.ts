// A real browser (Debian's chromium, driven by playwright-core) calling `npm start`'s API from a page: the
// allowed origin can read answers and errors of the browser routes (the Bearer routes and POST /auth/refresh)
// on both APIs; another origin cannot, and no page can call the API-key routes. Only loopback is used.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { expect } from '@jest/globals';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../../testkit/chromium';
import { freePort, startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { checkPageAnswers } from './page-answers';
import { request, startApi, type RunningApi } from './start-api';

jest.setTimeout(60_000);

const SIGN_API_KEY = randomBytes(20).toString('hex');

let redis: RedisServer;
let api: RunningApi;
let browser: Browser;
const pageServers: Server[] = [];
let allowedPage: Page;
let otherPage: Page;

/**
 * Every answer the pages read is checked against docs/openapi.yaml: the allowed origin's, 8 on each API (the tests of
 * `a browser app on the allowed origin`). Another origin's are withheld from the page and from the check alike.
 */
const watchAnswers = checkPageAnswers({ atLeast: 16 });

/** What a page's fetch() gave it: the answer it could read, or the error the browser threw instead. */
type Outcome = { status: number; body: string } | { error: string };

/** Serves an empty page, so that a browser tab has this origin. */
async function servePage(port: number): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>app</title>');
  });
  pageServers.push(server);
  server.listen(port, 'localhost');
  await once(server, 'listening');
  return `http://localhost:${port}`;
}

async function openPage(origin: string): Promise<Page> {
  const page = await browser.newPage();
  watchAnswers(page);
  await page.goto(origin);
  return page;
}

beforeAll(async () => {
  redis = await startRedisServer();
  const [allowedOrigin, otherOrigin] = await Promise.all([servePage(await freePort()), servePage(await freePort())]);
  api = await startApi({
    PORT: String(await freePort()),
    LAMBDA_PORT: String(await freePort()),
    REDIS_URL: redis.url,
    SIGN_API_KEY,
    JWT_SECRET: randomBytes(48).toString('base64'),
    CORS_ORIGINS: allowedOrigin,
  });
  browser = await launchChromium();
  [allowedPage, otherPage] = await Promise.all([openPage(allowedOrigin), openPage(otherOrigin)]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await api?.stop();
  await redis?.stop();
  await Promise.all(pageServers.map((server) => new Promise((resolve) => server.close(resolve))));
});

/** fetch() from inside the page, as a browser app would. */
function pageFetch(page: Page, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Outcome> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const response = await fetch(url, init);
        return { status: response.status, body: await response.text() };
      } catch (error) {
        return { error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    },
    { url, init },
  );
}

interface Signed {
  token: string;
  sid: string;
  refreshToken: string;
}

/** Signed server to server, with the API key: never from a page. */
async function sign(sub: string, refresh = false): Promise<Signed> {
  const response = await request(`${api.banner.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': SIGN_API_KEY },
    body: JSON.stringify({ sub, refresh }),
  });
  expect(response.status).toBe(201);
  return response.body as Signed;
}

const signToken = async (sub: string): Promise<string> => (await sign(sub)).token;

/** What a browser app sends to rotate its refresh token: a JSON body, so the browser asks a preflight first. */
const refreshInit = (refreshToken: string) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken }) });

/** Whether the session was ever refreshed, as its own listing says (read server to server). */
async function wasRefreshed(signed: Signed): Promise<boolean> {
  const listed = await request(`${api.banner.baseUrl}/auth/sessions`, { headers: { authorization: `Bearer ${signed.token}` } });
  const sessions = (listed.body as { sessions: { sid: string; lastRefreshedAt?: number }[] }).sessions;
  const session = sessions.find(({ sid }) => sid === signed.sid);
  if (session === undefined) throw new Error('the session is not listed');
  return session.lastRefreshedAt !== undefined;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
type Which = 'the REST API' | 'the HTTP API';
const baseOf = (which: Which) => (which === 'the REST API' ? api.banner.baseUrl : api.banner.httpApiUrl);
const BOTH: Which[] = ['the REST API', 'the HTTP API'];

describe.each(BOTH)('a browser app on the allowed origin, through %s', (which) => {
  const base = () => baseOf(which);

  test('reads GET /me with its token', async () => {
    const outcome = await pageFetch(allowedPage, `${base()}/me`, { headers: bearer(await signToken('alice')) });
    expect(outcome).toMatchObject({ status: 200 });
    expect(JSON.parse((outcome as { body: string }).body)).toMatchObject({ sub: 'alice' });
  });

  test('reads the 401 of a request without a token', async () => {
    const outcome = await pageFetch(allowedPage, `${base()}/me`);
    expect(outcome).toEqual({ status: 401, body: expect.stringMatching(/^\{.*\}$/) });
  });

  test('logs out with POST /auth/logout (204), and reads the refusal of the dead token', async () => {
    const token = await signToken('bob');
    expect(await pageFetch(allowedPage, `${base()}/auth/logout`, { method: 'POST', headers: bearer(token) })).toEqual({ status: 204, body: '' });
    // REST API 401; HTTP API 403 (its authorizer's simple response): either way readable, JSON.
    const refused = await pageFetch(allowedPage, `${base()}/me`, { headers: bearer(token) });
    expect(refused).toEqual({ status: which === 'the REST API' ? 401 : 403, body: expect.stringMatching(/^\{.*\}$/) });
  });

  test('rotates its refresh token with POST /auth/refresh, reads the new pair, and uses the new access token', async () => {
    const signed = await sign('refresher', true);
    const outcome = await pageFetch(allowedPage, `${base()}/auth/refresh`, refreshInit(signed.refreshToken));
    expect(outcome).toMatchObject({ status: 200 });
    const rotated = JSON.parse((outcome as { body: string }).body) as Signed;
    expect(rotated).toMatchObject({ sid: signed.sid, tokenType: 'Bearer', token: expect.any(String), refreshToken: expect.any(String) });
    expect(rotated.refreshToken).not.toBe(signed.refreshToken);
    const identity = await pageFetch(allowedPage, `${base()}/me`, { headers: bearer(rotated.token) });
    expect(identity).toMatchObject({ status: 200 });
    expect(JSON.parse((identity as { body: string }).body)).toMatchObject({ sub: 'refresher', sid: signed.sid });
  });

  test('reads the 401 of a refresh token that is not valid', async () => {
    const outcome = await pageFetch(allowedPage, `${base()}/auth/refresh`, refreshInit('not-a-refresh-token'));
    expect(outcome).toEqual({ status: 401, body: expect.stringMatching(/^\{.*\}$/) });
    expect(JSON.parse((outcome as { body: string }).body)).toMatchObject({ error: 'REFRESH_TOKEN_INVALID' });
  });

  test('reads the refusal of a forged token', async () => {
    const outcome = await pageFetch(allowedPage, `${base()}/me`, { headers: bearer('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl') });
    expect(outcome).toEqual({ status: which === 'the REST API' ? 401 : 403, body: expect.stringMatching(/^\{.*\}$/) });
  });
});

describe('the browser refuses', () => {
  test.each(BOTH)('a page of another origin any answer from %s, even with a valid token', async (which) => {
    const base = baseOf(which);
    const token = await signToken('carol');
    expect(await pageFetch(otherPage, `${base}/me`, { headers: bearer(token) })).toEqual({ error: expect.stringMatching(/^TypeError/) });
    // Without a token, no preflight is needed: the answer is what the browser withholds.
    expect(await pageFetch(otherPage, `${base}/me`)).toEqual({ error: expect.stringMatching(/^TypeError/) });
    // The token still works: the preflight kept the request from being sent at all.
    expect((await request(`${base}/me`, { headers: bearer(token) })).status).toBe(200);
  });

  test.each(BOTH)('a page of another origin the answer of POST /auth/refresh on %s: the preflight keeps it from being sent', async (which) => {
    const url = `${baseOf(which)}/auth/refresh`;
    const signed = await sign('refresh-elsewhere', true);
    expect(await pageFetch(otherPage, url, refreshInit(signed.refreshToken))).toEqual({ error: expect.stringMatching(/^TypeError/) });
    // Not rotated: the refresh token is still the session's current one.
    expect(await wasRefreshed(signed)).toBe(false);
    // A simple request needs no preflight and is sent; its answer, a new pair, is still withheld from the page.
    const simple = { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ refreshToken: signed.refreshToken }) };
    expect(await pageFetch(otherPage, url, simple)).toEqual({ error: expect.stringMatching(/^TypeError/) });
  });

  test.each(['/auth/token', '/auth/revoke'])('even the allowed origin a call to %s, an API-key route', async (path) => {
    const url = `${api.banner.baseUrl}${path}`;
    const body = JSON.stringify({ sub: 'mallory' });
    // With the key: the preflight finds no CORS, so the key is never sent.
    const withKey = await pageFetch(allowedPage, url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': SIGN_API_KEY }, body });
    expect(withKey).toEqual({ error: expect.stringMatching(/^TypeError/) });
    // A simple request needs no preflight and is sent; its answer is still withheld from the page.
    expect(await pageFetch(allowedPage, url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })).toEqual({
      error: expect.stringMatching(/^TypeError/),
    });
  });
});
