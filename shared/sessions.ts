// The Redis data model: a label per live token (`jwt_label:<jti>`, read by jwt-redis) and, per subject,
// an index of its live jtis (`jwt_sessions:{tag}`, a sorted set scored by exp).
//
// A jti is `{tag}random`: the tag is derived from the subject and, in braces, is a Redis Cluster hash tag,
// so a subject's labels and index share one slot and one script can change them together.
import { createHash, randomFillSync } from 'node:crypto';
import { StoreUnavailableError } from './errors';
import type { RequestScope } from './log';
import type { Command, RedisConnection } from './redis';

export const LABEL_PREFIX = 'jwt_label:';
export const INDEX_PREFIX = 'jwt_sessions:';
/** 16 random bytes: 128 bits, as base64url (22 characters). */
const RANDOM_BYTES = 16;
/** 132 bits of SHA-256(sub): a collision would merge two subjects' indexes, so it must not happen. */
const TAG_LENGTH = 22;
const JTI_PATTERN = /^\{([A-Za-z0-9_-]{22})\}[A-Za-z0-9_-]{22}$/;
/** Bounded retries of logout-all when signs for the same subject keep landing in between. */
const END_ALL_ATTEMPTS = 5;
const SCAN_BATCH = 1000;

export interface Session {
  jti: string;
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
}

export function subjectTag(sub: string): string {
  return createHash('sha256').update(sub, 'utf8').digest('base64url').slice(0, TAG_LENGTH);
}

export function newJti(sub: string): string {
  return `{${subjectTag(sub)}}${randomChunk().toString('base64url')}`;
}

// CSPRNG output drawn 4 KiB at a time, each 16 bytes used once, as crypto.randomUUID does: one
// randomBytes(16) call costs several µs, on every sign.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomChunk(): Buffer {
  if (poolOffset + RANDOM_BYTES > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    poolOffset = 0;
  }
  const chunk = pool.subarray(poolOffset, poolOffset + RANDOM_BYTES);
  poolOffset += RANDOM_BYTES;
  return chunk;
}

/** The subject tag inside a well-formed jti, or undefined. */
export function tagOfJti(jti: string): string | undefined {
  return JTI_PATTERN.exec(jti)?.[1];
}

export function isJti(value: unknown): value is string {
  return typeof value === 'string' && JTI_PATTERN.test(value);
}

export const labelKey = (jti: string): string => `${LABEL_PREFIX}${jti}`;
const indexKey = (tag: string): string => `${INDEX_PREFIX}{${tag}}`;

export class SessionStore {
  /**
   * @param waitReplicas revocations are acknowledged only once this many replicas hold them (Redis WAIT),
   *   so a failover right after a 204 cannot bring a revoked token back. 0 waits for none.
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly waitReplicas = 0,
  ) {}

  /** Stores the label and indexes the session, in one atomic step. `issuedAtMs` is when the token was signed. */
  async register(sub: string, jti: string, exp: number, issuedAtMs: number, scope?: RequestScope): Promise<void> {
    const lifetimeMs = exp * 1000 - issuedAtMs;
    const index = indexKey(subjectTag(sub));
    await this.redis.run(
      'registerSession',
      { key: index },
      (client) => client.registerSession(labelKey(jti), index, jti, issuedAtMs, exp, lifetimeMs, Math.floor(issuedAtMs / 1000)),
      scope,
    );
  }

  /** Ends one session, whoever owns it. Resolves false if it was not live. */
  async end(jti: string, scope?: RequestScope): Promise<boolean> {
    const tag = tagOfJti(jti);
    if (tag === undefined) return false;
    const index = indexKey(tag);
    const ended = await this.redis.run('endSession', { key: index }, this.replicated((client) => client.endSession(labelKey(jti), index, jti)), scope);
    return ended === 1;
  }

  /** Ends one of `sub`'s sessions. Resolves false, touching nothing, if the jti is not one of theirs. */
  async endOwn(sub: string, jti: string, scope?: RequestScope): Promise<boolean> {
    if (tagOfJti(jti) !== subjectTag(sub)) return false;
    return this.end(jti, scope);
  }

