// The Redis keys, and the ids they are built from. A jti and a sid are `{tag}random`: the tag is derived from
// the subject and, in braces, is a Redis Cluster hash tag, so every key of a subject (its index, its counter,
// its sessions' records and its tokens' labels) lies in one slot and one script can change them together.
import { createHash, randomFillSync } from 'node:crypto';

/** jwt-redis's allowlist: one label per live access token. */
export const LABEL_PREFIX = 'jwt_label:';
/** Per subject: its sessions' sids, a sorted set scored by when each stops being usable. */
export const INDEX_PREFIX = 'jwt_sessions:';
/** Per subject: the revocation counter. */
export const COUNTER_PREFIX = 'jwt_revoked:';
/** Per session: its record (a hash; shared/sessions/lua.ts lists its fields). */
export const RECORD_PREFIX = 'jwt_session:';
/** Per session, for REFRESH_REUSE_GRACE after each rotation: what a retry of it gets back. */
export const REPLAY_PREFIX = 'jwt_refresh_replay:';

/** 16 random bytes: 128 bits, as base64url (22 characters). */
const RANDOM_BYTES = 16;
/** 132 bits of SHA-256(sub): a collision would merge two subjects' sessions, so it must not happen. */
export const TAG_LENGTH = 22;
const ID_PATTERN = /^\{([A-Za-z0-9_-]{22})\}[A-Za-z0-9_-]{22}$/;

/** Tags a container computed lately: sign and verify hash the same subjects again and again. */
const recentTags = new Map<string, string>();
const RECENT_TAGS_LIMIT = 4096;

export function subjectTag(sub: string): string {
  let tag = recentTags.get(sub);
  if (tag === undefined) {
    tag = createHash('sha256').update(sub, 'utf8').digest('base64url').slice(0, TAG_LENGTH);
    if (recentTags.size >= RECENT_TAGS_LIMIT) recentTags.clear();
    recentTags.set(sub, tag);
  }
  return tag;
}

/** A new jti or sid for one of `sub`'s tokens or sessions. */
export const newId = (sub: string): string => newIdInSlot(subjectTag(sub));

/** A new jti or sid for the subject whose tag is `tag`. */
export const newIdInSlot = (tag: string): string => taggedId(tag, pooledRandomBytes(RANDOM_BYTES).toString('base64url'));

export const taggedId = (tag: string, random: string): string => `{${tag}}${random}`;

// CSPRNG output drawn 4 KiB at a time, each byte used once, as crypto.randomUUID does: one randomBytes call
// costs several µs, on every sign and refresh.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** `length` (at most 4096) random bytes no one else was given. */
export function pooledRandomBytes(length: number): Buffer {
  if (poolOffset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    poolOffset = 0;
  }
  const chunk = pool.subarray(poolOffset, poolOffset + length);
  poolOffset += length;
  return chunk;
}

/** The subject tag inside a well-formed jti or sid, or undefined. */
export function tagOf(id: string): string | undefined {
  return ID_PATTERN.exec(id)?.[1];
}

/** Shaped as the jtis and sids this service makes. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export const labelKey = (jti: string): string => `${LABEL_PREFIX}${jti}`;
export const recordKey = (sid: string): string => `${RECORD_PREFIX}${sid}`;
export const indexKey = (tag: string): string => `${INDEX_PREFIX}{${tag}}`;
export const counterKey = (tag: string): string => `${COUNTER_PREFIX}{${tag}}`;
