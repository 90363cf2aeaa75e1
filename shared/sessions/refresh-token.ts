// Refresh tokens: opaque to clients, stored only as hashes. A refresh token is four base64url fields:
//   <subject tag>.<session random>.<family secret>.<secret>
// The first two name the session (its sid is `{tag}random`), so a refresh needs no lookup to find it. The family
// secret (128 bits) is the same in every refresh token of the session: presenting it with a secret that is not
// the current one proves the presenter holds a used refresh token of this session, which is theft, where a
// stranger who only knows the sid proves nothing and ends nothing. The secret (256 bits) is new at each rotation.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { taggedId, TAG_LENGTH } from './keys';

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
  return { sid, tag, session, family: randomBytes(FAMILY_BYTES).toString('base64url'), secret: newSecret() };
}

export const newSecret = (): string => randomBytes(SECRET_BYTES).toString('base64url');

/** SHA-256, base64url: the secrets carry 128 and 256 random bits, so a fast hash is enough to keep them unusable. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('base64url');

/**
 * The next secret, encrypted (AES-256-GCM) under a key derived from the presented secret and the sid. Redis keeps
 * it for the grace window, so that a retry of a rotation gets the same refresh token back; only a holder of the
 * secret just rotated can open it, so Redis holds no usable refresh token.
 */
export function sealNextSecret(presented: RefreshToken, next: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(presented), iv);
  const sealed = Buffer.concat([cipher.update(next, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
}

/** The next secret sealNextSecret sealed for `presented`; throws if it was sealed for another. */
export function openNextSecret(presented: RefreshToken, sealed: string): string {
  const bytes = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(presented), bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString('utf8');
}

function sealingKey({ sid, secret }: RefreshToken): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, sid, 'refresh-token replay', 32));
}
