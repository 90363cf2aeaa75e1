// POST /auth/logout's scopes, logout-all, GET /auth/sessions, DELETE /auth/sessions/{sid} and POST /auth/revoke
// {sid} through the real handlers against a real redis-server: three sessions of one user and one of another,
// each with two access tokens and a refresh token; which of them die and which live, seen from another container.
import { expect } from '@jest/globals';
import type { ServiceOverrides } from '../../shared/services';
import { indexKey, subjectTag } from '../../shared/sessions/keys';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { keyspace, manualClock, REFRESH_REFUSED, SessionClient } from '../../testkit/session-client';

const SECRET = 'logout-scopes-secret-0123456789abcdefghijk';
const IDLE = 604_800;

/** A session as the tests hold it: its two access tokens (from sign, from one refresh) and its refresh token. */
interface Held {
  sid: string;
  tokens: [string, string];
  refreshToken: string;
}

type Fate = 'live' | 'dead';

describe('Logout scopes and session routes (real redis-server)', () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');

  const client = (overrides?: ServiceOverrides) => {
    const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' }, overrides);
    return new SessionClient(() => container);
  };

  /**
   * alice's sessions one, two and three (one and two with metadata), bob's one, each refreshed once; and a second
   * container, which checks every outcome.
   */
  async function world() {
    const clock = manualClock();
    const api = client({ now: clock.now });
    const elsewhere = client({ now: clock.now });
    const hold = async (sub: string, session?: Record<string, string>): Promise<Held> => {
      const signed = await api.signIn(sub, session === undefined ? {} : { session });
      clock.advance(1);
      const pair = await api.rotate(signed.refreshToken);
      clock.advance(1);
      return { sid: signed.sid, tokens: [signed.token, pair.token], refreshToken: pair.refreshToken };
    };
    const signedAt = clock.seconds();
    const sessions = {
      one: await hold('alice', { device: 'Firefox on Linux', ip: '203.0.113.7' }),
      two: await hold('alice', { device: 'Zoë’s phone', ip: '2001:db8::1' }),
      three: await hold('alice'),
      bobs: await hold('bob'),
    };
    /** Every session's fate on the next request: its access tokens first, then its refresh token (a live one rotates). */
    const fates = async (): Promise<Record<keyof typeof sessions, Fate>> => {
      const fate = async ({ tokens, refreshToken }: Held): Promise<Fate> => {
        const decisions = [await elsewhere.decide(tokens[0]), await elsewhere.decide(tokens[1])];
        const refreshed = await elsewhere.refresh(refreshToken);
        const live = [...decisions, refreshed.status === 200 ? 'allow' : 'deny'];
        if (refreshed.status !== 200) expect(refreshed.body).toEqual(REFRESH_REFUSED);
        // All of a session's tokens share its fate.
        expect(new Set(live).size).toBe(1);
        return live[0] === 'allow' ? 'live' : 'dead';
      };
      const entries = Object.entries(sessions) as Array<[keyof typeof sessions, Held]>;
      const out = {} as Record<keyof typeof sessions, Fate>;
      for (const [name, held] of entries) out[name] = await fate(held);
      return out;
    };
    return { clock, api, elsewhere, sessions, signedAt, fates };
  }
  const state = () => keyspace([server()]);

  describe('POST /auth/logout', () => {
    it.each([
      ['no body: this session (local)', undefined, { one: 'dead', two: 'live', three: 'live', bobs: 'live' }],
      ['an empty body: local', '', { one: 'dead', two: 'live', three: 'live', bobs: 'live' }],
      ['{}: local', '{}', { one: 'dead', two: 'live', three: 'live', bobs: 'live' }],
      ['{"scope":"local"}', '{"scope":"local"}', { one: 'dead', two: 'live', three: 'live', bobs: 'live' }],
      ['{"scope":"others"}: every other session of the caller', '{"scope":"others"}', { one: 'live', two: 'dead', three: 'dead', bobs: 'live' }],
      ['{"scope":"global"}: every session of the caller', '{"scope":"global"}', { one: 'dead', two: 'dead', three: 'dead', bobs: 'live' }],
    ])('%s', async (_, body, expected) => {
      const { api, sessions, fates } = await world();
      // Called with session one's older access token: the scope is about its session, not that token.
      expect(await api.logout(sessions.one.tokens[0], body)).toEqual({
        status: 204,
        body: {},
        headers: expect.objectContaining({ 'Cache-Control': 'no-store' }),
      });
      expect(await fates()).toEqual(expected);
    });

    it('logout-all is global', async () => {
      const { api, sessions, fates } = await world();
      expect((await api.logoutAll(sessions.two.tokens[1])).status).toBe(204);
      expect(await fates()).toEqual({ one: 'dead', two: 'dead', three: 'dead', bobs: 'live' });
    });

    it('others leaves the caller alone with its own session, and a new sign gets a session of its own', async () => {
      const { api, sessions } = await world();
      await api.logout(sessions.two.tokens[0], '{"scope":"others"}');
      const listed = (await api.sessions(sessions.two.tokens[1])).body.sessions as Array<{ sid: string }>;
      expect(listed.map((session) => session.sid)).toEqual([sessions.two.sid]);
      const fresh = await api.signIn('alice');
      expect(((await api.sessions(fresh.token)).body.sessions as Array<{ sid: string }>).map((session) => session.sid)).toEqual([fresh.sid, sessions.two.sid]);
    });

    it.each([
      ['an unknown scope', '{"scope":"all"}', /scope must be one of local, others, global/],
      ['a scope in capitals', '{"scope":"LOCAL"}', /scope must be one of/],
      ['a null scope', '{"scope":null}', /scope must be one of/],
      ['a number', '{"scope":1}', /scope must be one of/],
      ['a list', '{"scope":["global"]}', /scope must be one of/],
      ['an extra field', '{"scope":"local","sid":"x"}', /unknown field\(s\): "sid"/],
      ['the scope twice', '{"scope":"local","scope":"global"}', /gives the field "scope" more than once/],
      ['an array', '["global"]', /empty or a JSON object/],
      ['a bare string', '"global"', /empty or a JSON object/],
      ['null', 'null', /empty or a JSON object/],
      ['text', 'global', /not valid JSON/],
      ['whitespace', ' ', /not valid JSON/],
    ])('answers 400 to %s, and changes nothing', async (_, body, message) => {
      const { api, sessions, fates } = await world();
      const before = await state();
      const answer = await api.logout(sessions.one.tokens[1], body);
      expect(answer).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: expect.stringMatching(message) } });
      expect(await state()).toEqual(before);
      expect(await fates()).toEqual({ one: 'live', two: 'live', three: 'live', bobs: 'live' });
    });
  });

  describe('GET /auth/sessions', () => {
    it("lists the caller's live sessions, newest first: sid, createdAt, lastRefreshedAt once refreshed, expiresAt, device, ip, current", async () => {
      const { clock, api, sessions, signedAt } = await world();
      // Signed two seconds apart, each refreshed one second after its sign.
      const [one, two, three] = [signedAt, signedAt + 2, signedAt + 4];
      const plain = (await api.sign({ sub: 'alice', ttl: 300 })).body as { sid: string; token: string };
      const plainAt = clock.seconds();
      clock.advance(10);
      const refreshedAt = clock.seconds();
      const again = await api.rotate(sessions.two.refreshToken);
      const listed = await api.sessions(again.token);
      expect(listed).toEqual({ status: 200, body: expect.any(Object), headers: expect.objectContaining({ 'Cache-Control': 'no-store' }) });
      expect(listed.body).toEqual({
        sessions: [
          // Without a refresh token, it lasts as long as its access token.
          { sid: plain.sid, createdAt: plainAt, expiresAt: plainAt + 300, current: false },
          { sid: sessions.three.sid, createdAt: three, lastRefreshedAt: three + 1, expiresAt: three + 1 + IDLE, current: false },
          {
            sid: sessions.two.sid,
            createdAt: two,
            lastRefreshedAt: refreshedAt,
            expiresAt: refreshedAt + IDLE,
            device: 'Zoë’s phone',
            ip: '2001:db8::1',
            current: true,
          },
          {
            sid: sessions.one.sid,
            createdAt: one,
            lastRefreshedAt: one + 1,
            expiresAt: one + 1 + IDLE,
            device: 'Firefox on Linux',
            ip: '203.0.113.7',
            current: false,
          },
        ],
      });
      // current: the caller's own session, whichever of its tokens calls.
      const byOne = (await api.sessions(sessions.one.tokens[0])).body.sessions as Array<{ sid: string; current: boolean }>;
      expect(byOne.filter((session) => session.current).map((session) => session.sid)).toEqual([sessions.one.sid]);
      expect((await api.sessions(sessions.bobs.tokens[0])).body).toEqual({
        sessions: [{ sid: sessions.bobs.sid, createdAt: signedAt + 6, lastRefreshedAt: signedAt + 7, expiresAt: signedAt + 7 + IDLE, current: true }],
      });
      // A session ended is listed no more.
      await api.logout(sessions.three.tokens[1]);
      expect(((await api.sessions(again.token)).body.sessions as Array<{ sid: string }>).map((session) => session.sid)).toEqual([
        plain.sid,
        sessions.two.sid,
        sessions.one.sid,
      ]);
    });
  });

  describe('DELETE /auth/sessions/{sid}', () => {
    it('ends one of the caller’s sessions, all its tokens with it, and no other', async () => {
      const { api, sessions, fates } = await world();
      expect(await api.endSession(sessions.one.tokens[0], sessions.three.sid)).toMatchObject({ status: 204 });
      // Nothing of it is left in Redis, not even an entry in its subject's index.
      const admin = await server().admin();
      expect((await admin.keys('*')).filter((key) => key.includes(sessions.three.sid))).toEqual([]);
      expect((await admin.zRange(indexKey(subjectTag('alice')), 0, -1)).sort()).toEqual([sessions.one.sid, sessions.two.sid].sort());
      expect(await fates()).toEqual({ one: 'live', two: 'live', three: 'dead', bobs: 'live' });
      expect(await api.endSession(sessions.one.tokens[0], sessions.three.sid)).toMatchObject({ status: 404, body: { error: 'SESSION_NOT_FOUND' } });
    });

    it('takes the sid percent-encoded, as API Gateway may pass it, and may end the caller’s own session', async () => {
      const { api, sessions, fates } = await world();
      expect((await api.endSession(sessions.one.tokens[0], encodeURIComponent(sessions.two.sid))).status).toBe(204);
      expect((await api.endSession(sessions.one.tokens[1], sessions.one.sid)).status).toBe(204);
      expect(await fates()).toEqual({ one: 'dead', two: 'dead', three: 'live', bobs: 'live' });
    });

    it("answers 404 to another user's sid, exactly as to one that does not exist, and changes nothing", async () => {
      const { api, sessions, fates } = await world();
      const before = await state();
      const notFound = { status: 404, body: { error: 'SESSION_NOT_FOUND', message: 'no live session with that sid' }, headers: expect.any(Object) };
      // One letter changed: never the same sid, whatever its last letter was.
      const altered = `${sessions.one.sid.slice(0, -1)}${sessions.one.sid.endsWith('A') ? 'B' : 'A'}`;
      for (const sid of [sessions.bobs.sid, altered, 'nope', '%7Bnot%20a%20sid%7D']) {
        expect({ sid, answer: await api.endSession(sessions.one.tokens[0], sid) }).toEqual({ sid, answer: notFound });
      }
      expect(await state()).toEqual(before);
      expect(await fates()).toEqual({ one: 'live', two: 'live', three: 'live', bobs: 'live' });
    });
  });

  describe('POST /auth/revoke {sid}', () => {
    it('ends that session, whoever owns it, with all its tokens; 0 when it is not live', async () => {
      const { api, sessions, fates } = await world();
      expect(await api.revoke({ sid: sessions.two.sid })).toMatchObject({ status: 200, body: { revoked: 1 } });
      expect(await api.revoke({ sid: sessions.bobs.sid })).toMatchObject({ status: 200, body: { revoked: 1 } });
      expect(await api.revoke({ sid: sessions.two.sid })).toMatchObject({ status: 200, body: { revoked: 0 } });
      expect(await fates()).toEqual({ one: 'live', two: 'dead', three: 'live', bobs: 'dead' });
    });

    it.each([
      ['a sid not shaped as ours', { sid: 'x' }, /sid must be a sid issued by this service/],
      ['a sid and a jti', { sid: 'SID', jti: 'SID' }, /exactly one of/],
      ['a sid that is not a string', { sid: 42 }, /sid must be a sid/],
    ])('answers 400 to %s, and changes nothing', async (_, body, message) => {
      const { api, sessions, fates } = await world();
      const before = await state();
      const sent = JSON.parse(JSON.stringify(body).replaceAll('SID', sessions.one.sid)) as unknown;
      expect(await api.revoke(sent)).toMatchObject({ status: 400, body: { error: 'BAD_REQUEST', message: expect.stringMatching(message) } });
      expect(await state()).toEqual(before);
      expect(await fates()).toEqual({ one: 'live', two: 'live', three: 'live', bobs: 'live' });
    });
  });
});
