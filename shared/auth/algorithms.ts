// The signature algorithms a key may be pinned to, made and checked with node:crypto alone. A key carries its
// algorithm; a token's header only names the key (kid) and must agree with it, never choose it.
import { createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

export const ALGORITHMS = ['HS256', 'ES256', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** What a key does with a JWS signing input: sign it (a signing key), and check a signature over it. */
export interface SignatureScheme {
  readonly alg: Algorithm;
  /** The signature over `input`, base64url. Absent on a key that only verifies. */
  readonly sign?: (input: string) => string;
  /** Whether `signature` (base64url, exactly as presented) is this key's signature over `input`. */
  readonly verify: (input: string, signature: string) => boolean;
}

/** ES256 and EdDSA (Ed25519) signatures are 64 bytes, 86 base64url letters: nothing else is read. */
const RAW_SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;

/** HMAC-SHA256 with a secret: the same key signs and verifies. */
export function hs256(secret: KeyObject): SignatureScheme {
  const mac = (input: string) => createHmac('sha256', secret).update(input).digest('base64url');
  return {
    alg: 'HS256',
    sign: mac,
    verify: (input, signature) => {
      // Compared as the exact text we would write, so one signature has one spelling; UTF-8, so that no
      // character outside base64url can stand in for one of its letters.
      const expected = Buffer.from(mac(input), 'utf8');
      const presented = Buffer.from(signature, 'utf8');
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    },
  };
}

/**
 * ES256 (ECDSA P-256, SHA-256, the 64-byte r||s of RFC 7518 §3.4) or EdDSA (Ed25519, RFC 8037), from a private
 * key (signs and verifies) or a public one (verifies only). The key's type decides which; `expected` is the
 * algorithm the configuration asked for, and a key of another type is refused.
 */
export function asymmetric(key: KeyObject, expected: Exclude<Algorithm, 'HS256'>): SignatureScheme {
  const alg = algorithmOf(key);
  if (alg !== expected) throw new TypeError(`the key is for ${alg ?? 'no algorithm we support'}, not ${expected}`);
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const digest = alg === 'ES256' ? 'sha256' : null;
  const options = alg === 'ES256' ? { dsaEncoding: 'ieee-p1363' as const } : {};
  return {
    alg,
    ...(key.type === 'private' ? { sign: (input: string) => sign(digest, Buffer.from(input, 'utf8'), { key, ...options }).toString('base64url') } : {}),
    verify: (input, signature) => {
      // The last letter carries 2 bits past the 64 bytes: they must be zero, so one signature has one spelling.
      if (!RAW_SIGNATURE.test(signature)) return false;
      return verify(digest, Buffer.from(input, 'utf8'), { key: publicKey, ...options }, Buffer.from(signature, 'base64url'));
    },
  };
}

/** The algorithm a key object is for: ES256 for P-256 EC keys, EdDSA for Ed25519, else undefined. */
export function algorithmOf(key: KeyObject): Exclude<Algorithm, 'HS256'> | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

/** A key given as PEM text or as a JWK object, private or public. Throws TypeError, naming no part of it. */
export function readKey(material: string | JsonWebKey, kind: 'private' | 'public'): KeyObject {
  try {
    if (typeof material === 'string') return kind === 'private' ? createPrivateKey(material) : createPublicKey(material);
    return kind === 'private' ? createPrivateKey({ key: material, format: 'jwk' }) : createPublicKey({ key: material, format: 'jwk' });
  } catch {
    // node's messages describe the parse failure, never the key; still, keep only that it failed.
    throw new TypeError(`not a ${kind} key in PEM or JWK form`);
  }
}

/** The public JWK of a key, with its kid and pinned algorithm (RFC 7517, RFC 7518 §6, RFC 8037). */
export function publicJwk(key: KeyObject, kid: string): JsonWebKey {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const alg = algorithmOf(publicKey);
  if (alg === undefined) throw new TypeError('only ES256 and EdDSA keys have a public JWK');
  return { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}
