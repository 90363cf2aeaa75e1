// npm start's demo page (demo/, at /demo/) in a real browser: Debian's chromium driven by playwright-core, as in
// cors-browser.test.ts. Alice signs in from two browsers, sees both sessions with their devices, ends one from the
// other, logs out the others, replays a stolen refresh token and signs out; at each step the service agrees. Each
// step leaves a screenshot in test-output/demo-browser/NN-step.png (gitignored): see `screenshot` below.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../../testkit/chromium';
import { DEMO_USERS } from '../../shared/handlers/demo-login';
import { freePort, startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { checkPageAnswers } from './page-answers';
import { REPO_ROOT, request, startApi, type RunningApi } from './start-api';

jest.setTimeout(60_000);

const OUTPUT = join(REPO_ROOT, 'test-output', 'demo-browser');
/**
 * Two browsers of alice's, told apart by their User-Agent, which the demo login makes the session's device. The
 * markup must show as text: the page renders what it is sent as text only.
 */
const LAPTOP_AGENT = 'DemoLaptop/1.0 (<b>alice</b> laptop)';
const PHONE_AGENT = 'DemoPhone/2.0 (alice phone)';
const WAIT_MS = 15_000;

let redis: RedisServer;
let api: RunningApi;
let browser: Browser;
let demoUrl: string;
let laptop: Page;
let phone: Page;
let screenshots = 0;

/** POST /demo/login's answer, as the page received it. */
interface Signed {
  token: string;
  sid: string;
  refreshToken: string;
}

/**
 * Every answer the pages get from the API is checked against docs/openapi.yaml: POST /demo/login, GET /me, GET
 * /auth/sessions, DELETE /auth/sessions/{sid}, POST /auth/refresh and POST /auth/logout, on the HTTP API. The page,
 * its script and its style are the gateway's static files, on the same origin: those alone are left out. The steps
 * below read 28 answers whole: four sign-ins of three (the login, /me, the session list), two reloads of two, an
 * ended session and a logout of the others with the relisting after each (three each), the phone's two refused
 * refreshes, the rotation, the replay and the laptop's refused refresh, and the sign-out. The refusals that make
 * the page refresh (403) are checked without their body, which the client drops unread.
 */
const watchAnswers = checkPageAnswers({ staticPaths: ['/demo/', '/demo/demo.js', '/demo/demo.css'], atLeast: 28 });

async function openDemo(userAgent: string): Promise<Page> {
  const context = await browser.newContext({ userAgent });
  const page = await context.newPage();
  watchAnswers(page);
  await page.goto(demoUrl);
  await waitForStatus(page, /^Pick a demo user and sign in$/);
  return page;
}

beforeAll(async () => {
  rmSync(OUTPUT, { recursive: true, force: true });
  mkdirSync(OUTPUT, { recursive: true });
  redis = await startRedisServer();
  api = await startApi({
    PORT: String(await freePort()),
    LAMBDA_PORT: String(await freePort()),
    REDIS_URL: redis.url,
    SIGN_API_KEY: randomBytes(20).toString('hex'),
    JWT_SECRET: randomBytes(48).toString('base64'),
    // A replayed refresh token ends its session at once, not only after the 10 s in which it counts as a retry.
    REFRESH_REUSE_GRACE: '0',
  });
  // The banner's link: npm start prints where the page is.
  const link = /^ +Demo +(http\S+)/m.exec(api.output())?.[1];
  if (link === undefined) throw new Error(`the banner has no Demo link:\n${api.output()}`);
  demoUrl = link;
  browser = await launchChromium();
  [laptop, phone] = await Promise.all([openDemo(LAPTOP_AGENT), openDemo(PHONE_AGENT)]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await api?.stop();
  await redis?.stop();
});

/** Where this test's screenshots go: test-output/demo-browser/01-<step>.png, 02-…, in the order taken. */
async function screenshot(page: Page, step: string): Promise<void> {
  screenshots += 1;
  await page.screenshot({ path: join(OUTPUT, `${String(screenshots).padStart(2, '0')}-${step}.png`), fullPage: true });
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const statusOf = async (page: Page) => (await page.getByTestId('status').textContent()) ?? '';

async function waitForStatus(page: Page, expected: RegExp): Promise<void> {
  await until(`the status to match ${expected}`, async () => expected.test(await statusOf(page))).catch((error: unknown) =>
    statusOf(page).then((status) => {
      throw new Error(`${(error as Error).message}; it says "${status}"`);
    }),
  );
}

/** Signs in on the page as a user would, and returns what POST /demo/login gave the page. */
async function signIn(page: Page, username: string): Promise<Signed> {
  const answer = page.waitForResponse((response) => new URL(response.url()).pathname === '/demo/login');
  await page.getByTestId('user-select').selectOption(username);
  await page.getByTestId('sign-in').click();
  const response = await answer;
  expect(response.status()).toBe(201);
  await waitForStatus(page, new RegExp(`^Signed in as demo:${username}$`));
  return (await response.json()) as Signed;
}

interface Row {
  sid: string;
  current: boolean;
  device: string;
  ip: string;
}

/**
 * The sessions the page lists, as it shows them: read in one go in the page, since the page redraws the list
 * whenever it reloads it, and a row found a moment before may be gone.
 */
async function rowsOf(page: Page): Promise<Row[]> {
  // The root tsconfig has no DOM types: what the callback reads of an element, typed here.
  type ElementLike = { getAttribute(name: string): string | null; querySelector(selector: string): { textContent: string | null } | null };
  return page.getByTestId('session-row').evaluateAll((rows: ElementLike[]) =>
    rows.map((row) => ({
      sid: row.getAttribute('data-sid') ?? '',
      current: row.getAttribute('data-current') === 'true',
      device: row.querySelector('[data-testid="session-device"]')?.textContent ?? '',
      ip: row.querySelector('[data-testid="session-ip"]')?.textContent ?? '',
    })),
  );
}

async function waitForRows(page: Page, count: number): Promise<Row[]> {
  await until(`${count} session rows`, async () => (await rowsOf(page)).length === count);
  return rowsOf(page);
}

/** Reloads the page's view; on an ended session the page's next call fails and it shows the end. */
async function reload(page: Page): Promise<void> {
  await page.getByTestId('reload').click();
}

async function waitForEnded(page: Page, reason: 'refresh-refused' | 'logged-out'): Promise<void> {
  await page.getByTestId('ended').waitFor({ state: 'visible', timeout: WAIT_MS });
  expect(await page.getByTestId('ended').textContent()).toContain(`(${reason})`);
  expect(await page.getByTestId('signed-in-view').isHidden()).toBe(true);
}

/** What the service answers GET /me with this token (REST API: 401 for a refused one). */
async function meStatus(token: string): Promise<number> {
  return (await request(`${api.banner.baseUrl}/me`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function refreshStatus(refreshToken: string): Promise<number> {
  const answer = await request(`${api.banner.baseUrl}/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken }),
  });
  return answer.status;
}

/** Keys in Redis but revocation counters, which outlive what they guard by design. */
async function storedKeys(): Promise<string[]> {
  return (await (await redis.admin()).keys('*')).filter((key) => !key.startsWith('jwt_revoked:'));
}

let laptopSession: Signed;
let phoneSession: Signed;

describe('the demo page', () => {
  test('is served at the link in the banner, offering the demo users the login accepts', async () => {
    expect(demoUrl).toBe(`${api.banner.httpApiUrl}/demo/`);
    const offered = await laptop.getByTestId('user-select').locator('option').allTextContents();
    expect(offered).toEqual([...DEMO_USERS]);
    expect(await laptop.getByTestId('signed-out-view').isVisible()).toBe(true);
    await screenshot(laptop, 'signed-out');
  });

  test("signs alice in from two browsers: two sessions, each with its browser's User-Agent and address", async () => {
    laptopSession = await signIn(laptop, 'alice');
    phoneSession = await signIn(phone, 'alice');
    expect(laptopSession.sid).not.toBe(phoneSession.sid);
    expect(await laptop.getByTestId('me-sub').textContent()).toBe('demo:alice');
    expect(await laptop.getByTestId('me-sid').textContent()).toBe(laptopSession.sid);

    await reload(laptop);
    const rows = await waitForRows(laptop, 2);
    expect(rows.map(({ sid, current, device }) => ({ sid, current, device })).sort((a, b) => a.device.localeCompare(b.device))).toEqual([
      { sid: laptopSession.sid, current: true, device: LAPTOP_AGENT },
      { sid: phoneSession.sid, current: false, device: PHONE_AGENT },
    ]);
    for (const { ip } of rows) expect(isIP(ip)).not.toBe(0);
    await screenshot(laptop, 'laptop-two-sessions');
    await screenshot(phone, 'phone-signed-in');

    // The service holds both: a session each, under the demo subject.
    for (const signed of [laptopSession, phoneSession]) {
      const me = await request(`${api.banner.baseUrl}/me`, { headers: { authorization: `Bearer ${signed.token}` } });
      expect(me).toMatchObject({ status: 200, body: { sub: 'demo:alice', sid: signed.sid } });
    }
  });

  test("ends the phone's session from the laptop; the phone sees its session end", async () => {
    await laptop.locator(`[data-testid="session-row"][data-sid="${phoneSession.sid}"] [data-testid="end-session"]`).click();
    await waitForStatus(laptop, /^Ended session /);
    expect(await waitForRows(laptop, 1)).toEqual([expect.objectContaining({ sid: laptopSession.sid, current: true })]);
    expect(await meStatus(phoneSession.token)).toBe(401);
    expect(await meStatus(laptopSession.token)).toBe(200);
    await screenshot(laptop, 'laptop-ended-phone-session');

    await reload(phone);
    await waitForEnded(phone, 'refresh-refused');
    await screenshot(phone, 'phone-session-ended');
  });

  test('logs out the other sessions from the laptop', async () => {
    phoneSession = await signIn(phone, 'alice');
    await reload(laptop);
    await waitForRows(laptop, 2);
    await laptop.getByTestId('logout-others').click();
    await waitForStatus(laptop, /^Logged out your other sessions/);
    expect(await waitForRows(laptop, 1)).toEqual([expect.objectContaining({ sid: laptopSession.sid, current: true })]);
    expect(await meStatus(phoneSession.token)).toBe(401);
    expect(await refreshStatus(phoneSession.refreshToken)).toBe(401);
    expect(await meStatus(laptopSession.token)).toBe(200);
    await screenshot(laptop, 'laptop-logged-out-others');

    await reload(phone);
    await waitForEnded(phone, 'refresh-refused');
    await screenshot(phone, 'phone-logged-out');
  });

  test('replays a stolen refresh token: the session ends, its newest tokens with it', async () => {
    await laptop.getByTestId('steal').click();
    await waitForStatus(laptop, /^The thief has a copy/);
    await screenshot(laptop, 'refresh-token-copied');

    const rotation = laptop.waitForResponse((response) => new URL(response.url()).pathname === '/auth/refresh');
    await laptop.getByTestId('rotate').click();
    const rotated = (await (await rotation).json()) as Signed;
    await waitForStatus(laptop, /^You refreshed/);
    expect(rotated.sid).toBe(laptopSession.sid);
    expect(await meStatus(rotated.token)).toBe(200);
    await screenshot(laptop, 'refreshed');

    const replay = laptop.waitForResponse((response) => new URL(response.url()).pathname === '/auth/refresh');
    await laptop.getByTestId('replay').click();
    expect((await replay).status()).toBe(401);
    await waitForStatus(laptop, /^Your next call fails: .*REFRESH_TOKEN_INVALID/);
    await waitForEnded(laptop, 'refresh-refused');
    await screenshot(laptop, 'replayed-session-ended');

    // Every token of the session is refused: the first pair and the one the refresh gave.
    expect(await meStatus(laptopSession.token)).toBe(401);
    expect(await meStatus(rotated.token)).toBe(401);
    expect(await refreshStatus(rotated.refreshToken)).toBe(401);
  });

  test('signs out', async () => {
    const signed = await signIn(laptop, 'bob');
    expect(await laptop.getByTestId('me-sub').textContent()).toBe('demo:bob');
    await laptop.getByTestId('sign-out').click();
    await waitForEnded(laptop, 'logged-out');
    expect(await meStatus(signed.token)).toBe(401);
    await screenshot(laptop, 'signed-out-again');
  });
});

// The handler's refusals are test/integration/demo-login.test.ts's: here, that both APIs serve them.
test.each(['REST API', 'HTTP API'])('POST /demo/login on the %s refuses an unknown user with a 400, and stores nothing', async (which) => {
  const before = await storedKeys();
  const base = which === 'REST API' ? api.banner.baseUrl : api.banner.httpApiUrl;
  const answer = await request(`${base}/demo/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'mallory' }),
  });
  expect(answer).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: 'username must be one of alice, bob, carol' } });
  expect(await storedKeys()).toEqual(before);
});
