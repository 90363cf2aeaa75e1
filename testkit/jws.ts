// Hand-made compact JWS, for tokens the service did not issue: any header, any payload, any `alg`, any key.
// Built with node:crypto directly rather than jsonwebtoken, which refuses many of the combinations a forger
// would try (alg "none" with a signature, a header that lies about its alg, a kid of the wrong type…).
import { constants, createHmac, createSecretKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
/** Every `alg` of RFC 7518 that signs, and "none". */
export const ALL_ALGS = [...HMAC_ALGS, ...ASYMMETRIC_ALGS, 'none'] as const;
export type Alg = (typeof ALL_ALGS)[number];

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
const EC_CURVE: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

export const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

export function encodeSegment(value: unknown): string {
  return b64url(typeof value === 'string' ? value : JSON.stringify(value));
}

let rsaKey: KeyObject | undefined;
const ecKeys = new Map<string, KeyObject>();

/** A private key that fits `alg` (generated once per process), for forging asymmetric signatures. */
function asymmetricKey(alg: string): KeyObject {
  if (alg.startsWith('ES')) {
    const curve = EC_CURVE[alg] ?? 'prime256v1';
    let key = ecKeys.get(curve);
    if (key === undefined) {
      key = generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
      ecKeys.set(curve, key);
    }
    return key;
  }
  rsaKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  return rsaKey;
}

/**
 * The signature `alg` would give over `input`: HMAC with `secret` for HS*, a freshly generated key for the
 * asymmetric algorithms (we never hold a public key, so no such token can be ours), nothing for "none".
 */
export function signatureFor(alg: string, input: string, secret: string | Buffer = 'not-our-secret'): Buffer {
  const hash = HASH[alg.slice(2)] ?? 'sha256';
  if (alg === 'none') return Buffer.alloc(0);
  if (alg.startsWith('HS'))
    return createHmac(hash, typeof secret === 'string' ? createSecretKey(Buffer.from(secret)) : secret)
      .update(input)
      .digest();
  const key = asymmetricKey(alg);
  if (alg.startsWith('PS')) {
    return sign(hash, Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
  if (alg.startsWith('ES')) return sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return sign(hash, Buffer.from(input), key);
}

/**
 * A compact JWS. `header` and `payload` are JSON-encoded unless given as strings (taken as the JSON text);
 * the signature is what `signingAlg` (by default the header's alg) gives with `secret`.
 */
export function forgeJws(options: {
  header: Record<string, unknown> | string;
  payload: Record<string, unknown> | string;
  secret?: string | Buffer;
  signingAlg?: string;
}): string {
  const headerAlg = typeof options.header === 'string' ? undefined : options.header.alg;
  const alg = options.signingAlg ?? (typeof headerAlg === 'string' ? headerAlg : 'HS256');
  const input = `${encodeSegment(options.header)}.${encodeSegment(options.payload)}`;
  return `${input}.${b64url(signatureFor(alg, input, options.secret))}`;
}

export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  segments: [string, string, string];
}

export function decodeJws(token: string): DecodedJws {
  const segments = token.split('.') as [string, string, string];
  const part = (index: 0 | 1) => JSON.parse(Buffer.from(segments[index], 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: part(0), payload: part(1), segments };
}
