// ES256 and EdDSA rings (JWT_ALG): tokens signed with the newest private key, checked with the public keys, which
// GET /.well-known/jwks.json publishes. An independent library (jose) verifies our tokens from that document, and a
// token jose signs with a key of our ring is allowed only while its label exists. No header chooses how a token is
// checked: HS256 under the public key's bytes, `none`, a key carried in the header, another curve are all refused.
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { expect } from '@jest/globals';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { labelKey, newId } from '../../shared/sessions/keys';
import { proxyEvent } from '../../testkit/events';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { forgeJws } from '../../testkit/jws';
import { SessionClient } from '../../testkit/session-client';

const ISSUER = 'revocable-jwt';
const AUDIENCE = 'revocable-jwt-api';

const pem = (key: KeyObject) => key.export({ format: 'pem', type: key.type === 'private' ? 'pkcs8' : 'spki' }) as string;
const ring = (...keys: Array<[string, KeyObject]>) => JSON.stringify(keys.map(([kid, key]) => ({ kid, key: pem(key) })));

describe.each([
  ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ['EdDSA', () => generateKeyPairSync('ed25519')],
] as const)('JWT_ALG=%s (real redis-server)', (alg, generate) => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  const current = generate();
  const previous = generate();
  const signer = () =>
    new SessionClient(() =>
      containers({ REDIS_URL: server().url, JWT_ALG: alg, JWT_KEYS: ring(['k2', current.privateKey], ['k1', previous.privateKey]), LOG_LEVEL: 'silent' }),
    );
  const verifier = () =>
    new SessionClient(() =>
      containers({ REDIS_URL: server().url, JWT_ALG: alg, JWT_PUBLIC_KEYS: ring(['k2', current.publicKey], ['k1', previous.publicKey]), LOG_LEVEL: 'silent' }),
    );
  const jwks = async () => {
    const container = containers({ REDIS_URL: server().url, JWT_ALG: alg, JWT_PUBLIC_KEYS: ring(['k2', current.publicKey], ['k1', previous.publicKey]) });
    const response = await container.jwks(proxyEvent({ method: 'GET', path: '/.well-known/jwks.json' }));
    return { status: response.statusCode, headers: response.headers ?? {}, body: JSON.parse(response.body) as { keys: Array<Record<string, unknown>> } };
  };

  it('signs with the newest private key; a container holding only the public keys allows the token, refresh included', async () => {
    const api = signer();
    const signed = await api.signIn('alice', { claims: { role: 'admin' } });
    const header = JSON.parse(Buffer.from(signed.token.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(header).toEqual({ alg, typ: 'JWT', kid: 'k2' });
    expect(await verifier().decide(signed.token)).toBe('allow');
    const pair = await api.rotate(signed.refreshToken);
    expect(await verifier().decide(pair.token)).toBe('allow');
    // Logged out, it is refused: the signature alone never decides.
    expect((await api.logout(pair.token)).status).toBe(204);
    expect(await verifier().decide(pair.token)).toBe('deny');
  });

  it('publishes the public keys, and nothing private, as a JWK Set that jose verifies our tokens with', async () => {
    const { status, headers, body } = await jwks();
    expect(status).toBe(200);
    expect(headers['Cache-Control']).toBe('public, max-age=300');
    expect(body.keys.map(({ kid, alg: keyAlg, use }) => ({ kid, alg: keyAlg, use }))).toEqual([
      { kid: 'k2', alg, use: 'sig' },
      { kid: 'k1', alg, use: 'sig' },
    ]);
    for (const key of body.keys) expect(key).not.toHaveProperty('d');
    const signed = await signer().signIn('bob');
    const { payload, protectedHeader } = await jwtVerify(signed.token, createLocalJWKSet(body as never), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: [alg],
    });
    expect({ sub: payload.sub, kid: protectedHeader.kid }).toEqual({ sub: 'bob', kid: 'k2' });
  });

  it('allows a token jose signs with a key of the ring only while its label exists', async () => {
    const sub = 'carol';
    const jti = newId(sub);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ jti })
      .setProtectedHeader({ alg, typ: 'JWT', kid: 'k1' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(previous.privateKey);
    const api = verifier();
    expect(await api.decide(token)).toBe('deny');
    await (await server().admin()).set(labelKey(jti), String(Date.now()), { EX: 600 });
    expect(await api.decide(token)).toBe('allow');
  });

  it('refuses every header that would choose how the token is checked, and signatures of every malformed length', async () => {
    const api = verifier();
    const sub = 'mallory';
    const jti = newId(sub);
    const now = Math.floor(Date.now() / 1000);
    const payload = { sub, jti, iat: now, exp: now + 600, iss: ISSUER, aud: AUDIENCE };
    await (await server().admin()).set(labelKey(jti), String(Date.now()), { EX: 600 });
    const other = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-384' }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = [
      // HS256 with the public key's PEM bytes as the secret: the classic confusion.
      forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid: 'k2' }, payload, secret: pem(current.publicKey) }),
      forgeJws({ header: { alg: 'none', typ: 'JWT', kid: 'k2' }, payload, secret: '' }),
      await new SignJWT(payload).setProtectedHeader({ alg, kid: 'k2', jwk: current.publicKey.export({ format: 'jwk' }) } as never).sign(current.privateKey),
      await new SignJWT(payload).setProtectedHeader({ alg, kid: 'k2', jku: 'https://attacker.example/jwks.json' }).sign(current.privateKey),
      // Signed by a key not in the ring, under a kid that is.
      await new SignJWT(payload).setProtectedHeader({ alg, kid: 'k2' }).sign(generate().privateKey),
      // Another curve or key type under our kid and alg.
      await new SignJWT(payload).setProtectedHeader({ alg: alg === 'ES256' ? 'ES384' : 'ES256', kid: 'k2' }).sign(createPrivateKey(pem(other.privateKey))),
    ];
    for (const token of forged)
      expect({ token: token.slice(0, 40), decision: await api.decide(token) }).toEqual({ token: token.slice(0, 40), decision: 'deny' });
    // A genuine signature of the right key under a header naming another algorithm.
    const input = `${Buffer.from(JSON.stringify({ alg: alg === 'ES256' ? 'ES384' : 'Ed25519', typ: 'JWT', kid: 'k2' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const raw = sign(alg === 'ES256' ? 'sha256' : null, Buffer.from(input), { key: current.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(await api.decide(`${input}.${raw.toString('base64url')}`)).toBe('deny');
    const genuine = await new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT', kid: 'k2' }).sign(current.privateKey);
    expect(await api.decide(genuine)).toBe('allow');
    const [head, body] = genuine.split('.') as [string, string, string];
    for (let length = 0; length <= 100; length += 1) {
      const signature = 'A'.repeat(length);
      expect({ length, decision: await api.decide(`${head}.${body}.${signature}`) }).toEqual({ length, decision: 'deny' });
    }
  });
});
