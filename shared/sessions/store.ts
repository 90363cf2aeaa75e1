// The Redis data model, per subject: its sessions (a record each, `jwt_session:<sid>`), a label per live access
// token (`jwt_label:<jti>`, jwt-redis's allowlist), an index of its sessions (`jwt_sessions:{tag}`) and a
// revocation counter (`jwt_revoked:{tag}`). shared/sessions/lua.ts says how the scripts keep them in step, and
// why a token is live exactly when its label is there and not stamped below the counter.
import { MAX_TTL_LIMIT } from '../auth/claims';
import { loadSessionConfig, type SessionConfig } from '../config';
import { SessionLimitError, StoreOutcomeUnknownError, StoreUnavailableError } from '../errors';
import { describeError, log, type RequestScope } from '../telemetry/log';
import { idempotent, sentOnce, type RedisConnection } from '../redis/connection';
import type { Command, RedisClient } from '../redis/targets';
import { counterKey, indexKey, INDEX_PREFIX, LABEL_PREFIX, labelKey, RECORD_PREFIX, recordKey, REPLAY_PREFIX, subjectTag, tagOf } from './keys';
import type { NewSession, PresentedRefresh, RotationReply, SessionKeys } from './lua';

const SCAN_BATCH = 1000;

/** A live session, as its owner sees it. Times in seconds since the epoch. */
export interface Session {
  sid: string;
  createdAt: number;
  /** Absent until its first refresh. */
  lastRefreshedAt?: number;
  /** When it ends unless refreshed: its latest access token's or refresh token's end, within its absolute end. */
  expiresAt: number;
  device?: string;
  ip?: string;
}

