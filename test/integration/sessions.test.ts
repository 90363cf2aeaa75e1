import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { INDEX_PREFIX, labelKey, newJti, SessionStore, subjectTag } from '../../shared/sessions/store';
import { TokenService } from '../../shared/auth/tokens';
import { TokenRevokedError } from '../../shared/errors';
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

    it('expires with its longest-lived token', async () => {
      await issue('alice', 100);
      await issue('alice', 500);
      await issue('alice', 200);
      const ttl = await (await server().admin()).ttl(indexOf('alice'));
      expect(ttl).toBeGreaterThanOrEqual(499);
      expect(ttl).toBeLessThanOrEqual(500);
    });

    it('prunes expired entries on the next sign, so it holds only live sessions', async () => {
      await issue('alice', 1);
      await issue('alice', 1);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      await issue('alice', 600);
      expect(await (await server().admin()).zCard(indexOf('alice'))).toBe(1);
    });

    it('is gone, with every label, once the last token has expired', async () => {
      await issue('alice', 1);
      await new Promise((resolve) => setTimeout(resolve, 2100));
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
      expect(listed.map((session) => session.jti)).toEqual([second.jti, first.jti]);
      expect(listed[0]).toEqual({ jti: second.jti, issuedAt: second.expiresAt - 60, expiresAt: second.expiresAt });
      expect(listed[1]).toEqual({ jti: first.jti, issuedAt: first.expiresAt - 300, expiresAt: first.expiresAt });
    });

    it('orders sessions signed within the same second by when they were signed', async () => {
      const issued = [];
      for (let i = 0; i < 5; i += 1) {
        issued.push(await issue('alice'));
        // Signs within the same millisecond are simultaneous: any order is right for them.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const listed = await sessions.list('alice', Math.floor(Date.now() / 1000));
      expect(listed.map((session) => session.jti)).toEqual(issued.map((token) => token.jti).reverse());
    });

    it('leaves out sessions that ended, expired, or whose label was lost', async () => {
      const ended = await issue('alice');
      const lost = await issue('alice');
      const live = await issue('alice');
      await sessions.end(ended.jti);
      await (await server().admin()).del(labelKey(lost.jti));
      expect((await sessions.list('alice', Math.floor(Date.now() / 1000))).map((s) => s.jti)).toEqual([live.jti]);
      expect(await sessions.list('alice', live.expiresAt)).toEqual([]);
      expect(await sessions.list('nobody', 0)).toEqual([]);
    });
  });

  describe('endOwn', () => {
    it("ends one of the caller's sessions", async () => {
      const kept = await issue('alice');
      const ended = await issue('alice');
      await expect(sessions.endOwn('alice', ended.jti)).resolves.toBe(true);
      await expect(tokens.verify(ended.token)).rejects.toThrow(TokenRevokedError);
      await expect(tokens.verify(kept.token)).resolves.toMatchObject({ jti: kept.jti });
      await expect(sessions.endOwn('alice', ended.jti)).resolves.toBe(false);
    });

    it("refuses another subject's jti and changes nothing", async () => {
      const bobs = await issue('bob');
      const before = await (await server().admin()).dbSize();
      await expect(sessions.endOwn('alice', bobs.jti)).resolves.toBe(false);
      await expect(sessions.endOwn('alice', 'not-a-jti')).resolves.toBe(false);
      await expect(sessions.endOwn('alice', newJti('alice'))).resolves.toBe(false);
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
          // Every token is either revoked, or alive and listed: none is alive and missing from the index.
          const listed = new Set((await sessions.list('alice', 0)).map((session) => session.jti));
          for (const { token, jti } of issued) {
            const alive = await tokens.verify(token).then(
              () => true,
              () => false,
            );
            expect({ jti, alive, listed: listed.has(jti) }).toEqual({ jti, alive, listed: alive });
          }
          await sessions.endAll('alice');
        }
      } finally {
        await Promise.all(racers.map((racer) => racer.connection.close()));
      }
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
