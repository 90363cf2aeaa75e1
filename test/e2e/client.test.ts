// The client (client/) against `npm start`: a trusted backend signs in through the REST API with the API key,
// app sessions use both APIs, refresh (on demand, and once for concurrent callers of a refused token), list and
// end sessions, log out in each scope, and learn of their end when a replayed refresh token ends the session.
// Every answer the client gets is checked against docs/openapi.yaml on its way.
//
// REFRESH_REUSE_GRACE is 0: any refresh token presented a second time ends its session at once. So a client that
// ever refreshed twice with one token would end its own session, which the tests would see.
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { AuthBackend, AuthSession, memoryStorage, type FetchLike, type SessionEndedEvent, type SignResponseWithRefresh } from '../../client/src';
import { freePort } from '../../testkit/redis-server';
import { checkAgainstContract, startApi, type RunningApi } from './start-api';
import { rejection } from '../../testkit/client-errors';

jest.setTimeout(60_000);

const SIGN_API_KEY = randomBytes(20).toString('hex');

let api: RunningApi;
let backend: AuthBackend;

beforeAll(async () => {
  api = await startApi({
    PORT: String(await freePort()),
    LAMBDA_PORT: String(await freePort()),
    SIGN_API_KEY,
    JWT_SECRET: randomBytes(48).toString('base64'),
    REFRESH_REUSE_GRACE: '0',
  });
  backend = new AuthBackend({ baseUrl: api.banner.baseUrl, apiKey: api.banner.apiKey, fetch: contractChecked });
});

afterAll(async () => {
  await api?.stop();
});

type Api = 'rest' | 'http';

/** A session signed in by the backend and handed to an app client on `on`'s API; `ended` collects its end events. */
async function signedIn(sub: string, on: Api, extra: { device?: string } = {}) {
  const tokens = await backend.sign({
    sub,
    ttl: 600,
    refresh: true,
    claims: { role: 'reader' },
    ...(extra.device === undefined ? {} : { session: { device: extra.device } }),
  });
  const session = appSession(on);
  await session.start(tokens);
  const ended: SessionEndedEvent[] = [];
  session.on('ended', (event) => ended.push(event));
  return { session, tokens, ended };
}

function appSession(on: Api, storage = memoryStorage()): AuthSession {
  return new AuthSession({ baseUrl: on === 'rest' ? api.banner.baseUrl : api.banner.httpApiUrl, storage, fetch: contractChecked });
}

/** The platform's fetch, which first checks each answer the client gets against docs/openapi.yaml. */
const contractChecked: FetchLike = async (request) => {
  const response = await fetch(request);
  checkAgainstContract(request.url, request.method, { status: response.status, headers: response.headers, body: await response.clone().text() });
  return response;
};

/** How many refreshes rotated (not replayed) since `since` characters of the server's output. */
const rotations = (since: number) =>
  api
    .output()
    .slice(since)
    .match(/"outcome":"rotated"/g)?.length ?? 0;

