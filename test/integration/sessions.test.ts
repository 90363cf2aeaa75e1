import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { loadSessionConfig } from '../../shared/config';
import { SessionStore } from '../../shared/sessions/store';
import { INDEX_PREFIX, labelKey, newId, recordKey, REPLAY_PREFIX, subjectTag } from '../../shared/sessions/keys';
import { MAX_CLOCK_SKEW_SECONDS, MAX_TOKENS_PER_SESSION } from '../../shared/sessions/lua';
import { TokenService, type IssuedToken } from '../../shared/auth/tokens';
import { RefreshTokenInvalidError, TokenRevokedError } from '../../shared/errors';
import { useConnection, useRedisServer } from '../../testkit/fixtures';

const KEY_A = { kid: 'key-a', secret: 'session-tests-secret-a-0123456789abcdef' };
const KEY_B = { kid: 'key-b', secret: 'session-tests-secret-b-0123456789abcdef' };
const tokenConfig = (keys = [KEY_A]) => ({ keys, issuer: 'iss', audience: 'aud', defaultTtlSeconds: 900, maxTtlSeconds: 86_400 });
const indexOf = (sub: string) => `${INDEX_PREFIX}{${subjectTag(sub)}}`;

describe('Class: SessionStore (real redis-server)', () => {
  const server = useRedisServer({ flushEachTest: true });
  const connection = useConnection(server);
  let redis: RedisConnection;
  let sessions: SessionStore;
  let tokens: TokenService;

  const issue = (sub: string, ttlSeconds = 600) => tokens.issue({ sub, claims: {}, ttlSeconds });
  /** A session that can be refreshed, and `refreshes` access tokens more of it, each from the latest refresh token. */
  const refreshable = async (sub: string, refreshes = 0): Promise<{ sid: string; issued: IssuedToken[]; refreshToken: string }> => {
    const first = await tokens.issue({ sub, claims: {}, ttlSeconds: 600, refresh: true });
    const issued: IssuedToken[] = [first];
    let refreshToken = first.refresh?.token as string;
    for (let i = 0; i < refreshes; i += 1) {
      const next = await tokens.refresh(refreshToken);
      issued.push(next);
      refreshToken = next.refresh.token;
    }
    return { sid: first.sid, issued, refreshToken };
  };
  const isAlive = (token: string) =>
    tokens.verify(token).then(
      () => true,
      (error: unknown) => (error instanceof TokenRevokedError ? false : Promise.reject(error)),
    );
  const allAlive = async (issued: IssuedToken[]) => Promise.all(issued.map(({ token }) => isAlive(token)));

  beforeAll(() => setLogLevel('silent'));

  beforeEach(() => {
    redis = connection();
    sessions = new SessionStore(redis);
    tokens = new TokenService(redis, sessions, tokenConfig());
  });

  describe('the index', () => {
    it('keeps every key of a subject in one cluster slot', async () => {
      const { jti } = await issue('alice');
      // Redis Cluster hashes only the first {…} of a key: the same tag means the same slot.
      const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
      expect(tag(labelKey(jti))).toBe(subjectTag('alice'));
      expect(tag(indexOf('alice'))).toBe(subjectTag('alice'));
      expect(tag(labelKey((await issue('bob')).jti))).not.toBe(subjectTag('alice'));
    });

    // Everything a session keeps lives MAX_CLOCK_SKEW_SECONDS past its end, for containers whose clocks differ.
    it('expires with its longest-lived token', async () => {
      await issue('alice', 100);
      await issue('alice', 500);
      await issue('alice', 200);
      const ttl = await (await server().admin()).ttl(indexOf('alice'));
      expect(ttl).toBeGreaterThanOrEqual(499 + MAX_CLOCK_SKEW_SECONDS);
      expect(ttl).toBeLessThanOrEqual(500 + MAX_CLOCK_SKEW_SECONDS);
    });

    it('prunes entries ended by every clock on the next sign, so it holds only live sessions', async () => {
      let nowMs = Date.now();
      tokens = new TokenService(redis, sessions, tokenConfig(), undefined, () => nowMs);
      await issue('alice', 1);
      await issue('alice', 1);
      // Ended by this clock, not yet by one MAX_CLOCK_SKEW_SECONDS behind: kept.
      nowMs += (1 + MAX_CLOCK_SKEW_SECONDS - 1) * 1000;
      await issue('alice', 600);
      expect(await (await server().admin()).zCard(indexOf('alice'))).toBe(3);
      nowMs += 2000;
      await issue('alice', 600);
      expect(await (await server().admin()).zCard(indexOf('alice'))).toBe(2);
    });

    it('is gone, with every label, once the last token has expired', async () => {
      await issue('alice', 1);
      await new Promise((resolve) => setTimeout(resolve, (1 + MAX_CLOCK_SKEW_SECONDS) * 1000 + 1100));
      expect(await (await server().admin()).dbSize()).toBe(0);
    });
  });

  describe('list', () => {
    it('returns live sessions newest first, with issue and expiry times', async () => {
      const first = await issue('alice', 300);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const second = await issue('alice', 60);
      await issue('bob');
      const now = Math.floor(Date.now() / 1000);
      const listed = await sessions.list('alice', now);
      expect(listed.map((session) => session.sid)).toEqual([second.sid, first.sid]);
      expect(listed[0]).toEqual({ sid: second.sid, createdAt: second.expiresAt - 60, expiresAt: second.expiresAt });
      expect(listed[1]).toEqual({ sid: first.sid, createdAt: first.expiresAt - 300, expiresAt: first.expiresAt });
    });

    it('shows what sign was told of the login, and when a session was last refreshed; it lasts as long as its refresh token', async () => {
      const signed = await tokens.issue({
        sub: 'alice',
        claims: {},
        ttlSeconds: 60,
        refresh: true,
        session: { device: 'Firefox on Linux', ip: '2001:db8::1' },
      });
      const [listed] = await sessions.list('alice', Math.floor(Date.now() / 1000));
      const createdAt = signed.expiresAt - 60;
      expect(listed).toEqual({
        sid: signed.sid,
        createdAt,
        expiresAt: createdAt + sessions.limits.refreshIdleTtlSeconds,
        device: 'Firefox on Linux',
        ip: '2001:db8::1',
      });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const refreshed = await tokens.refresh(signed.refresh?.token as string);
      const refreshedAt = refreshed.expiresAt - 60;
      expect(await sessions.list('alice', refreshedAt)).toEqual([
        {
          sid: signed.sid,
          createdAt,
          lastRefreshedAt: refreshedAt,
          expiresAt: refreshedAt + sessions.limits.refreshIdleTtlSeconds,
          device: 'Firefox on Linux',
          ip: '2001:db8::1',
        },
      ]);
    });

    it('orders sessions signed within the same second by when they were signed', async () => {
      const issued = [];
      for (let i = 0; i < 5; i += 1) {
        issued.push(await issue('alice'));
        // Signs within the same millisecond are simultaneous: any order is right for them.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const listed = await sessions.list('alice', Math.floor(Date.now() / 1000));
      expect(listed.map((session) => session.sid)).toEqual(issued.map((token) => token.sid).reverse());
    });

    it('leaves out sessions that ended, expired, or whose record was lost', async () => {
      const ended = await issue('alice');
      const lost = await issue('alice');
      const live = await issue('alice');
      await sessions.end(ended.sid);
      await (await server().admin()).del(recordKey(lost.sid));
      expect((await sessions.list('alice', Math.floor(Date.now() / 1000))).map((s) => s.sid)).toEqual([live.sid]);
      expect(await sessions.list('alice', live.expiresAt)).toEqual([]);
      expect(await sessions.list('nobody', 0)).toEqual([]);
    });
  });

  describe('endOwn', () => {
    it("ends one of the caller's sessions", async () => {
      const kept = await issue('alice');
      const ended = await issue('alice');
      await expect(sessions.endOwn('alice', ended.sid)).resolves.toBe(true);
      await expect(tokens.verify(ended.token)).rejects.toThrow(TokenRevokedError);
      await expect(tokens.verify(kept.token)).resolves.toMatchObject({ jti: kept.jti });
      await expect(sessions.endOwn('alice', ended.sid)).resolves.toBe(false);
    });

    it("refuses another subject's sid and changes nothing", async () => {
      const bobs = await issue('bob');
      const before = await (await server().admin()).dbSize();
      await expect(sessions.endOwn('alice', bobs.sid)).resolves.toBe(false);
      await expect(sessions.endOwn('alice', 'not-a-sid')).resolves.toBe(false);
      await expect(sessions.endOwn('alice', newId('alice'))).resolves.toBe(false);
      await expect(tokens.verify(bobs.token)).resolves.toMatchObject({ sub: 'bob' });
      expect(await (await server().admin()).dbSize()).toBe(before);
    });
  });

  describe('endAll', () => {
    it("ends every session of one subject and no one else's", async () => {
      const alices = await Promise.all([issue('alice'), issue('alice'), issue('alice')]);
      const bobs = await issue('bob');
      await expect(sessions.endAll('alice')).resolves.toBe(3);
      for (const { token } of alices) await expect(tokens.verify(token)).rejects.toThrow(TokenRevokedError);
      await expect(tokens.verify(bobs.token)).resolves.toMatchObject({ sub: 'bob' });
      expect(await (await server().admin()).exists(indexOf('alice'))).toBe(0);
      await expect(sessions.endAll('alice')).resolves.toBe(0);
    });

    it('never leaves a token alive outside the index while signs race it', async () => {
      // Several rounds of 40 signs racing one logout-all, on separate connections like separate containers.
      const racers = Array.from({ length: 4 }, () => {
        const connection = new RedisConnection({ url: server().url, timeoutMs: 2000 });
        const store = new SessionStore(connection);
        return { connection, tokens: new TokenService(connection, store, tokenConfig()) };
      });
      try {
        for (let round = 0; round < 5; round += 1) {
          const signing = Array.from({ length: 40 }, (_, i) => racers[i % racers.length]!.tokens.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 }));
          await new Promise((resolve) => setImmediate(resolve));
          const ended = sessions.endAll('alice');
          const issued = await Promise.all(signing);
          await ended;
          // Every token is either revoked, or alive and its session listed: none is alive and missing from the index.
          const listed = new Set((await sessions.list('alice', 0)).map((session) => session.sid));
          for (const { token, sid } of issued) {
            const alive = await isAlive(token);
            expect({ sid, alive, listed: listed.has(sid) }).toEqual({ sid, alive, listed: alive });
          }
          await sessions.endAll('alice');
        }
      } finally {
        await Promise.all(racers.map((racer) => racer.connection.close()));
      }
    });
  });

  describe('end', () => {
    it('ends every access token the session issued, refreshes included, and its refresh token', async () => {
      const session = await refreshable('alice', 3);
      const other = await refreshable('alice', 1);
      expect(await allAlive(session.issued)).toEqual([true, true, true, true]);
      const admin = await server().admin();
      expect(await admin.exists([recordKey(session.sid), `${REPLAY_PREFIX}${session.sid}`])).toBe(2);
      await expect(sessions.end(session.sid)).resolves.toBe(true);
      expect(await allAlive(session.issued)).toEqual([false, false, false, false]);
      await expect(tokens.refresh(session.refreshToken)).rejects.toThrow(RefreshTokenInvalidError);
      expect(await admin.exists([recordKey(session.sid), `${REPLAY_PREFIX}${session.sid}`])).toBe(0);
      // The subject's other session is untouched.
      expect(await allAlive(other.issued)).toEqual([true, true]);
      await expect(tokens.refresh(other.refreshToken)).resolves.toMatchObject({ sid: other.sid });
      await expect(sessions.end(session.sid)).resolves.toBe(false);
    });
  });

  describe('endOthers', () => {
    it("ends every other session of the subject, and keeps the kept one and other subjects' whole", async () => {
      const kept = await refreshable('alice', 2);
      const others = [await refreshable('alice', 1), await refreshable('alice')];
      const bobs = await refreshable('bob');
      await expect(sessions.endOthers('alice', kept.sid)).resolves.toBe(2);
      for (const other of others) {
        expect(await allAlive(other.issued)).toEqual(other.issued.map(() => false));
        await expect(tokens.refresh(other.refreshToken)).rejects.toThrow(RefreshTokenInvalidError);
      }
      expect(await allAlive(kept.issued)).toEqual([true, true, true]);
      expect(await allAlive(bobs.issued)).toEqual([true]);
      expect((await sessions.list('alice', Math.floor(Date.now() / 1000))).map((session) => session.sid)).toEqual([kept.sid]);
      await expect(tokens.refresh(kept.refreshToken)).resolves.toMatchObject({ sid: kept.sid });
      await expect(sessions.endOthers('alice', kept.sid)).resolves.toBe(0);
    });
  });

  describe('endToken', () => {
    it('ends one access token and leaves its session, and its other tokens, alive', async () => {
      const session = await refreshable('alice', 1);
      const [first, second] = session.issued as [IssuedToken, IssuedToken];
      await expect(sessions.endToken(first.jti)).resolves.toBe(true);
      expect(await allAlive(session.issued)).toEqual([false, true]);
      expect((await sessions.list('alice', Math.floor(Date.now() / 1000))).map((listed) => listed.sid)).toEqual([session.sid]);
      const third = await tokens.refresh(session.refreshToken);
      await expect(isAlive(third.token)).resolves.toBe(true);
      await expect(sessions.endToken(first.jti)).resolves.toBe(false);
      await expect(sessions.endToken('not-a-jti')).resolves.toBe(false);
      expect(await allAlive([second, third])).toEqual([true, true]);
    });
  });

  describe("a session's access tokens", () => {
    it(`stay at most ${MAX_TOKENS_PER_SESSION} alive at once: each refresh beyond ends the oldest`, async () => {
      const session = await refreshable('alice', MAX_TOKENS_PER_SESSION - 1);
      expect(await allAlive(session.issued)).toEqual(session.issued.map(() => true));
      const next = await tokens.refresh(session.refreshToken);
      expect(await allAlive([...session.issued, next])).toEqual([false, ...session.issued.slice(1).map(() => true), true]);
      const after = await tokens.refresh(next.refresh.token);
      expect(await allAlive([...session.issued, next, after])).toEqual([false, false, ...session.issued.slice(2).map(() => true), true, true]);
      // The record lists exactly the live ones, so ending the session stays bounded.
      const listedTokens = (await (await server().admin()).hGet(recordKey(session.sid), 'tokens'))?.trim().split(' ') ?? [];
      expect(listedTokens.filter((_, i) => i % 2 === 0)).toEqual([...session.issued.slice(2), next, after].map(({ jti }) => jti));
    });

    it('without a refresh token, are the whole session: its record and index entry live exactly as long as its token', async () => {
      const admin = await server().admin();
      const once = await issue('alice', 600);
      const recordTtl = await admin.pTTL(recordKey(once.sid));
      expect(recordTtl).toBeGreaterThan(598_000 + MAX_CLOCK_SKEW_SECONDS * 1000);
      expect(recordTtl).toBeLessThanOrEqual(600_000 + MAX_CLOCK_SKEW_SECONDS * 1000);
      expect(await admin.zScore(indexOf('alice'), once.sid)).toBe(once.expiresAt);
      // Refreshable, the session outlives its access token: until its refresh token expires.
      const { sid, issued } = await refreshable('alice');
      const refreshTtl = await admin.pTTL(recordKey(sid));
      expect(refreshTtl).toBeGreaterThan((sessions.limits.refreshIdleTtlSeconds - 2) * 1000);
      expect(await admin.zScore(indexOf('alice'), sid)).toBe((issued[0] as IssuedToken).expiresAt - 600 + sessions.limits.refreshIdleTtlSeconds);
    });
  });

  describe('the session cap (MAX_SESSIONS, SESSION_LIMIT=end-oldest)', () => {
    it('ends the oldest session by when it was created, with every access token and the refresh token it issued', async () => {
      const capped = new SessionStore(redis, 0, { ...loadSessionConfig({ MAX_SESSIONS: '2' }), maxTtlSeconds: 86_400 });
      tokens = new TokenService(redis, capped, tokenConfig());
      const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
      const oldest = await refreshable('alice');
      await pause();
      const middle = await refreshable('alice');
      await pause();
      // Refreshed last: the oldest session is still the first created.
      const refreshed = [await tokens.refresh(oldest.refreshToken)];
      refreshed.push(await tokens.refresh(refreshed[0]!.refresh.token));
      const newest = await issue('alice');

      expect(await allAlive([...oldest.issued, ...refreshed])).toEqual([false, false, false]);
      await expect(tokens.refresh(refreshed[1]!.refresh.token)).rejects.toThrow(RefreshTokenInvalidError);
      expect(await (await server().admin()).exists(recordKey(oldest.sid))).toBe(0);
      expect(await allAlive([...middle.issued, newest])).toEqual([true, true]);
      expect((await capped.list('alice', Math.floor(Date.now() / 1000))).map((session) => session.sid)).toEqual([newest.sid, middle.sid]);
    });
  });

  describe('endEverything (the kill switch)', () => {
    it('revokes every live token of every subject', async () => {
      const issued = await Promise.all(['alice', 'bob', 'carol'].flatMap((sub) => [issue(sub), issue(sub)]));
      await (await server().admin()).set('unrelated', 'kept');
      await expect(sessions.endEverything()).resolves.toBe(6);
      for (const { token } of issued) await expect(tokens.verify(token)).rejects.toThrow(TokenRevokedError);
      // Counters stay, each expiring with its subject's last label: they keep dead what they revoked.
      const admin = await server().admin();
      const left = await admin.keys('*');
      expect(left.filter((key) => !key.startsWith('jwt_revoked:'))).toEqual(['unrelated']);
      for (const key of left.filter((name) => name.startsWith('jwt_revoked:'))) expect(await admin.pTTL(key)).toBeGreaterThan(0);
    });
  });

  describe('key rotation', () => {
    it('signs with the newest key, verifies older keys until they are removed', async () => {
      const oldToken = await issue('alice');
      const rotated = new TokenService(redis, sessions, tokenConfig([KEY_B, KEY_A]));
      const newToken = await rotated.issue({ sub: 'alice', claims: {}, ttlSeconds: 600 });
      expect(newToken.kid).toBe('key-b');
      await expect(rotated.verify(oldToken.token)).resolves.toMatchObject({ jti: oldToken.jti });
      await expect(rotated.verify(newToken.token)).resolves.toMatchObject({ jti: newToken.jti });

      const retired = new TokenService(redis, sessions, tokenConfig([KEY_B]));
      await expect(retired.verify(oldToken.token)).rejects.toThrow(/not in the ring/);
      await expect(retired.verify(newToken.token)).resolves.toMatchObject({ jti: newToken.jti });
    });
  });
});
