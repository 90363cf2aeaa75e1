// Asymmetric keyrings as configured: a JSON array, newest first, of `{ "kid": …, "key": … }` where the key is PEM
// text or a JWK object. Signing functions read private keys; verifying functions public ones. Every problem
// names the variable (or parameter) and the entry by its number, never any part of a key.
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { ConfigError } from '../errors';
import { algorithmOf, readKey, type Algorithm } from './algorithms';

export interface AsymmetricKey {
  kid: string;
  key: KeyObject;
}

const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function parseAsymmetricKeyring(raw: string, source: string, kind: 'private' | 'public', alg: Exclude<Algorithm, 'HS256'>): AsymmetricKey[] {
  let entries: unknown;
  try {
    entries = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${source} must be a JSON array of { "kid": …, "key": PEM text or a JWK }, newest first (${alg})`);
  }
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new ConfigError(`${source} must be a non-empty JSON array of { "kid": …, "key": PEM text or a JWK }, newest first (${alg})`);
  }
  const keys: AsymmetricKey[] = [];
  entries.forEach((entry: unknown, index) => {
    const where = `${source} entry ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${where} must be an object { "kid": …, "key": … }`);
    const { kid, key } = entry as Record<string, unknown>;
    if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw new ConfigError(`${where} must have a kid of 1-64 letters, digits, ".", "_" or "-"`);
    const first = keys.findIndex((known) => known.kid === kid);
    if (first >= 0) throw new ConfigError(`${where} repeats the kid of entry ${first + 1}`);
    if (typeof key !== 'string' && (typeof key !== 'object' || key === null || Array.isArray(key))) {
      throw new ConfigError(`${where} must have a key: PEM text or a JWK object`);
    }
    // node would derive the public key from a private one: refuse it instead, so no private key sits where only
    // public ones belong.
    if (kind === 'public' && (typeof key === 'string' ? key.includes('PRIVATE KEY') : 'd' in key)) {
      throw new ConfigError(`${where} is a private key: verifying functions get public keys only`);
    }
    let material: KeyObject;
    try {
      material = readKey(key as string | JsonWebKey, kind);
    } catch {
      throw new ConfigError(`${where} is not a ${kind} key in PEM or JWK form`);
    }
    const keyAlg = algorithmOf(material);
    if (keyAlg !== alg) throw new ConfigError(`${where} is a key for ${keyAlg ?? 'no algorithm we support'}, not JWT_ALG ${alg}`);
    keys.push({ kid, key: material });
  });
  return keys;
}
