import { createSecretKey } from 'node:crypto';
import { expect } from '@jest/globals';
import fc from 'fast-check';
import jsonwebtoken from 'jsonwebtoken';
import JWTR, { TokenDestroyedError } from 'jwt-redis';
import type { RedisClientType } from 'redis';
import type { TokenConfig } from '../../shared/config';
import {
  StoreUnavailableError,
  TokenExpiredError,
  TokenInvalidError,
  TokenMalformedError,
  TokenNotYetValidError,
  TokenRevokedError,
} from '../../shared/errors';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { isId, labelKey, newId } from '../../shared/sessions/keys';
import { RESERVED_CLAIMS, TokenService } from '../../shared/auth/tokens';
import { forgeJws } from '../../testkit/jws';
import { useConnection, useRedisServer } from '../../testkit/fixtures';
import type { RedisServer } from '../../testkit/redis-server';

const SECRET = 'integration-secret-0123456789-abcdefghij';
const config: TokenConfig = {
  keys: [{ kid: 'default', secret: SECRET }],
  issuer: 'test-issuer',
  audience: 'test-audience',
  defaultTtlSeconds: 900,
  maxTtlSeconds: 86_400,
};

/** Signs like the service would, but lets a test choose every claim and option. */
function forge(payload: object, options: jsonwebtoken.SignOptions = {}, secret: string = SECRET): string {
  const signOptions: jsonwebtoken.SignOptions = {
    algorithm: 'HS256',
    keyid: 'default',
    issuer: config.issuer,
    audience: config.audience,
    subject: 'user-1',
    expiresIn: 60,
    ...options,
  };
  // jsonwebtoken rejects an option present as undefined: a test passes undefined to leave it out.
  for (const [name, value] of Object.entries(signOptions)) {
    if (value === undefined) delete signOptions[name as keyof jsonwebtoken.SignOptions];
  }
  return jsonwebtoken.sign({ jti: newId('user-1'), ...payload }, secret, signOptions);
}

async function storeLabel(server: RedisServer, token: string): Promise<void> {
  const { jti } = jsonwebtoken.decode(token) as { jti: string };
  await (await server.admin()).set(labelKey(jti), 'true', { EX: 60 });
}

