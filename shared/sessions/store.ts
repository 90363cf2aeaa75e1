// The Redis data model: a label per live token (`jwt_label:<jti>`, jwt-redis's allowlist) and, per subject,
// an index of its live jtis (`jwt_sessions:{tag}`, a sorted set scored by exp) and a revocation counter
// (`jwt_revoked:{tag}`): a label stamped below the counter is dead (shared/sessions/lua.ts says why it holds).
//
// A jti is `{tag}random`: the tag is derived from the subject and, in braces, is a Redis Cluster hash tag,
// so a subject's keys share one slot and one script can change them together.
import { createHash, randomFillSync } from 'node:crypto';
import { MAX_TTL_LIMIT } from '../auth/claims';
import { loadSessionConfig, type SessionConfig } from '../config';
import { SessionLimitError, StoreOutcomeUnknownError, StoreUnavailableError } from '../errors';
import { describeError, log, type RequestScope } from '../telemetry/log';
import { idempotent, sentOnce, type RedisConnection } from '../redis/connection';
import type { Command } from '../redis/targets';
import type { SessionKeys } from './lua';

export const LABEL_PREFIX = 'jwt_label:';
export const INDEX_PREFIX = 'jwt_sessions:';
export const COUNTER_PREFIX = 'jwt_revoked:';
/** 16 random bytes: 128 bits, as base64url (22 characters). */
const RANDOM_BYTES = 16;
/** 132 bits of SHA-256(sub): a collision would merge two subjects' indexes, so it must not happen. */
const TAG_LENGTH = 22;
const JTI_PATTERN = /^\{([A-Za-z0-9_-]{22})\}[A-Za-z0-9_-]{22}$/;
const SCAN_BATCH = 1000;

export interface Session {
  jti: string;
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
}

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
export const indexKey = (tag: string): string => `${INDEX_PREFIX}{${tag}}`;
export const counterKey = (tag: string): string => `${COUNTER_PREFIX}{${tag}}`;
const subjectKeys = (tag: string): Omit<SessionKeys, 'label'> => ({ index: indexKey(tag), counter: counterKey(tag) });

/** The generation a label value, `[<generation>:]<issued at, ms>`, was stamped with: 0 without one. */
function generationOf(label: string): number {
  const colon = label.indexOf(':');
  return colon < 0 ? 0 : Number(label.slice(0, colon));
}

/** A label is live when it exists and was not stamped below its subject's counter (absent: 0). */
function isLive(label: string | null | undefined, counter: string | null | undefined): label is string {
  return typeof label === 'string' && generationOf(label) >= Number(counter ?? 0);
}

/**
 * The label of `jti`, or null when it is gone or stamped below its subject's counter: one MGET of both, in the
 * same slot. This is how verify reads a label, the authorizer's one Redis call.
 */
export async function readLiveLabel(redis: RedisConnection, jti: string, scope?: RequestScope): Promise<string | null> {
  const tag = tagOfJti(jti);
  // verify has already refused any other jti.
  if (tag === undefined) return null;
  const key = labelKey(jti);
  const [label, counter] = await redis.run(
    idempotent('MGET', { key }, (client) => client.mGet([key, counterKey(tag)])),
    scope,
  );
  return isLive(label, counter) ? label : null;
}

export interface SessionLimits extends SessionConfig {
  /** MAX_TTL: no label lives longer, so a revocation's counter lives at least this long. */
  maxTtlSeconds: number;
}

/** Without the service's configuration (tools, tests): its defaults, and the longest lifetime a token may have. */
const DEFAULT_LIMITS: SessionLimits = { ...loadSessionConfig({}), maxTtlSeconds: MAX_TTL_LIMIT };

export class SessionStore {
  /**
   * @param waitReplicas revocations are acknowledged only once this many replicas hold them (Redis WAIT),
   *   so a failover right after a 204 cannot bring a revoked token back. 0 waits for none.
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly waitReplicas = 0,
    private readonly limits: SessionLimits = DEFAULT_LIMITS,
  ) {}

  /**
   * Stores the label and indexes the session, in one atomic step, within the subject's MAX_SESSIONS: ending
   * its oldest sessions, or throwing SessionLimitError (nothing stored). `issuedAtMs` is when the token was signed.
   * Throws StoreUnavailableError when it may not have been stored: the token must then never be handed out.
   */
  async register(sub: string, jti: string, exp: number, issuedAtMs: number, scope?: RequestScope): Promise<void> {
    const keys = { label: labelKey(jti), ...subjectKeys(subjectTag(sub)) };
    const session = { jti, issuedAtMs, exp, lifetimeMs: exp * 1000 - issuedAtMs, nowSeconds: Math.floor(issuedAtMs / 1000) };
    const { maxSessions, onLimit } = this.limits;
    let stored: number;
    try {
      stored = await this.redis.run(
        // ! Not idempotent: run again after its reply was lost, it would store the label again, bringing back a
        // token revoked (by jti or logout-all) in between, and apply the cap twice.
        sentOnce('registerSession', { key: keys.index }, (client) =>
          client.registerSession(keys, session, { maxSessions, onLimit, labelPrefix: LABEL_PREFIX }),
        ),
        scope,
      );
    } catch (error) {
      // It may have run: the caller answers 503 and this jti is never handed out. Take its label and index entry
      // back, so that it holds no slot under the cap (the client signs again, with a new jti).
      if (error instanceof StoreOutcomeUnknownError) await this.withdraw(keys, jti, scope);
      throw error;
    }
    if (stored === 0) throw new SessionLimitError(`the subject already has ${maxSessions} live sessions (MAX_SESSIONS); end one first`);
  }