const subjectKeys = (tag: string): Omit<SessionKeys, 'record'> => ({ index: indexKey(tag), counter: counterKey(tag) });
const sessionKeys = (tag: string, sid: string): SessionKeys => ({ record: recordKey(sid), ...subjectKeys(tag) });

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
  const tag = tagOf(jti);
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
    readonly limits: SessionLimits = DEFAULT_LIMITS,
  ) {}

  /**
   * Creates a session with its first access token's label, in one atomic step, within the subject's
   * MAX_SESSIONS: ending its oldest sessions, or throwing SessionLimitError (nothing stored).
   * Throws StoreUnavailableError when it may not have been stored: the token must then never be handed out.
   */
  async register(session: NewSession, scope?: RequestScope): Promise<void> {
    const tag = subjectTag(session.sub);
    const keys = { ...sessionKeys(tag, session.sid), label: labelKey(session.jti) };
    const { maxSessions, onLimit } = this.limits;
    let stored: number;
    try {
      stored = await this.redis.run(
        // ! Not idempotent: run again after its reply was lost, it would create the session again, bringing back
        // one ended in between, and apply the cap twice.
        sentOnce('registerSession', { key: keys.index }, (client) => client.registerSession(keys, session, { maxSessions, onLimit })),
        scope,
      );
    } catch (error) {
      // It may have run: the caller answers 503 and this session is never handed out. End it, so that it holds
      // no slot under the cap (the client signs again, and gets a new one).
      if (error instanceof StoreOutcomeUnknownError) await this.withdraw(tag, session.sid, scope);
      throw error;
    }
    if (stored === 0) throw new SessionLimitError(`the subject already has ${maxSessions} live sessions (MAX_SESSIONS); end one first`);
  }

  /**
   * Rotates a refresh token (shared/sessions/lua.ts, rotateRefresh): one script decides, and writes the new
   * access token's label, or ends the session when a used refresh token comes back.
   */
  async rotate(tag: string, presented: PresentedRefresh, scope?: RequestScope): Promise<RotationReply> {
    const keys = sessionKeys(tag, presented.sid);
    // ! Not idempotent: run again after its reply was lost, it would see its own rotation's secret as used, and
    // end the session. The client retries instead, with the same refresh token, within the grace window.
    return this.redis.run(
      sentOnce('rotateRefresh', { key: keys.index }, async (client, remainingMs) => {
        const started = Date.now();
        const reply = (await client.rotateRefresh(keys, presented)) as unknown as RotationReply;
        // A session ended here (a used refresh token came back, or its subject was revoked) is a revocation
        // like any other: answered only once the replicas hold it.
        if (reply[0] === 'reused' || (reply[0] === 'refused' && reply[1] === 'revoked')) {
          await this.awaitReplicas(client, remainingMs - (Date.now() - started));
        }
        return reply;
      }),
      scope,
    );
  }

  /**
   * Replaces a session's grant with the same terms signed by the current key, if it is still `read`. Best effort:
   * on failure the session keeps the older grant, valid while its key stays in the ring.
   */
  async replaceGrant(tag: string, sid: string, read: string, replacement: string, scope?: RequestScope): Promise<void> {
    const record = recordKey(sid);
    try {
      await this.redis.run(
        idempotent('replaceGrant', { key: indexKey(tag) }, (client) => client.replaceGrant(record, read, replacement)),
        scope,
      );
    } catch (error) {
      (scope?.log ?? log).warn('could not sign a session grant again with the current key', { sid, reason: describeError(error) }, scope);
    }
  }

  /** Ends one session and every access token it issued, whoever owns it. Resolves false if it was not live. */
  async end(sid: string, scope?: RequestScope): Promise<boolean> {
    const tag = tagOf(sid);
    if (tag === undefined) return false;
    const keys = sessionKeys(tag, sid);
    return (await this.revoke('endSession', keys.index, (client) => client.endSession(keys, sid), scope)) === 1;
  }

  /** Ends one of `sub`'s sessions. Resolves false, touching nothing, if the sid is not one of theirs. */
  async endOwn(sub: string, sid: string, scope?: RequestScope): Promise<boolean> {
    if (tagOf(sid) !== subjectTag(sub)) return false;
    return this.end(sid, scope);
  }

  /** Ends every session of `sub` but `keptSid`, with their access tokens. Resolves how many were live. */
  async endOthers(sub: string, keptSid: string, scope?: RequestScope): Promise<number> {
    const keys = subjectKeys(subjectTag(sub));
    return this.revoke('endOtherSessions', keys.index, (client) => client.endOtherSessions(keys, keptSid), scope);
  }

  /** Ends one access token, whoever owns it; its session lives on. Resolves false if it was not live. */
  async endToken(jti: string, scope?: RequestScope): Promise<boolean> {
    const tag = tagOf(jti);
    if (tag === undefined) return false;
    const keys = { label: labelKey(jti), counter: counterKey(tag) };
    return (await this.revoke('endToken', keys.label, (client) => client.endToken(keys), scope)) === 1;
  }

  /**
   * Ends every session of a subject made before it, and every access token, in one script, listed in the index
   * or not: nothing signing meanwhile can make it retry or fail. Resolves how many sessions the index listed live.
   */
  async endAll(sub: string, scope?: RequestScope): Promise<number> {
    const keys = subjectKeys(subjectTag(sub));
    const maxTtlMs = this.limits.maxTtlSeconds * 1000;
    return this.revoke('endAllSessions', keys.index, (client) => client.endAllSessions(keys, maxTtlMs), scope);
  }

  /** The subject's live sessions, newest first. */
  async list(sub: string, nowSeconds: number, scope?: RequestScope): Promise<Session[]> {
    const keys = subjectKeys(subjectTag(sub));
    const flat = await this.redis.run(
      idempotent('listSessions', { key: keys.index }, (client) => client.listSessions(keys, nowSeconds)),
      scope,
    );
    const sessions: Array<{ session: Session; createdMs: number }> = [];
    for (let i = 0; i + 5 < flat.length; i += 6) {
      const [sid, created, liveUntil, refreshed, device, ip] = flat.slice(i, i + 6) as [string, string, string, string, string, string];
      const createdMs = Number(created);
      sessions.push({
        createdMs,
        session: {
          sid,
          createdAt: Math.floor(createdMs / 1000),
          ...(refreshed === '' ? {} : { lastRefreshedAt: Math.floor(Number(refreshed) / 1000) }),
          expiresAt: Number(liveUntil),
          ...(device === '' ? {} : { device }),
          ...(ip === '' ? {} : { ip }),
        },
      });
    }
    return sessions.sort((a, b) => b.createdMs - a.createdMs).map(({ session }) => session);
  }

  /**
   * The kill switch: deletes every session record (so no refresh token works, and no refresh can write a label),
   * then every label, replay key and index, so every token is refused. SCAN walks the keyspace in batches:
   * O(all keys in Redis) in all, but it never blocks the server the way KEYS would. Resolves how many access
   * tokens were revoked (labels deleted).
   * ! Records before labels: a refresh that ran before its record went wrote its label before the label pass began,
   * so that pass deletes it. Last, every session signed while the passes ran is ended as logout ends one, whole:
   * only one signed after that pass went by its key outlives the kill switch.
   */
  async endEverything(onProgress: (revoked: number) => void = () => undefined): Promise<number> {
    await this.deleteMatching(`${RECORD_PREFIX}*`, () => undefined);
    const revoked = await this.deleteMatching(`${LABEL_PREFIX}*`, onProgress);
    await this.deleteMatching(`${REPLAY_PREFIX}*`, () => undefined);
    await this.deleteMatching(`${INDEX_PREFIX}*`, () => undefined);
    await this.forEachPage(`${RECORD_PREFIX}*`, async (keys) => {
      await Promise.all(keys.map((key) => this.end(key.slice(RECORD_PREFIX.length))));
      return 0;
    });
    return revoked;
  }

  /**
   * Best effort, after a registerSession that may have run: ends a session never handed out. Idempotent, unlike
   * what it undoes. A failure is logged: the session then lives out its first token's TTL (its refresh token's
   * REFRESH_IDLE_TTL, if it has one), usable by no one, counted under the cap until then.
   */
  private async withdraw(tag: string, sid: string, scope?: RequestScope): Promise<void> {
    const keys = sessionKeys(tag, sid);
    try {
      await this.redis.run(
        idempotent('endSession', { key: keys.index }, (client) => client.endSession(keys, sid)),
        scope,
      );
    } catch (error) {
      (scope?.log ?? log).warn('could not withdraw a session that may have been stored, for a token never handed out', { reason: describeError(error) }, scope);
    }
  }
  /** A revocation on the node of `key`: idempotent (only deletes, or raises the counter), acknowledged once replicated. */
  private revoke<T>(operation: string, key: string, write: Command<T>, scope?: RequestScope): Promise<T> {
    return this.redis.run(idempotent(operation, { key }, this.replicated(write)), scope);
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
      await this.awaitReplicas(client, remainingMs - (Date.now() - started));
      return result;
    };
  }

  /** WAIT for `waitReplicas` on `client`, within `leftMs`; fewer is a StoreUnavailableError. */
  private async awaitReplicas(client: RedisClient, leftMs: number): Promise<void> {
    if (this.waitReplicas === 0) return;
    // Leave part of the bound for WAIT's reply to come back before the deadline fires: a deadline
    // would also throw the connection away.
    const waitMs = Math.max(1, Math.floor(leftMs - Math.max(50, leftMs / 10)));
    const replicas = await client.wait(this.waitReplicas, waitMs);
    if (replicas < this.waitReplicas) {
      throw new StoreUnavailableError(`revocation reached ${replicas} of ${this.waitReplicas} replica(s) within ${waitMs} ms`);
    }
  }

  /** UNLINKs every key matching `pattern`, on every primary. */
  private async deleteMatching(pattern: string, onProgress: (deleted: number) => void): Promise<number> {
    return this.forEachPage(
      pattern,
      (keys, route) =>
        // One UNLINK a key: keys of a page may lie in different slots, which one command may not span.
        this.redis.run(
          idempotent(
            'UNLINK',
            route,
            this.replicated(async (client) => (await Promise.all(keys.map((key) => client.unlink(key)))).reduce((a, b) => a + b, 0)),
          ),
        ),
      onProgress,
    );
  }

  /**
   * SCAN for `pattern` on every primary (in a cluster each holds only its own slots' keys), each page of keys
   * handed to `act`, which resolves how many it dealt with. Resolves the sum.
   */
  private async forEachPage(
    pattern: string,
    act: (keys: string[], route: { primary: number }) => Promise<number>,
    onProgress?: (done: number) => void,
  ): Promise<number> {
    let done = 0;
    const primaries = await this.redis.primaryCount();
    for (let primary = 0; primary < primaries; primary += 1) {
      const route = { primary };
      let cursor = '0';
      do {
        const page = await this.redis.run(idempotent('SCAN', route, (client) => client.scan(cursor, { MATCH: pattern, COUNT: SCAN_BATCH })));
        cursor = page.cursor;
        if (page.keys.length > 0) {
          done += await act(page.keys, route);
          onProgress?.(done);
        }
      } while (cursor !== '0');
    }
    return done;
  }
}