describe('Class: TokenService (real redis-server)', () => {
  const server = useRedisServer({ flushEachTest: true });
  const connection = useConnection(server);
  let redis: RedisConnection;
  let sessions: SessionStore;
  let tokens: TokenService;

  beforeAll(() => setLogLevel('silent'));

  beforeEach(() => {
    redis = connection();
    sessions = new SessionStore(redis);
    tokens = new TokenService(redis, sessions, config);
  });

  describe('issue', () => {
    it('signs an HS256 token with every required claim and stores its label with the token lifetime as TTL', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: { role: 'admin' }, ttlSeconds: 600 });

      const { header, payload } = jsonwebtoken.decode(issued.token, { complete: true }) as jsonwebtoken.Jwt & { payload: jsonwebtoken.JwtPayload };
      expect(header).toMatchObject({ alg: 'HS256', kid: 'default' });
      expect(payload).toMatchObject({ sub: 'user-1', role: 'admin', iss: 'test-issuer', aud: 'test-audience', jti: issued.jti, sid: issued.sid });
      expect(payload.exp).toBe((payload.iat ?? 0) + 600);
      expect(issued).toMatchObject({ sub: 'user-1', expiresIn: 600, expiresAt: payload.exp });
      const ttl = await (await server().admin()).ttl(labelKey(issued.jti));
      expect(ttl).toBeGreaterThanOrEqual(599);
      expect(ttl).toBeLessThanOrEqual(601);
    });

    it('gives a 1-second token a label too', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 1 });
      expect(await (await server().admin()).exists(labelKey(issued.jti))).toBe(1);
    });

    it('makes, byte for byte, the token jsonwebtoken.sign makes of the same claims and key', async () => {
      const claimName = fc.string({ unit: 'binary', maxLength: 12 }).filter((name) => !RESERVED_CLAIMS.has(name) && !(name in Object.prototype));
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(claimName, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
          async (claims, sub) => {
            const issued = await tokens.issue({ sub, claims, ttlSeconds: 600 });
            const { iat } = jsonwebtoken.decode(issued.token) as jsonwebtoken.JwtPayload;
            const payload = { ...claims, sid: issued.sid, jti: issued.jti, iat, exp: issued.expiresAt };
            const expected = jsonwebtoken.sign(payload, createSecretKey(Buffer.from(SECRET, 'utf8')), {
              algorithm: 'HS256',
              keyid: 'default',
              subject: sub,
              issuer: config.issuer,
              audience: config.audience,
            });
            expect(issued.token).toBe(expected);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('uses a fresh jti and a fresh sid with 128 random bits each for every token', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 50; i += 1) {
        const { jti, sid } = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
        ids.add(jti).add(sid);
      }
      expect(ids.size).toBe(100);
      for (const id of ids) expect(Buffer.from(id.split('}')[1] ?? '', 'base64url')).toHaveLength(16);
    });
  });

  describe('verify', () => {
    it('accepts a live token and returns its identity and custom claims', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: { role: 'admin', n: 1 }, ttlSeconds: 60 });
      await expect(tokens.verify(issued.token)).resolves.toEqual({
        sub: 'user-1',
        jti: issued.jti,
        sid: issued.sid,
        iat: expect.any(Number),
        exp: issued.expiresAt,
        claims: { role: 'admin', n: 1 },
      });
    });

    it("keeps jwt-redis's allowlist: jwt-redis over the same Redis accepts a live token, and refuses it once it is logged out", async () => {
      const jwtr = new JWTR((await server().admin()) as unknown as RedisClientType);
      const issued = await tokens.issue({ sub: 'user-1', claims: { role: 'admin' }, ttlSeconds: 60 });
      await expect(jwtr.verify(issued.token, SECRET, { algorithms: ['HS256'], issuer: config.issuer, audience: config.audience })).resolves.toMatchObject({
        sub: 'user-1',
        jti: issued.jti,
        role: 'admin',
      });
      await expect(sessions.end(issued.sid)).resolves.toBe(true);
      await expect(jwtr.verify(issued.token, SECRET)).rejects.toThrow(TokenDestroyedError);
      // And jwt-redis's own destroy kills our tokens.
      const other = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await expect(jwtr.destroy(other.jti)).resolves.toBe(true);
      await expect(tokens.verify(other.token)).rejects.toThrow(TokenRevokedError);
    });

    it('refuses a revoked token', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await expect(sessions.endToken(issued.jti)).resolves.toBe(true);
      await expect(tokens.verify(issued.token)).rejects.toThrow(TokenRevokedError);
      await expect(sessions.endToken(issued.jti)).resolves.toBe(false);
    });

    it('refuses a token whose session ended', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await expect(sessions.end(issued.sid)).resolves.toBe(true);
      await expect(tokens.verify(issued.token)).rejects.toThrow(TokenRevokedError);
      await expect(sessions.end(issued.sid)).resolves.toBe(false);
    });

    it('refuses a token whose label was lost with the Redis data (fails closed)', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await (await server().admin()).flushAll();
      await expect(tokens.verify(issued.token)).rejects.toThrow(TokenRevokedError);
    });

    it('refuses a token signed with another secret', async () => {
      const forged = forge({}, {}, 'another-secret-of-the-same-length-000000');
      await storeLabel(server(), forged);
      await expect(tokens.verify(forged)).rejects.toThrow(TokenInvalidError);
    });

    it('refuses a tampered payload', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: { role: 'user' }, ttlSeconds: 60 });
      const [header, payload, signature] = issued.token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      const tampered = [header, Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url'), signature].join('.');
      await expect(tokens.verify(tampered)).rejects.toThrow(TokenInvalidError);
    });

    it('refuses an expired token even while its label exists', async () => {
      const expired = forge({ exp: Math.floor(Date.now() / 1000) - 10 }, { expiresIn: undefined });
      await storeLabel(server(), expired);
      await expect(tokens.verify(expired)).rejects.toThrow(TokenExpiredError);
    });

    it('refuses a token that is not valid yet', async () => {
      const early = forge({}, { notBefore: 60 });
      await storeLabel(server(), early);
      await expect(tokens.verify(early)).rejects.toThrow(TokenNotYetValidError);
    });

    it('holds exp and nbf to the second: expired from exp on, valid from nbf on', async () => {
      const now = Math.floor(Date.now() / 1000);
      const at = jest.spyOn(Date, 'now').mockReturnValue(now * 1000 + 999);
      try {
        const outcome = (token: string) =>
          tokens.verify(token).then(
            () => 'allowed',
            (error: { code: string }) => error.code,
          );
        const cases = {
          lastSecond: forge({ exp: now + 1 }, { expiresIn: undefined }),
          expiring: forge({ exp: now }, { expiresIn: undefined }),
          startsNow: forge({ nbf: now }),
          startsNext: forge({ nbf: now + 1 }),
        };
        for (const token of Object.values(cases)) await storeLabel(server(), token);
        const outcomes = Object.fromEntries(await Promise.all(Object.entries(cases).map(async ([name, token]) => [name, await outcome(token)] as const)));
        expect(outcomes).toEqual({ lastSecond: 'allowed', expiring: 'TOKEN_EXPIRED', startsNow: 'allowed', startsNext: 'TOKEN_NOT_YET_VALID' });
      } finally {
        at.mockRestore();
      }
    });

    it('takes an audience list that holds ours (RFC 7519), and only our issuer, spelled as a string', async () => {
      const outcome = async (payload: object) => {
        const token = forge(payload, { audience: undefined, issuer: undefined });
        await storeLabel(server(), token);
        return tokens.verify(token).then(
          () => 'allowed',
          (error: { message: string }) => error.message,
        );
      };
      const iss = config.issuer;
      expect({
        listWithOurs: await outcome({ iss, aud: ['another-api', config.audience] }),
        listWithout: await outcome({ iss, aud: ['another-api'] }),
        emptyList: await outcome({ iss, aud: [] }),
        issuerList: await outcome({ iss: [iss], aud: config.audience }),
        noIssuer: await outcome({ aud: config.audience }),
      }).toEqual({
        listWithOurs: 'allowed',
        listWithout: 'token aud is not test-audience',
        emptyList: 'token aud is not test-audience',
        issuerList: 'token iss is not test-issuer',
        noIssuer: 'token iss is not test-issuer',
      });
    });

    it('refuses a token without exp', async () => {
      const eternal = forge({}, { expiresIn: undefined });
      await storeLabel(server(), eternal);
      await expect(tokens.verify(eternal)).rejects.toThrow(/no valid exp claim/);
    });

    it.each([
      ['issuer', { issuer: 'someone-else' }],
      ['audience', { audience: 'another-api' }],
    ])('refuses a token for the wrong %s', async (_, options) => {
      const token = forge({}, options);
      await storeLabel(server(), token);
      await expect(tokens.verify(token)).rejects.toThrow(TokenInvalidError);
    });

    it.each(['HS384', 'HS512'] as const)('pins HS256: refuses %s even with the right secret', async (algorithm) => {
      const token = forge({}, { algorithm });
      await storeLabel(server(), token);
      await expect(tokens.verify(token)).rejects.toThrow(/token alg must be HS256/);
    });

    it('refuses alg "none"', async () => {
      const unsigned = forge({}, { algorithm: 'none' }, '');
      await storeLabel(server(), unsigned);
      await expect(tokens.verify(unsigned)).rejects.toThrow(TokenInvalidError);
    });

    it('refuses a token without jti', async () => {
      const key = createSecretKey(Buffer.from(SECRET));
      const token = jsonwebtoken.sign({}, key, {
        algorithm: 'HS256',
        keyid: 'default',
        issuer: config.issuer,
        audience: config.audience,
        subject: 'u',
        expiresIn: 60,
      });
      await expect(tokens.verify(token)).rejects.toThrow(TokenInvalidError);
    });

    it.each(['not-a-jwt', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30'])('refuses the malformed token %p', async (token) => {
      await expect(tokens.verify(token)).rejects.toThrow(TokenMalformedError);
    });

    describe('signed with our key, with claims we would never sign', () => {
      const now = Math.floor(Date.now() / 1000);
      const jti = newId('user-1');
      /** Everything right, as JSON texts: a case replaces one of them, so that only it can be at fault. */
      const valid: Record<string, string> = {
        sub: '"user-1"',
        jti: JSON.stringify(jti),
        iat: String(now),
        exp: String(now + 60),
        iss: JSON.stringify(config.issuer),
        aud: JSON.stringify(config.audience),
      };
      /** Our header, our key: only the payload can be wrong. `payload` is JSON text, so 1e400 can be written. */
      const signed = (payload: string) => forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid: 'default' }, payload, secret: SECRET });
      const withClaims = (changes: Record<string, string | undefined>) => {
        const claims = { ...valid, ...changes };
        return signed(
          `{${Object.entries(claims)
            .flatMap(([name, text]) => (text === undefined ? [] : [`${JSON.stringify(name)}:${text}`]))
            .join(',')}}`,
        );
      };
      /** An object `levels` deep: as a claim, it puts the claims one level deeper. */
      const nestedObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

      beforeEach(async () => {
        await (await server().admin()).set(labelKey(jti), 'true', { EX: 60 });
      });

      it('allows the same token with every claim right (the control), with a sid of its subject or none (signed before sessions)', async () => {
        await expect(tokens.verify(withClaims({}))).resolves.toEqual({ sub: 'user-1', jti, iat: now, exp: now + 60, claims: {} });
        await expect(tokens.verify(withClaims({ nbf: String(now - 1), deep: nestedObject(31) }))).resolves.toMatchObject({ jti });
        const sid = newId('user-1');
        await expect(tokens.verify(withClaims({ sid: JSON.stringify(sid) }))).resolves.toMatchObject({ jti, sid, claims: {} });
      });

      const absurdDates = [
        '1e20',
        '-1e20',
        '1e308',
        '-1e308',
        '1e400',
        '-1',
        '1.5',
        `${now + 60}.5`,
        '"1700000000"',
        'null',
        'true',
        '{}',
        '[]',
        '253402300800',
      ];
      const absurd: Array<[string, Record<string, string | undefined>]> = [
        ...absurdDates.flatMap((text) => ['exp', 'nbf', 'iat'].map((name): [string, Record<string, string>] => [`${name} ${text}`, { [name]: text }])),
        ['no exp', { exp: undefined }],
        ['no iat', { iat: undefined }],
        ...['{}', '5', `[${JSON.stringify(jti)}]`, 'null', '""'].map((text): [string, Record<string, string>] => [`jti ${text}`, { jti: text }]),
        ...['{}', '5', '["user-1"]', 'null', '""'].map((text): [string, Record<string, string>] => [`sub ${text}`, { sub: text }]),
        // A sid names the session a logout ends: only one of the token's own subject's.
        ...['{}', '5', `[${JSON.stringify(newId('user-1'))}]`, 'null', '""', '"not-a-sid"', JSON.stringify(newId('user-2'))].map(
          (text): [string, Record<string, string>] => [`sid ${text}`, { sid: text }],
        ),
        // Strings sign refuses as a subject, each with a labelled jti of its own: only the subject is wrong.
        ...[' ', 'user-1\ud800', 'u'.repeat(257)].map((sub): [string, Record<string, string>] => [
          `sub ${JSON.stringify(sub).slice(0, 20)}`,
          { sub: JSON.stringify(sub), jti: JSON.stringify(newId(sub)) },
        ]),
        ['custom claims 33 levels deep (sign refuses them past 32)', { deep: nestedObject(32) }],
      ];
      it.each(absurd)('refuses %s: 401 (TokenInvalidError), not a 500', async (_case, changes) => {
        const caseJti: unknown = JSON.parse(changes.jti ?? 'null');
        if (isId(caseJti)) await (await server().admin()).set(labelKey(caseJti), 'true', { EX: 60 });
        await expect(tokens.verify(withClaims(changes))).rejects.toThrow(TokenInvalidError);
      });

      it.each(['null', '[]', '[1]', '5', '"user-1"', 'true'])('refuses the payload %s: 401 (TokenMalformedError), not a 500', async (payload) => {
        await expect(tokens.verify(signed(payload))).rejects.toThrow(TokenMalformedError);
      });

      it.each(['__proto__', 'constructor', 'toString', 'prototype'])(
        'refuses a claim named %s, as sign does: no Object.prototype name reaches a route',
        async (name) => {
          await expect(tokens.verify(withClaims({ [name]: '{"role":"admin"}' }))).rejects.toThrow(
            new TokenInvalidError('token has a claim named like an Object.prototype member'),
          );
        },
      );

      it('refuses a token issued after it expires (iat > exp)', async () => {
        const now = Math.floor(Date.now() / 1000);
        await expect(tokens.verify(withClaims({ iat: String(now + 120), exp: String(now + 60) }))).rejects.toThrow(/iat > exp/);
        await expect(tokens.verify(withClaims({ iat: String(now + 60), exp: String(now + 60) }))).resolves.toMatchObject({ sub: 'user-1' });
      });
    });
  });

  describe('with Redis in trouble', () => {
    it('fails closed and fast while Redis hangs (SIGSTOP), and recovers when it resumes', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      server().pause();
      try {
        const started = Date.now();
        await expect(tokens.verify(issued.token)).rejects.toThrow(StoreUnavailableError);
        await expect(tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 })).rejects.toThrow(StoreUnavailableError);
        // Two calls, each bounded by the 1000 ms timeout; generous slack for a loaded machine.
        expect(Date.now() - started).toBeLessThan(2 * 1000 + 1500);
      } finally {
        server().resume();
      }
      await expect(tokens.verify(issued.token)).resolves.toMatchObject({ jti: issued.jti });
    });

    it('fails closed while Redis is down and recovers by itself after a restart (labels lost: old tokens refused)', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await server().kill();
      await expect(tokens.verify(issued.token)).rejects.toThrow(StoreUnavailableError);
      await expect(tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 })).rejects.toThrow(StoreUnavailableError);
      await server().restart();
      await expect(tokens.verify(issued.token)).rejects.toThrow(TokenRevokedError);
      const fresh = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await expect(tokens.verify(fresh.token)).resolves.toMatchObject({ jti: fresh.jti });
    });

    it('keeps working when the server closes the idle connection', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      const admin = await server().admin();
      await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
      await expect(tokens.verify(issued.token)).resolves.toMatchObject({ jti: issued.jti });
      expect(redis.connectCount).toBe(2);
    });

    it('keeps working when the server drops idle clients on its own timeout', async () => {
      const issued = await tokens.issue({ sub: 'user-1', claims: {}, ttlSeconds: 60 });
      await (await server().admin()).configSet('timeout', '1');
      try {
        await new Promise((resolve) => setTimeout(resolve, 2500));
        await expect(tokens.verify(issued.token)).resolves.toMatchObject({ jti: issued.jti });
      } finally {
        // The admin connection was idle too, and dropped: admin() opens a new one.
        await (await server().admin()).configSet('timeout', '0');
      }
    });
  });
});
