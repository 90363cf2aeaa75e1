// Refresh tokens: opaque to clients, stored only as hashes. A refresh token is four base64url fields:
//   <subject tag>.<session random>.<family secret>.<secret>
// The first two name the session (its sid is `{tag}random`), so a refresh needs no lookup to find it. The family
// secret (128 bits) is the same in every refresh token of the session: presenting it with a secret that is not
// the current one proves the presenter holds a used refresh token of this session, which is theft, where a
// stranger who only knows the sid proves nothing and ends nothing. The secret (256 bits) is new at each rotation.
import { createHash } from 'node:crypto';
import { newIdInSlot, pooledRandomBytes, taggedId, TAG_LENGTH } from './keys';
import type { PresentedRefresh } from './lua';

const FAMILY_BYTES = 16;
const SECRET_BYTES = 32;
const REFRESH_TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/** Every refresh token's length. */
export const REFRESH_TOKEN_LENGTH = 3 * 22 + 43 + 3;

export interface RefreshToken {
  sid: string;
  tag: string;
  /** The session's random part, as in its sid. */
  session: string;
  family: string;
  secret: string;
}

/** The parts of a string shaped as a refresh token, or undefined. */
export function parseRefreshToken(value: string): RefreshToken | undefined {
  const match = REFRESH_TOKEN.exec(value);
  if (match === null) return undefined;
  const [, tag, session, family, secret] = match as unknown as [string, string, string, string, string];
  return { sid: taggedId(tag, session), tag, session, family, secret };
}

export function formatRefreshToken({ tag, session, family, secret }: Omit<RefreshToken, 'sid'>): string {
  return `${tag}.${session}.${family}.${secret}`;
}

/** The first refresh token of a session whose sid is `{tag}session`. */
export function newRefreshToken(sid: string): RefreshToken {
  const tag = sid.slice(1, 1 + TAG_LENGTH);
  const session = sid.slice(TAG_LENGTH + 2);
  return { sid, tag, session, family: pooledRandomBytes(FAMILY_BYTES).toString('base64url'), secret: newSecret() };
}

export const newSecret = (): string => pooledRandomBytes(SECRET_BYTES).toString('base64url');

/** SHA-256, base64url: the secrets carry 128 and 256 random bits, so a fast hash is enough to keep them unusable. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('base64url');

/**
 * The next secret, sealed with a key only the presented secret gives: XORed with SHA-256(presented secret, sid), a
 * one-time pad, since a secret is rotated once (a hash keyed by its 256-bit secret prefix: nothing here is ever
 * extended, so HMAC's second pass would buy nothing). Redis keeps it for the grace window, so that a retry of a
 * rotation gets the same refresh token back; only a holder of the secret just rotated can open it, so Redis
 * holds no usable refresh token. Tampered with, it opens to a secret that is not the session's: refused.
 */
export function sealNextSecret(presented: RefreshToken, next: string): string {
  return xorPad(presented, Buffer.from(next, 'base64url')).toString('base64url');
}

/** The next secret sealNextSecret sealed for `presented`. */
export function openNextSecret(presented: RefreshToken, sealed: string): string {
  return xorPad(presented, Buffer.from(sealed, 'base64url')).toString('base64url');
}

function xorPad({ sid, secret }: RefreshToken, bytes: Buffer): Buffer {
  const pad = createHash('sha256').update(secret).update('.').update(sid).digest();
  if (bytes.length !== pad.length) throw new TypeError('a sealed secret is 32 bytes');
  return Buffer.from(bytes.map((byte, i) => byte ^ (pad[i] as number)));
}

/**
 * What the rotation script is given for `presented` (shared/sessions/lua.ts, rotateRefresh): hashes only, the
 * next secret's hash and the next secret sealed, and the jti of the access token it would issue.
 */
export function rotationOf(
  presented: RefreshToken,
  next: string,
  nowMs: number,
  limits: { refreshIdleTtlSeconds: number; refreshReuseGraceSeconds: number },
): PresentedRefresh {
  return {
    sid: presented.sid,
    familyHash: hashSecret(presented.family),
    secretHash: hashSecret(presented.secret),
    nextSecretHash: hashSecret(next),
    sealedNext: sealNextSecret(presented, next),
    jti: newIdInSlot(presented.tag),
    nowMs,
    idleTtlSeconds: limits.refreshIdleTtlSeconds,
    // At least 1 ms: Redis refuses a PX of 0; a grace of 0 s then lets no retry through in practice.
    graceMs: Math.max(1, limits.refreshReuseGraceSeconds * 1000),
  };
}
