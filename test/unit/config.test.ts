import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { DEVELOPMENT_SECRET, loadConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { configError } from '../../testkit/config-error';
import { createServices } from '../../shared/services';
import { SignJWT } from 'jose';

const STRONG_SECRET = 'x'.repeat(32);
const base = { REDIS_URL: 'redis://127.0.0.1:6379', JWT_SECRET: STRONG_SECRET };

describe('Function: loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', timeoutMs: 1000, waitReplicas: 0, cluster: false, allowEviction: false });
    expect(config.tokens).toEqual({
      keys: [{ kid: 'default', secret: STRONG_SECRET }],
      issuer: 'revocable-jwt',
      audience: 'revocable-jwt-api',
      defaultTtlSeconds: 900,
      maxTtlSeconds: 86_400,
    });
    expect(config.sessions).toEqual({
      maxSessions: 100,
      onLimit: 'end-oldest',
      maxAgeSeconds: 2_592_000,
      refreshIdleTtlSeconds: 604_800,
      refreshReuseGraceSeconds: 10,
    });
    expect(config.logLevel).toBe('info');
  });

  it('reads every variable', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://app:p%40ss@cache.example.com:6380',
      JWT_SECRET: STRONG_SECRET,
      REDIS_TIMEOUT_MS: '250',
      REDIS_WAIT_REPLICAS: '1',
      REDIS_CLUSTER: 'true',
      REDIS_ALLOW_EVICTION: 'true',
      TOKEN_TTL: '60',
      MAX_TTL: '3600',
      JWT_ISSUER: 'https://auth.example.com',
      JWT_AUDIENCE: 'orders',
      LOG_LEVEL: 'WARN',
      MAX_SESSIONS: '1000',
      SESSION_LIMIT: 'refuse',
      SESSION_MAX_AGE: '86400',
      REFRESH_IDLE_TTL: '7200',
      REFRESH_REUSE_GRACE: '0',
    });
    expect(config.redis).toEqual({ url: 'rediss://app:p%40ss@cache.example.com:6380', timeoutMs: 250, waitReplicas: 1, cluster: true, allowEviction: true });
    expect(config.tokens).toMatchObject({ issuer: 'https://auth.example.com', audience: 'orders', defaultTtlSeconds: 60, maxTtlSeconds: 3600 });
    expect(config.logLevel).toBe('warn');
    expect(config.sessions).toEqual({ maxSessions: 1000, onLimit: 'refuse', maxAgeSeconds: 86_400, refreshIdleTtlSeconds: 7200, refreshReuseGraceSeconds: 0 });
  });

  it.each([
    [{ REDIS_URL: undefined }, /REDIS_URL is required/],
    [{ REDIS_URL: 'http://localhost:6379' }, /REDIS_URL must start with redis:\/\/ or rediss:\/\//],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL is not a valid URL/],
    // A password with an unencoded # ? or / that still parses: the rest of it lands in a fragment, query or path.
    [{ REDIS_URL: 'redis://user:123#rest@host:6379' }, /REDIS_URL may hold only credentials, host, port and a database number/],
    [{ REDIS_URL: 'redis://user:123?rest@host:6379' }, /REDIS_URL may hold only credentials, host, port and a database number/],
    [{ REDIS_URL: 'redis://user:123/rest@host:6379' }, /REDIS_URL may hold only credentials, host, port and a database number/],
    [{ REDIS_URL: 'redis://user:pa%zz@host:6379' }, /REDIS_URL has a % that is not followed by two hex digits/],
    [{ REDIS_URL: 'redis://us%er:pass@host:6379' }, /REDIS_URL has a % that is not followed by two hex digits/],
    [{ JWT_SECRET: undefined }, /JWT_SECRET or JWT_KEYS is required/],
    [{ JWT_KEYS: `k1:${'y'.repeat(32)}` }, /set JWT_KEYS or JWT_SECRET, not both/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET must be at least 32 bytes/],
    [{ JWT_SECRET: DEVELOPMENT_SECRET }, /JWT_SECRET is the public development secret/],
    [{ TOKEN_TTL: '0' }, /TOKEN_TTL must be an integer of at least 1/],
    [{ MAX_TTL: '2592001' }, /MAX_TTL \(2592001\) must not exceed SESSION_MAX_AGE \(2592000\)/],
    [{ SESSION_MAX_AGE: '0' }, /SESSION_MAX_AGE must be an integer of at least 1/],
    [{ SESSION_MAX_AGE: '315360001' }, /SESSION_MAX_AGE must be at most 315360000/],
    [{ REFRESH_IDLE_TTL: 'week' }, /REFRESH_IDLE_TTL must be a whole number/],
    [{ REFRESH_REUSE_GRACE: '301' }, /REFRESH_REUSE_GRACE must be at most 300/],
    [{ TOKEN_TTL: '1.5' }, /TOKEN_TTL must be a whole number/],
    [{ MAX_TTL: 'ten' }, /MAX_TTL must be a whole number/],
    [{ TOKEN_TTL: '600', MAX_TTL: '60' }, /TOKEN_TTL \(600\) must not exceed MAX_TTL \(60\)/],
    // Ten years at most: every exp sign writes must be a date verify accepts (shared/auth/claims.ts).
    [{ MAX_TTL: '315360001' }, /MAX_TTL must be at most 315360000/],
    [{ REDIS_TIMEOUT_MS: '10' }, /REDIS_TIMEOUT_MS must be an integer of at least 50/],
    [{ REDIS_WAIT_REPLICAS: '-1' }, /REDIS_WAIT_REPLICAS must be a whole number/],
    [{ REDIS_CLUSTER: 'yes' }, /REDIS_CLUSTER must be true or false/],
    [{ REDIS_ALLOW_EVICTION: '1' }, /REDIS_ALLOW_EVICTION must be true or false/],
    [{ JWT_ISSUER: ' ' }, /JWT_ISSUER must not be empty/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ MAX_SESSIONS: '0' }, /MAX_SESSIONS must be an integer of at least 1/],
    [{ MAX_SESSIONS: '1001' }, /MAX_SESSIONS must be at most 1000/],
    [{ MAX_SESSIONS: 'many' }, /MAX_SESSIONS must be a whole number/],
    [{ SESSION_LIMIT: 'evict' }, /SESSION_LIMIT must be one of end-oldest, refuse, got "evict"/],
  ])('refuses %p with a message naming the variable', (override, message) => {
    const env = { ...base, ...override } as Record<string, string>;
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
    expect(configError(env).message).toMatch(message);
  });

  it('accepts a database number, and a password with every reserved character percent-encoded', () => {
    const url = `redis://user:${encodeURIComponent('p#a/s?s%w@o:r d')}@host:6379/2`;
    expect(loadConfig({ ...base, REDIS_URL: url }).redis.url).toBe(url);
  });

  it('accepts a MAX_TTL of ten years, the longest whose every exp verify accepts', () => {
    expect(loadConfig({ ...base, MAX_TTL: '315360000', SESSION_MAX_AGE: '315360000' }).tokens.maxTtlSeconds).toBe(315_360_000);
  });

  it('never echoes a malformed REDIS_URL, which may carry a password', () => {
    const error = configError({ ...base, REDIS_URL: 'redis://user:hunter2@[bad' });
    expect(error.message).not.toContain('hunter2');
  });

  it('uses the development secret only under serverless offline', () => {
    expect(loadConfig({ REDIS_URL: base.REDIS_URL, IS_OFFLINE: 'true' }).tokens.keys).toEqual([{ kid: 'default', secret: DEVELOPMENT_SECRET }]);
    expect(() => loadConfig({ REDIS_URL: base.REDIS_URL })).toThrow(ConfigError);
  });

  describe('JWT_KEYS', () => {
    const secretA = 'a'.repeat(32);
    const secretB = 'b'.repeat(40);
    const withKeys = (JWT_KEYS: string) => ({ REDIS_URL: base.REDIS_URL, JWT_KEYS });

    it('reads kid:secret pairs, newest first', () => {
      expect(loadConfig(withKeys(`2026-11:${secretB}, 2026-10:${secretA}`)).tokens.keys).toEqual([
        { kid: '2026-11', secret: secretB },
        { kid: '2026-10', secret: secretA },
      ]);
    });

    it('keeps colons inside a secret', () => {
      expect(loadConfig(withKeys(`k1:${secretA}:tail`)).tokens.keys).toEqual([{ kid: 'k1', secret: `${secretA}:tail` }]);
    });

    it.each([
      [`${secretA}`, /JWT_KEYS entry 1 must be kid:secret/],
      [`:${secretA}`, /JWT_KEYS entry 1 must be kid:secret/],
      [`k1:${secretA},bad kid:${secretB}`, /JWT_KEYS entry 2 must be kid:secret/],
      [`k1:${secretA},k1:${secretB}`, /JWT_KEYS entry 2 repeats the kid of entry 1/],
      [`k1:short`, /JWT_KEYS entry 1: the secret must be at least 32 bytes/],
      [`k1:${DEVELOPMENT_SECRET}`, /public development secret/],
    ])('refuses %p', (keys, message) => {
      expect(configError(withKeys(keys)).message).toMatch(message);
    });

    it('never echoes a secret in its messages', () => {
      expect(configError(withKeys(`k1:tooshortsecret`)).message).not.toContain('tooshortsecret');
    });
  });
});