  /** Ends every session of a subject, atomically against concurrent signs. Resolves how many were live. */
  async endAll(sub: string, scope?: RequestScope): Promise<number> {
    const index = indexKey(subjectTag(sub));
    for (let attempt = 1; attempt <= END_ALL_ATTEMPTS; attempt += 1) {
      const jtis = await this.redis.run('ZRANGE', { key: index }, (client) => client.zRange(index, 0, -1), scope);
      const ended = await this.redis.run(
        'endAllSessions',
        { key: index },
        this.replicated((client) => client.endAllSessions(index, jtis.map(labelKey), jtis)),
        scope,
      );
      if (ended >= 0) return ended;
    }
    throw new Error(`logout-all kept racing new sessions ${END_ALL_ATTEMPTS} times`);
  }

  /** The subject's live sessions, newest first. */
  async list(sub: string, nowSeconds: number, scope?: RequestScope): Promise<Session[]> {
    const index = indexKey(subjectTag(sub));
    const entries = await this.redis.run('ZRANGE', { key: index }, (client) => client.zRangeWithScores(index, `(${nowSeconds}`, '+inf', { BY: 'SCORE' }), scope);
    if (entries.length === 0) return [];
    // Labels share the index's slot, so one MGET reads them all; a missing label is a dead session.
    const issuedAtMs = await this.redis.run('MGET', { key: index }, (client) => client.mGet(entries.map((entry) => labelKey(entry.value))), scope);
    const live: Array<{ session: Session; issuedAtMs: number }> = [];
    entries.forEach((entry, i) => {
      const value = issuedAtMs[i];
      if (value === null || value === undefined) return;
      const ms = Number(value);
      live.push({ session: { jti: entry.value, issuedAt: Math.floor(ms / 1000), expiresAt: entry.score }, issuedAtMs: ms });
    });
    return live.sort((a, b) => b.issuedAtMs - a.issuedAtMs).map(({ session }) => session);
  }

  /**
   * The kill switch: deletes every label, then every index, so every token is refused. SCAN walks the
   * keyspace in batches: O(all keys in Redis) in all, but it never blocks the server the way KEYS would.
   * Resolves how many tokens were revoked (labels deleted).
   */
  async endEverything(onProgress: (revoked: number) => void = () => undefined): Promise<number> {
    const revoked = await this.deleteMatching(`${LABEL_PREFIX}*`, onProgress);
    await this.deleteMatching(`${INDEX_PREFIX}*`, () => undefined);
    return revoked;
  }

  /**
   * The write, then WAIT on the same connection (WAIT covers only that connection's writes) for as long
   * as the time bound leaves. Fewer replicas than asked is a failure: the revocation may not survive a
   * failover, so it is not acknowledged; retrying it is safe.
   */
  private replicated<T>(write: Command<T>): Command<T> {
    if (this.waitReplicas === 0) return write;
    return async (client, remainingMs) => {
      const started = Date.now();
      const result = await write(client, remainingMs);
      // Leave part of the bound for WAIT's reply to come back before the deadline fires: a deadline
      // would also throw the connection away.
      const left = remainingMs - (Date.now() - started);
      const waitMs = Math.max(1, Math.floor(left - Math.max(50, left / 10)));
      const replicas = await client.wait(this.waitReplicas, waitMs);
      if (replicas < this.waitReplicas) {
        throw new StoreUnavailableError(`revocation reached ${replicas} of ${this.waitReplicas} replica(s) within ${waitMs} ms`);
      }
      return result;
    };
  }

  /** SCAN and UNLINK on every primary: in a cluster each holds only its own slots' keys. */
  private async deleteMatching(pattern: string, onProgress: (deleted: number) => void): Promise<number> {
    let deleted = 0;
    const primaries = await this.redis.primaryCount();
    for (let primary = 0; primary < primaries; primary += 1) {
      const route = { primary };
      let cursor = '0';
      do {
        const page = await this.redis.run('SCAN', route, (client) => client.scan(cursor, { MATCH: pattern, COUNT: SCAN_BATCH }));
        cursor = page.cursor;
        if (page.keys.length > 0) {
          // One UNLINK a key: keys of a page may lie in different slots, which one command may not span.
          const unlinked = await this.redis.run(
            'UNLINK',
            route,
            this.replicated(async (client) => (await Promise.all(page.keys.map((key) => client.unlink(key)))).reduce((a, b) => a + b, 0)),
          );
          deleted += unlinked;
          onProgress(deleted);
        }
      } while (cursor !== '0');
    }
    return deleted;
  }
}
