// Compact JWS (RFC 7515 §3.1), made and checked with node:crypto alone (shared/auth/algorithms.ts). The algorithm
// is the key's, never the token's: a header must name a key of the ring by kid and agree with that key's
// algorithm, so no header can choose how it is checked (alg confusion, `none`), and the key is found in the
// in-memory ring only.
import { KID_PATTERN } from '../config';
import { TokenInvalidError, TokenMalformedError, UnknownKeyError } from '../errors';
import type { Algorithm, SignatureScheme } from './algorithms';

/** The `typ` of access tokens, and of session grants (shared/auth/tokens.ts): neither is accepted as the other. */
export const ACCESS_TOKEN_TYP = 'JWT';
export const SESSION_GRANT_TYP = 'session-grant+jwt';

export interface JwsKey {
  kid: string;
  alg: Algorithm;
  scheme: SignatureScheme;
  /** `{"alg":…,"typ":"JWT","kid":…}` as base64url: the first segment of every access token this key signs. */
  encodedHeader: string;
  /** The same with the session grants' typ. */
  encodedGrantHeader: string;
}

export function jwsKey(kid: string, scheme: SignatureScheme): JwsKey {
  return {
    kid,
    alg: scheme.alg,
    scheme,
    encodedHeader: encodeSegment({ alg: scheme.alg, typ: ACCESS_TOKEN_TYP, kid }),
    encodedGrantHeader: encodeSegment({ alg: scheme.alg, typ: SESSION_GRANT_TYP, kid }),
  };
}

/** The keys a token may have been signed with, by kid, and by the exact header they sign access tokens with. */
export class Keyring {
  readonly #byKid: Map<string, JwsKey>;
  readonly #byHeader: Map<string, JwsKey>;

  constructor(keys: readonly JwsKey[]) {
    this.#byKid = new Map(keys.map((key) => [key.kid, key]));
    this.#byHeader = new Map(keys.map((key) => [key.encodedHeader, key]));
  }

  /**
   * The key the header segment names, for a JWS of type `typ`. Our own access tokens carry one of a few exact
   * headers, found without decoding; any other spelling is decoded and held to the same rules.
   */
  keyFor(encodedHeader: string, typ: string): JwsKey {
    if (typ === ACCESS_TOKEN_TYP) {
      const key = this.#byHeader.get(encodedHeader);
      if (key !== undefined) return key;
    }
    const header = readHeader(decodeSegment(encodedHeader, 'header'), typ);
    const key = this.#byKid.get(header.kid) ?? notInRing();
    if (header.alg !== key.alg) throw new TokenInvalidError(`token alg must be ${key.alg}, the algorithm of its key`);
    return key;
  }
}

/** An access token; with `typ` SESSION_GRANT_TYP, a session grant. `signing` must hold a private or secret key. */
export function signJws(signing: JwsKey, payload: Record<string, unknown>, typ: string = ACCESS_TOKEN_TYP): string {
  const header = typ === ACCESS_TOKEN_TYP ? signing.encodedHeader : signing.encodedGrantHeader;
  const signingInput = `${header}.${encodeSegment(payload)}`;
  const sign = signing.scheme.sign ?? noSigningKey;
  return `${signingInput}.${sign(signingInput)}`;
}

/**
 * The payload of `token`, once its signature holds under the key its header names, or a refusal:
 * TokenMalformedError when it cannot be read, TokenInvalidError when it is not ours. Nothing in the
 * payload is read before the signature is checked. The payload is any JSON value: the caller judges it.
 */
export function verifyJws(token: string, ring: Keyring, typ: string = ACCESS_TOKEN_TYP): unknown {
  const headerEnd = token.indexOf('.');
  const payloadEnd = token.indexOf('.', headerEnd + 1);
  if (headerEnd <= 0 || payloadEnd < 0 || token.indexOf('.', payloadEnd + 1) >= 0) {
    throw new TokenMalformedError('token is not a compact JWS (three dot-separated segments)');
  }
  const { scheme } = ring.keyFor(token.slice(0, headerEnd), typ);
  if (!scheme.verify(token.slice(0, payloadEnd), token.slice(payloadEnd + 1))) throw new TokenInvalidError('invalid signature');
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
 * A decoded header's alg and kid, when it asks for nothing we do not implement. A session grant says so in its
 * typ, and nothing else does: neither passes for the other. (An access token's typ is otherwise free: RFC 7519
 * makes it optional, RFC 9068 spells it at+jwt.) A header carrying its own key (`jwk`, `jku`, `x5u`, `x5c`) is
 * refused outright: the ring alone holds keys.
 */
function readHeader(header: unknown, typ: string): { alg: unknown; kid: string } {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new TokenMalformedError('token header is not a JSON object');
  const { alg, kid, crit, typ: declared } = header as Record<string, unknown>;
  if ((declared === SESSION_GRANT_TYP) !== (typ === SESSION_GRANT_TYP))
    throw new TokenInvalidError(`token typ must ${typ === SESSION_GRANT_TYP ? '' : 'not '}be ${SESSION_GRANT_TYP}`);
  // RFC 7515 §4.1.11: a header extension the verifier does not understand must refuse the token.
  if (crit !== undefined) throw new TokenInvalidError('token header has crit extensions');
  if (['jwk', 'jku', 'x5u', 'x5c'].some((name) => Object.hasOwn(header, name))) throw new TokenInvalidError('token header carries a key of its own');
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw new TokenInvalidError('token has no valid kid');
  return { alg, kid };
}

function notInRing(): never {
  throw new UnknownKeyError('token was signed with a key that is not in the ring');
}

function noSigningKey(): never {
  throw new Error('this key only verifies: signing needs the private key');
}