describe('JWT_ALG and asymmetric rings', () => {
  const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed25519 = generateKeyPairSync('ed25519');
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const pem = (key: KeyObject) => key.export({ format: 'pem', type: key.type === 'private' ? 'pkcs8' : 'spki' }) as string;
  const env = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('reads private keys as PEM or JWK, newest first, and gives their public keys', () => {
    const ring = JSON.stringify([
      { kid: 'k2', key: pem(es256.privateKey) },
      { kid: 'k1', key: es256.privateKey.export({ format: 'jwk' }) },
    ]);
    const { tokens } = loadConfig({ ...env, JWT_ALG: 'ES256', JWT_KEYS: ring });
    expect(tokens.keys).toEqual([]);
    expect(tokens.asymmetric?.alg).toBe('ES256');
    expect(tokens.asymmetric?.privateKeys.map(({ kid, key }) => [kid, key.type])).toEqual([
      ['k2', 'private'],
      ['k1', 'private'],
    ]);
    expect(tokens.asymmetric?.publicKeys.map(({ kid, key }) => [kid, key.type])).toEqual([
      ['k2', 'public'],
      ['k1', 'public'],
    ]);
  });

  it('reads public keys alone for a deployment that only verifies', () => {
    const { tokens } = loadConfig({ ...env, JWT_ALG: 'EdDSA', JWT_PUBLIC_KEYS: JSON.stringify([{ kid: 'e1', key: pem(ed25519.publicKey) }]) });
    expect(tokens.asymmetric?.privateKeys).toEqual([]);
    expect(tokens.asymmetric?.publicKeys.map(({ kid }) => kid)).toEqual(['e1']);
  });

  const secret = 'never-echo-this-0123456789abcdefghijkl';
  it.each([
    [{ JWT_ALG: 'RS256', JWT_SECRET: secret }, /JWT_ALG must be one of HS256, ES256, EdDSA, got "RS256"/],
    [{ JWT_ALG: 'ES256', JWT_SECRET: secret }, /JWT_SECRET is an HS256 secret: with JWT_ALG ES256 set JWT_KEYS/],
    [{ JWT_ALG: 'ES256' }, /JWT_ALG ES256 needs JWT_KEYS \(private keys, to sign\) or JWT_PUBLIC_KEYS/],
    [{ JWT_PUBLIC_KEYS: '[]', JWT_SECRET: secret }, /JWT_PUBLIC_KEYS holds ES256 or EdDSA public keys: set JWT_ALG too/],
    [{ JWT_ALG: 'ES256', JWT_KEYS: `kid:${secret}` }, /JWT_KEYS must be a non-empty JSON array/],
    [{ JWT_ALG: 'ES256', JWT_KEYS: '[]' }, /JWT_KEYS must be a non-empty JSON array/],
    [{ JWT_ALG: 'ES256', JWT_KEYS: JSON.stringify([{ kid: 'a b', key: 'x' }]) }, /JWT_KEYS entry 1 must have a kid of 1-64 letters/],
    [
      { JWT_ALG: 'ES256', JWT_KEYS: JSON.stringify([{ kid: 'k', key: `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----` }]) },
      /JWT_KEYS entry 1 is not a private key in PEM or JWK form$/,
    ],
    [
      { JWT_ALG: 'EdDSA', JWT_PUBLIC_KEYS: JSON.stringify([{ kid: 'k', key: 'ed-private' }]) },
      /JWT_PUBLIC_KEYS entry 1 is a private key: give public keys only/,
    ],
    [
      {
        JWT_ALG: 'ES256',
        JWT_KEYS: JSON.stringify([
          { kid: 'k', key: 'es' },
          { kid: 'k', key: 'es' },
        ]),
      },
      /JWT_KEYS entry 2 repeats the kid of entry 1/,
    ],
  ])('refuses %p, naming the variable and never a key', (vars, message) => {
    const substitute = (raw: string) =>
      raw.replace('"ed-private"', JSON.stringify(pem(ed25519.privateKey))).replaceAll('"es"', JSON.stringify(pem(es256.privateKey)));
    const resolved = Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, substitute(value)]));
    const error = configError({ ...env, ...resolved });
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain('BEGIN');
  });

  it('refuses a P-384 key for ES256, an EC key for EdDSA', () => {
    expect(configError({ ...env, JWT_ALG: 'ES256', JWT_KEYS: JSON.stringify([{ kid: 'k', key: pem(p384.privateKey) }]) }).message).toBe(
      'JWT_KEYS entry 1 is a key for no algorithm we support, not JWT_ALG ES256',
    );
    expect(configError({ ...env, JWT_ALG: 'EdDSA', JWT_KEYS: JSON.stringify([{ kid: 'k', key: pem(es256.privateKey) }]) }).message).toBe(
      'JWT_KEYS entry 1 is a key for ES256, not JWT_ALG EdDSA',
    );
  });
});