  /** Ends one session, whoever owns it. Resolves false if it was not live. */
  async end(jti: string, scope?: RequestScope): Promise<boolean> {
    const tag = tagOfJti(jti);
    if (tag === undefined) return false;
    const keys = { label: labelKey(jti), ...subjectKeys(tag) };
    const ended = await this.redis.run(
      idempotent(
        'endSession',
        { key: keys.index },
        this.replicated((client) => client.endSession(keys, jti)),
      ),
      scope,
    );
    return ended === 1;
  }

  /** Ends one of `sub`'s sessions. Resolves false, touching nothing, if the jti is not one of theirs. */
  async endOwn(sub: string, jti: string, scope?: RequestScope): Promise<boolean> {
    if (tagOfJti(jti) !== subjectTag(sub)) return false;
    return this.end(jti, scope);
  }

  /**
   * Ends every session of a subject signed before it, in one script, listed in the index or not: nothing
   * signing meanwhile can make it retry or fail. Resolves how many sessions the index listed.
   */
  async endAll(sub: string, scope?: RequestScope): Promise<number> {
    const keys = subjectKeys(subjectTag(sub));
    const maxTtlMs = this.limits.maxTtlSeconds * 1000;
    return this.redis.run(
      idempotent(
        'endAllSessions',
        { key: keys.index },
        this.replicated((client) => client.endAllSessions(keys, maxTtlMs, LABEL_PREFIX)),
      ),
      scope,
    );
  }

  /** The subject's live sessions, newest first. */
  async list(sub: string, nowSeconds: number, scope?: RequestScope): Promise<Session[]> {
    const { index, counter } = subjectKeys(subjectTag(sub));
    const entries = await this.redis.run(
      idempotent('ZRANGE', { key: index }, (client) => client.zRangeWithScores(index, `(${nowSeconds}`, '+inf', { BY: 'SCORE' })),
      scope,
    );
    if (entries.length === 0) return [];
    // Labels and counter share the index's slot, so one MGET reads them all.
    const [generation, ...labels] = await this.redis.run(
      idempotent('MGET', { key: index }, (client) => client.mGet([counter, ...entries.map((entry) => labelKey(entry.value))])),
      scope,
    );
    const live: Array<{ session: Session; issuedAtMs: number }> = [];
    entries.forEach((entry, i) => {
      const label = labels[i];
      if (!isLive(label, generation)) return;
      const ms = Number(label.slice(label.indexOf(':') + 1));
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
   * Best effort, after a registerSession that may have run: deletes the label of a token never handed out, and
   * its index entry. Idempotent, unlike what it undoes. A failure is logged: the label then lives out its TTL,
   * valid for a token no one holds, its session counted under the cap until it expires.
   */
  private async withdraw(keys: SessionKeys, jti: string, scope?: RequestScope): Promise<void> {
    try {
      await this.redis.run(
        idempotent('endSession', { key: keys.index }, (client) => client.endSession(keys, jti)),
        scope,
      );
    } catch (error) {
      (scope?.log ?? log).warn('could not withdraw a session that may have been stored, for a token never handed out', { reason: describeError(error) }, scope);
    }
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
        const page = await this.redis.run(idempotent('SCAN', route, (client) => client.scan(cursor, { MATCH: pattern, COUNT: SCAN_BATCH })));
        cursor = page.cursor;
        if (page.keys.length > 0) {
          // One UNLINK a key: keys of a page may lie in different slots, which one command may not span.
          const unlinked = await this.redis.run(
            idempotent(
              'UNLINK',
              route,
              this.replicated(async (client) => (await Promise.all(page.keys.map((key) => client.unlink(key)))).reduce((a, b) => a + b, 0)),
            ),
          );
          deleted += unlinked;
          onProgress(deleted);
        }
      } while (cursor !== '0');
    }
    return deleted;
  }
}
