// The signature schemes alone: each key signs and verifies only with the algorithm it is pinned to, and reads
// a signature only in the one spelling it writes.
import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { expect } from '@jest/globals';
import fc from 'fast-check';
import { algorithmOf, asymmetric, hs256, publicJwk, readKey } from '../../shared/auth/algorithms';
import { jwsKey, Keyring, verifyJws } from '../../shared/auth/jws';

const INPUT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0';
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed25519 = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('shared/auth/algorithms', () => {
  it.each([
    ['ES256', p256],
    ['EdDSA', ed25519],
  ] as const)('%s: the private key signs, its public key verifies that signature and no other', (alg, pair) => {
    const signer = asymmetric(pair.privateKey, alg);
    const verifier = asymmetric(pair.publicKey, alg);
    const signature = signer.sign?.(INPUT) as string;
    expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect('sign' in verifier).toBe(false);
    expect(verifier.verify(INPUT, signature)).toBe(true);
    expect(verifier.verify(`${INPUT}x`, signature)).toBe(false);
    // The last letter holds two bits past the 64 bytes: a decoder ignores the rest, this must not.
    const last = signature.at(-1) as string;
    const sibling = String.fromCharCode(last.charCodeAt(0) + 1);
    expect(verifier.verify(INPUT, signature.slice(0, -1) + sibling)).toBe(false);
    for (const spelling of [signature.slice(0, -1), `${signature}A`, `${signature}=`, `${signature.slice(0, 10)}+${signature.slice(11)}`, '', 'A'.repeat(86)]) {
      expect(verifier.verify(INPUT, spelling)).toBe(false);
    }
  });

  it('ES256 signatures are r||s (RFC 7518), not DER', () => {
    const der = Buffer.from(asymmetric(p256.privateKey, 'ES256').sign?.(INPUT) as string, 'base64url');
    expect(der).toHaveLength(64);
  });

  it('refuses a key for another algorithm than the one asked for: wrong curve, wrong type', () => {
    expect(() => asymmetric(p384.privateKey, 'ES256')).toThrow('the key is for no algorithm we support, not ES256');
    expect(() => asymmetric(ed25519.publicKey, 'ES256')).toThrow('the key is for EdDSA, not ES256');
    expect(() => asymmetric(p256.publicKey, 'EdDSA')).toThrow('the key is for ES256, not EdDSA');
    expect(() => asymmetric(rsa.publicKey, 'ES256')).toThrow(TypeError);
    expect(algorithmOf(p384.publicKey)).toBeUndefined();
  });

  it('HS256 signs and verifies with one secret, in one spelling', () => {
    const scheme = hs256(createSecretKey(Buffer.from('s'.repeat(32))));
    const signature = scheme.sign?.(INPUT) as string;
    expect(scheme.verify(INPUT, signature)).toBe(true);
    expect(scheme.verify(INPUT, `${signature}A`)).toBe(false);
    expect(hs256(createSecretKey(Buffer.from('t'.repeat(32)))).verify(INPUT, signature)).toBe(false);
  });

  it('reads keys as PEM or JWK, private or public, and names no part of a key it cannot read', () => {
    const pem = p256.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const jwk = p256.privateKey.export({ format: 'jwk' });
    expect(algorithmOf(readKey(pem, 'private'))).toBe('ES256');
    expect(readKey(jwk, 'private').type).toBe('private');
    expect(readKey({ ...jwk, d: undefined }, 'public').type).toBe('public');
    const broken = pem.replace('MIG', 'XYZ');
    expect(() => readKey(broken, 'private')).toThrow(new TypeError('not a private key in PEM or JWK form'));
    expect(() => readKey({ kty: 'EC', crv: 'P-256', d: 'secret-bits' }, 'private')).toThrow(new TypeError('not a private key in PEM or JWK form'));
  });

  it('publishes a public JWK with kid and alg, never the private part', () => {
    const jwk = publicJwk(p256.privateKey, 'k1');
    expect(jwk).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: 'k1', alg: 'ES256', use: 'sig' });
    expect(publicJwk(ed25519.privateKey, 'k2')).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: 'k2', alg: 'EdDSA', use: 'sig' });
    expect(() => publicJwk(rsa.publicKey, 'k3')).toThrow(TypeError);
  });
});

describe('shared/auth/jws with ES256 and EdDSA keys, any header, any signature', () => {
  const ring = new Keyring([jwsKey('es', asymmetric(p256.publicKey, 'ES256')), jwsKey('ed', asymmetric(ed25519.publicKey, 'EdDSA'))]);
  const signers = { es: jwsKey('es', asymmetric(p256.privateKey, 'ES256')), ed: jwsKey('ed', asymmetric(ed25519.privateKey, 'EdDSA')) };
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const algs = fc.oneof(fc.constantFrom('ES256', 'EdDSA', 'HS256', 'none', 'ES384', 'ES512', 'RS256', 'PS256', 'Ed25519', 'es256', ''), fc.string());

  it('verifies only a header that names a ring key with that key’s algorithm, signed by that key', () => {
    fc.assert(
      fc.property(algs, fc.constantFrom('es', 'ed', 'other'), fc.constantFrom('es', 'ed'), (alg, kid, signedBy) => {
        const input = `${segment({ alg, kid, typ: 'JWT' })}.${segment({ sub: 'u' })}`;
        const signer = signers[signedBy];
        const token = `${input}.${signer.scheme.sign?.(input) ?? ''}`;
        const expected = kid === signedBy && alg === signer.alg;
        let verified: boolean;
        try {
          verifyJws(token, ring);
          verified = true;
        } catch {
          verified = false;
        }
        expect({ alg, kid, signedBy, verified }).toEqual({ alg, kid, signedBy, verified: expected });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses any other signature text of any length, under either key', () => {
    fc.assert(
      fc.property(fc.constantFrom('ES256', 'EdDSA'), fc.string({ maxLength: 200 }), (alg, signature) => {
        const signer = alg === 'ES256' ? signers.es : signers.ed;
        const input = `${signer.encodedHeader}.${segment({ sub: 'u' })}`;
        fc.pre(signature !== signer.scheme.sign?.(input));
        expect(() => verifyJws(`${input}.${signature}`, ring)).toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