describe('the client against npm start', () => {
  test('a backend signs in with a refresh token; one session used through both APIs: me, sessions, a forced refresh', async () => {
    const tokens = await backend.sign({ sub: 'alice', ttl: 600, refresh: true, claims: { role: 'admin' }, session: { device: 'Firefox (client e2e)' } });
    expect(tokens).toEqual({
      token: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 600,
      jti: expect.any(String),
      sid: expect.any(String),
      refreshToken: expect.any(String),
      refreshExpiresIn: 604_800,
    });
    // One storage, two clients: the same session through the HTTP API and the REST API.
    const storage = memoryStorage();
    const viaHttp = appSession('http', storage);
    const viaRest = appSession('rest', storage);
    await viaHttp.start(tokens);

    const me = { sub: 'alice', jti: tokens.jti, sid: tokens.sid, issuedAt: expect.any(Number), expiresAt: expect.any(Number), claims: { role: 'admin' } };
    expect(await viaHttp.me()).toEqual(me);
    expect(await viaRest.me()).toEqual(me);
    expect(await viaRest.sessions()).toEqual([
      { sid: tokens.sid, createdAt: expect.any(Number), expiresAt: expect.any(Number), device: 'Firefox (client e2e)', current: true },
    ]);

    await viaRest.refresh();
    const refreshed = await viaHttp.accessToken();
    expect(refreshed).not.toBe(tokens.token);
    expect(await viaHttp.me()).toMatchObject({ sub: 'alice', sid: tokens.sid, jti: expect.not.stringMatching(tokens.jti) });
    expect(await backend.introspect(refreshed)).toMatchObject({ active: true, sub: 'alice', sid: tokens.sid });
    // A refresh adds an access token to the session; the earlier one lives out its time.
    expect(await backend.introspect(tokens.token)).toMatchObject({ active: true });
  });

  test.each<[Api, number]>([
    ['rest', 401],
    ['http', 403],
  ])('on the %s API a refused access token (%i) is refreshed once for five concurrent callers, who then all get through', async (on) => {
    const { session, tokens, ended } = await signedIn(`concurrent-${on}`, on);
    // Revoking the access token alone leaves its session, and the refresh token, live.
    expect(await backend.revoke({ jti: tokens.jti })).toEqual({ revoked: 1 });
    const since = api.output().length;
    const answers = await Promise.all(Array.from({ length: 5 }, () => session.me()));
    expect(answers.map((answer) => answer.sid)).toEqual(Array(5).fill(tokens.sid));
    expect(new Set(answers.map((answer) => answer.jti)).size).toBe(1);
    expect(rotations(since)).toBe(1);
    expect(ended).toEqual([]);
  });

  test("endSession ends another of the caller's sessions, whose client learns of it at its next refresh", async () => {
    const first = await signedIn('bob', 'http');
    const second = await signedIn('bob', 'rest');
    const stranger = await signedIn('not-bob', 'http');

    expect((await first.session.sessions()).map(({ sid, current }) => [sid, current]).sort()).toEqual(
      [
        [first.tokens.sid, true],
        [second.tokens.sid, false],
      ].sort(),
    );
    expect(await rejection(first.session.endSession(stranger.tokens.sid))).toMatchObject({ code: 'SESSION_NOT_FOUND', status: 404 });
    await first.session.endSession(second.tokens.sid);

    const refused = await rejection(second.session.me());
    expect(refused).toMatchObject({ code: 'REFRESH_TOKEN_INVALID', status: 401 });
    expect(refused.message).not.toContain(second.tokens.refreshToken);
    expect(second.ended).toEqual([{ reason: 'refresh-refused' }]);
    expect(await second.session.isSignedIn()).toBe(false);
    expect([first.ended, stranger.ended]).toEqual([[], []]);
    expect((await first.session.me()).sub).toBe('bob');
  });

  test('logout: others keeps this session and ends the rest, local ends this one only, global ends all', async () => {
    const [one, two, three] = [await signedIn('carol', 'http'), await signedIn('carol', 'rest'), await signedIn('carol', 'http')];
    await one.session.logout({ scope: 'others' });
    expect(one.ended).toEqual([]);
    expect((await one.session.me()).sid).toBe(one.tokens.sid);
    for (const other of [two, three]) {
      expect(await rejection(other.session.me())).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
      expect(other.ended).toEqual([{ reason: 'refresh-refused' }]);
    }

    const [four, five] = [await signedIn('carol', 'rest'), await signedIn('carol', 'http')];
    const oneToken = await one.session.accessToken();
    await one.session.logout();
    expect(one.ended).toEqual([{ reason: 'logged-out' }]);
    expect(await one.session.isSignedIn()).toBe(false);
    expect(await backend.introspect(oneToken)).toEqual({ active: false });
    expect((await four.session.me()).sub).toBe('carol');

    await four.session.logout({ scope: 'global' });
    expect(four.ended).toEqual([{ reason: 'logged-out' }]);
    expect(await rejection(five.session.me())).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
    expect(five.ended).toEqual([{ reason: 'refresh-refused' }]);
  });

  test('a used refresh token replayed from a second client ends the session: both clients are told at their next refresh', async () => {
    const tokens: SignResponseWithRefresh = await backend.sign({ sub: 'dave', ttl: 600, refresh: true });
    const app = appSession('rest');
    const appEnded: SessionEndedEvent[] = [];
    app.on('ended', (event) => appEnded.push(event));
    await app.start(tokens);
    await app.refresh();
    const appToken = await app.accessToken();

    // A thief's copy of the first refresh token, used after the grace window (0 s here).
    const thief = appSession('http');
    const thiefEnded: SessionEndedEvent[] = [];
    thief.on('ended', (event) => thiefEnded.push(event));
    await thief.start(tokens);
    expect(await rejection(thief.refresh())).toMatchObject({ code: 'REFRESH_TOKEN_INVALID', status: 401 });
    expect(thiefEnded).toEqual([{ reason: 'refresh-refused' }]);

    // Reuse detection ended the session with every access token it issued: the app's is refused, its refresh too.
    expect(await backend.introspect(appToken)).toEqual({ active: false });
    expect(await rejection(app.me())).toMatchObject({ code: 'REFRESH_TOKEN_INVALID', status: 401 });
    expect(appEnded).toEqual([{ reason: 'refresh-refused' }]);
    expect(await rejection(app.me())).toMatchObject({ code: 'SIGNED_OUT' });
  });

  test('the backend revokes every session of a subject, and a wrong API key is refused', async () => {
    const one = await signedIn('erin', 'rest');
    const two = await signedIn('erin', 'http');
    expect(await backend.revoke({ sub: 'erin' })).toEqual({ revoked: 2 });
    for (const { session, ended } of [one, two]) {
      expect(await rejection(session.me())).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
      expect(ended).toEqual([{ reason: 'refresh-refused' }]);
    }
    expect(await backend.introspect('not a token')).toEqual({ active: false });

    const wrongKey = 'wrong-key-0123456789abcdefghij';
    const refused = await rejection(new AuthBackend({ baseUrl: api.banner.baseUrl, apiKey: wrongKey, fetch: contractChecked }).sign({ sub: 'erin' }));
    expect(refused).toMatchObject({ code: 'HTTP_ERROR', status: 403 });
    expect(refused.message).not.toContain(wrongKey);
  });
});
