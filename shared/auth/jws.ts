// Compact JWS (RFC 7515 §3.1) signed with HMAC-SHA256, made and checked with node:crypto alone. The
// algorithm is the key's, never the token's: a header naming anything but HS256 is refused before a key is
// touched, and the key is found by `kid` in the in-memory ring only.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { KID_PATTERN } from '../config';
import { TokenInvalidError, TokenMalformedError, UnknownKeyError } from '../errors';

export const HS256 = 'HS256';
/** The `typ` of access tokens, and of session grants (shared/auth/grants.ts): neither is accepted as the other. */
export const ACCESS_TOKEN_TYP = 'JWT';
export const SESSION_GRANT_TYP = 'session-grant+jwt';

export interface HmacKey {
  kid: string;
  /** A KeyObject: importing a string secret on every call costs far more than the HMAC itself. */
  key: KeyObject;
  /** `{"alg":"HS256","typ":"JWT","kid":…}` as base64url: the first segment of every token this key signs. */
  encodedHeader: string;
  /** The same with the session grants' typ. */
  encodedGrantHeader: string;
}

export function hmacKey(kid: string, key: KeyObject): HmacKey {
  return {
    kid,
    key,
    encodedHeader: encodeSegment({ alg: HS256, typ: ACCESS_TOKEN_TYP, kid }),
    encodedGrantHeader: encodeSegment({ alg: HS256, typ: SESSION_GRANT_TYP, kid }),
  };
}

/** The keys a token may have been signed with, by kid, and by the exact header they sign with. */
export class HmacKeyring {
  readonly #byKid: Map<string, HmacKey>;
  readonly #byHeader: Map<string, HmacKey>;

  constructor(keys: readonly HmacKey[]) {
    this.#byKid = new Map(keys.map((key) => [key.kid, key]));
    this.#byHeader = new Map(keys.map((key) => [key.encodedHeader, key]));
  }

  /**
   * The key the header segment names, for a JWS of type `typ`. Our own access tokens carry one of a few exact
   * headers, found without decoding; any other spelling is decoded and held to the same rules.
   */
  keyFor(encodedHeader: string, typ: string): HmacKey {
    if (typ === ACCESS_TOKEN_TYP) {
      const key = this.#byHeader.get(encodedHeader);
      if (key !== undefined) return key;
    }
    return this.#byKid.get(kidOf(decodeSegment(encodedHeader, 'header'), typ)) ?? notInRing();
  }
}

/** An access token; with `typ` SESSION_GRANT_TYP, a session grant. */
export function signHs256(signing: HmacKey, payload: Record<string, unknown>, typ: string = ACCESS_TOKEN_TYP): string {
  const header = typ === ACCESS_TOKEN_TYP ? signing.encodedHeader : signing.encodedGrantHeader;
  const signingInput = `${header}.${encodeSegment(payload)}`;
  return `${signingInput}.${createHmac('sha256', signing.key).update(signingInput).digest('base64url')}`;
}

/**
 * The payload of `token`, once its signature holds under the key its header names, or a refusal:
 * TokenMalformedError when it cannot be read, TokenInvalidError when it is not ours. Nothing in the
 * payload is read before the signature is checked. The payload is any JSON value: the caller judges it.
 */
export function verifyHs256(token: string, ring: HmacKeyring, typ: string = ACCESS_TOKEN_TYP): unknown {
  const headerEnd = token.indexOf('.');
  const payloadEnd = token.indexOf('.', headerEnd + 1);
  if (headerEnd <= 0 || payloadEnd < 0 || token.indexOf('.', payloadEnd + 1) >= 0) {
    throw new TokenMalformedError('token is not a compact JWS (three dot-separated segments)');
  }
  const { key } = ring.keyFor(token.slice(0, headerEnd), typ);
  const expected = Buffer.from(createHmac('sha256', key).update(token.slice(0, payloadEnd)).digest('base64url'), 'utf8');
  // Compared as the exact text we would write, so one signature has one spelling; UTF-8, so that no
  // character outside base64url can stand in for one of its letters.
  const presented = Buffer.from(token.slice(payloadEnd + 1), 'utf8');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw new TokenInvalidError('invalid signature');
  return decodeSegment(token.slice(headerEnd + 1, payloadEnd), 'payload');
}

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decodeSegment(segment: string, name: 'header' | 'payload'): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new TokenMalformedError(`token ${name} is not JSON`, { cause });
  }
}

/**
 * The kid of a decoded header that asks for HS256 and nothing we do not implement. A session grant says so in its
 * typ, and nothing else does: neither passes for the other. (An access token's typ is otherwise free: RFC 7519
 * makes it optional, RFC 9068 spells it at+jwt.)
 */
function kidOf(header: unknown, typ: string): string {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new TokenMalformedError('token header is not a JSON object');
  const { alg, kid, crit, typ: declared } = header as Record<string, unknown>;
  if (alg !== HS256) throw new TokenInvalidError(`token alg must be ${HS256}`);
  if ((declared === SESSION_GRANT_TYP) !== (typ === SESSION_GRANT_TYP))
    throw new TokenInvalidError(`token typ must ${typ === SESSION_GRANT_TYP ? '' : 'not '}be ${SESSION_GRANT_TYP}`);
  // RFC 7515 §4.1.11: a header extension the verifier does not understand must refuse the token.
  if (crit !== undefined) throw new TokenInvalidError('token header has crit extensions');
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw new TokenInvalidError('token has no valid kid');
  return kid;
}

function notInRing(): never {
  throw new UnknownKeyError('token was signed with a key that is not in the ring');
}