describe('the keys a function may hold (its role)', () => {
  const env = { REDIS_URL: 'redis://127.0.0.1:6379' };
  const secret = 'role-secret-never-echoed-0123456789abcdef';
  const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ring = (key: KeyObject) => JSON.stringify([{ kid: 'k1', key: key.export({ format: 'pem', type: key.type === 'private' ? 'pkcs8' : 'spki' }) }]);

  it('a function that verifies nothing starts with no key, and refuses any key material, naming the variable only', () => {
    expect(loadConfig(env, 'none').tokens.keys).toEqual([]);
    for (const name of ['JWT_SECRET', 'JWT_KEYS', 'JWT_PUBLIC_KEYS', 'JWT_KEYS_SSM_PARAMETER']) {
      const error = configError({ ...env, [name]: name === 'JWT_KEYS_SSM_PARAMETER' ? '/app/keys' : secret }, 'none');
      expect(error.message).toBe(`${name}: this function verifies nothing and must hold no key material; leave it unset`);
    }
  });

  it('a function that only verifies an ES256 ring takes its public keys, never the private ones', () => {
    expect(loadConfig({ ...env, JWT_ALG: 'ES256', JWT_PUBLIC_KEYS: ring(es256.publicKey) }, 'verifying').tokens.asymmetric?.privateKeys).toEqual([]);
    expect(configError({ ...env, JWT_ALG: 'ES256', JWT_KEYS: ring(es256.privateKey) }, 'verifying').message).toBe(
      'JWT_KEYS gives private keys: a function that only verifies takes JWT_PUBLIC_KEYS',
    );
    expect(configError({ ...env, JWT_ALG: 'ES256', JWT_KEYS_SSM_PARAMETER: '/app/keys' }, 'verifying').message).toBe(
      'JWT_KEYS_SSM_PARAMETER gives private keys: a function that only verifies takes JWT_PUBLIC_KEYS',
    );
  });

  it('with HS256 the secret is both: a verifying function holds it', () => {
    expect(loadConfig({ ...env, JWT_SECRET: secret }, 'verifying').tokens.keys).toEqual([{ kid: 'default', secret }]);
  });

  describe('the JWKS (public): the public keys it publishes, nothing else', () => {
    it('refuses the secret, the private keys and the keyring parameter whatever the algorithm, naming the variable only', () => {
      for (const alg of ['HS256', 'ES256']) {
        for (const name of ['JWT_SECRET', 'JWT_KEYS', 'JWT_KEYS_SSM_PARAMETER']) {
          const value = name === 'JWT_KEYS_SSM_PARAMETER' ? '/app/keys' : name === 'JWT_KEYS' && alg === 'ES256' ? ring(es256.privateKey) : secret;
          const withPublic: Record<string, string> = alg === 'ES256' ? { JWT_PUBLIC_KEYS: ring(es256.publicKey) } : {};
          const error = configError({ ...env, JWT_ALG: alg, ...(name === 'JWT_KEYS_SSM_PARAMETER' ? {} : withPublic), [name]: value }, 'public');
          expect({ alg, message: error.message }).toEqual({
            alg,
            message: `${name}: this function publishes public keys only and must hold no secret or private key; leave it unset`,
          });
          expect(error.message).not.toContain(secret);
        }
      }
    });

    it('with HS256 holds no key at all, and needs none, outside serverless offline as under it', () => {
      for (const offline of [{}, { IS_OFFLINE: 'true' }]) {
        const { tokens } = loadConfig({ ...env, ...offline }, 'public');
        expect({ keys: tokens.keys, asymmetric: tokens.asymmetric, noKeys: tokens.noKeys }).toEqual({ keys: [], asymmetric: undefined, noKeys: true });
      }
    });

    it('with ES256 holds the public ring of JWT_PUBLIC_KEYS, and needs it', () => {
      const { tokens } = loadConfig({ ...env, JWT_ALG: 'ES256', JWT_PUBLIC_KEYS: ring(es256.publicKey) }, 'public');
      expect(tokens.keys).toEqual([]);
      expect(tokens.noKeys).toBeUndefined();
      expect(tokens.asymmetric?.privateKeys).toEqual([]);
      expect(tokens.asymmetric?.publicKeys.map(({ kid, key }) => ({ kid, type: key.type, same: key.equals(es256.publicKey) }))).toEqual([
        { kid: 'k1', type: 'public', same: true },
      ]);
      expect(configError({ ...env, JWT_ALG: 'ES256' }, 'public').message).toBe('JWT_ALG ES256 needs JWT_PUBLIC_KEYS: this function publishes the public keys');
    });

    it('builds a token service that publishes that ring, or nothing with HS256, and can neither sign nor verify with no key', async () => {
      const hs = createServices(env, {}, 'public');
      const es = createServices({ ...env, JWT_ALG: 'ES256', JWT_PUBLIC_KEYS: ring(es256.publicKey) }, {}, 'public');
      try {
        expect(await hs.tokens.jwks()).toEqual([]);
        expect(await es.tokens.jwks()).toEqual([expect.objectContaining({ kid: 'k1', kty: 'EC', crv: 'P-256', alg: 'ES256' })]);
        expect(JSON.stringify(await es.tokens.jwks())).not.toContain('"d"');
        // A token signed with a secret the JWKS never saw, and one it could not even know: both refused, never by Redis.
        const token = await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'HS256', kid: 'default' }).sign(Buffer.from(secret));
        await expect(hs.tokens.verify(token)).rejects.toThrow('this function holds no key: it can neither sign nor verify');
        await expect(hs.tokens.issue({ sub: 'u', claims: {}, ttlSeconds: 60 })).rejects.toThrow('this function holds no key: it can neither sign nor verify');
        await expect(es.tokens.issue({ sub: 'u', claims: {}, ttlSeconds: 60 })).rejects.toThrow(ConfigError);
      } finally {
        await Promise.all([hs.close(), es.close()]);
      }
    });

    it('refuses a private key given as a public one', () => {
      expect(configError({ ...env, JWT_ALG: 'ES256', JWT_PUBLIC_KEYS: ring(es256.privateKey) }, 'public').message).toBe(
        'JWT_PUBLIC_KEYS entry 1 is a private key: give public keys only',
      );
    });
  });
});
