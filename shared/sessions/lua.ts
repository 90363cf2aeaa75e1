// Lua scripts that keep a subject's sessions, their access tokens' labels, its session index and its revocation
// counter in step, atomically. Every key a script declares in KEYS shares the subject's hash tag, so each script
// runs on one Redis Cluster slot. The keys a session record or the index lists (labels, records, replay keys) are
// touched without being declared: they carry the same tag (a jti and a sid are `{tag}random`), so they lie in
// that slot too, which Redis Cluster allows; ACLs check them all the same. node-redis sends EVALSHA and falls
// back to EVAL on NOSCRIPT.
//
// A session record (`jwt_session:<sid>`, a hash) holds: sub; gen, the counter when it was created; created (ms);
// expires, its absolute end (s); refreshed (ms); device and ip (shown, never used to decide); and, when it can
// be refreshed, ttl (each new access token's lifetime), grant (the session's terms signed with the signing key:
// a record written by anyone else mints nothing, shared/auth/tokens.ts), family (hash of the secret every
// refresh token of the session carries), rt and prev (hashes of the current and the last used secrets) and
// rtExp (s).
// `tokens` lists its access tokens still alive, as "jti exp " pairs: ending a session deletes their labels, so its
// access tokens die with it, and the authorizer still reads only a label and the counter.
//
// Revocation generations. A label's value is its issue time in ms, after `<generation>:` when its subject has
// a revocation counter `jwt_revoked:{tag}`: the counter's value as sign read it. Without one the generation is
// 0, and the value stays an integer, which Redis stores in less memory. A token is live iff its label exists
// and its generation is at least the counter's current value (absent reads as 0): one MGET of the two
// decides. A session is live iff its record exists and its gen is at least the counter. A subject-wide
// revocation raises the counter, so every token and session made before it is dead at once, listed in the
// index or not, and the counter alone defines "before": no container's clock does.
//
// Invariants:
// 1. The counter outlives every label and record of its subject, or it would revive those stamped below it by
//    expiring. Sign and refresh keep it so: they create it at 0 with the subject's first label and extend it
//    with every label or record that would outlive it. A revocation keeps the counter's TTL, or, when it is
//    gone, gives it the longest of the index's and MAX_TTL.
// 2. A restarted counter is above every generation a live label holds: a revocation sets it to the greater of
//    one more than its value and Redis's own clock in ms, so when it is gone (expired, or lost) it starts again
//    at the clock, not at 1. (A Redis clock set back across a lost counter is the one case this cannot cover.)
// 3. Every access token a session issued is in its `tokens` list, and its record lives, until it expires or is
//    ended early: the label and the list entry are written by the same script, and the record and the list keep
//    it MAX_CLOCK_SKEW_SECONDS past its exp, so a label written by a container whose clock is behind is still
//    listed. A session keeps at most MAX_TOKENS_PER_SESSION of them; a new one ends the oldest, so ending a
//    session is bounded.
// 4. Nothing creates a label for a session whose record is gone or dead: refresh checks both in the script
//    that writes it.
import { defineScript } from '@redis/client';
import type { SessionLimitAction } from '../config';
import { LABEL_PREFIX, RECORD_PREFIX, REPLAY_PREFIX } from './keys';

/**
 * How far apart two containers' clocks may be. Times in a session come from the clock of the container that
 * wrote them: what is pruned as past, or kept alive to outlive something else, is held this much longer.
 */
export const MAX_CLOCK_SKEW_SECONDS = 5;

/** Access tokens one session keeps alive at once; a refresh beyond it ends the session's oldest token. */
export const MAX_TOKENS_PER_SESSION = 16;

const PRELUDE = `
    local LABEL, RECORD, REPLAY = '${LABEL_PREFIX}', '${RECORD_PREFIX}', '${REPLAY_PREFIX}'
    local SKEW = ${MAX_CLOCK_SKEW_SECONDS}
    local function generation(value)
      return tonumber(string.match(value, '^(%d+):') or '0')
    end
    local function counter_value(key)
      local value = redis.call('GET', key)
      return tonumber(value or '0'), value
    end
    -- Keeps the counter alive at least ms more (invariant 1), creating it at 0.
    local function keep_counter(key, raw, ms)
      if redis.call('PTTL', key) < ms then
        if raw then redis.call('PEXPIRE', key, ms) else redis.call('SET', key, '0', 'PX', ms) end
      end
    end
    local function stamp(raw, issued_ms)
      if raw and tonumber(raw) ~= 0 then return raw .. ':' .. issued_ms end
      return issued_ms
    end
    -- Deletes a session's labels, record and replay key: every token it issued is dead. Only deletes.
    local function end_session(sid)
      local tokens = redis.call('HGET', RECORD .. sid, 'tokens')
      if tokens then
        for jti in string.gmatch(tokens, '(%S+) %d+') do redis.call('DEL', LABEL .. jti) end
      end
      redis.call('DEL', RECORD .. sid, REPLAY .. sid)
    end
    local function is_live(sid, current)
      local gen = redis.call('HGET', RECORD .. sid, 'gen')
      return gen ~= false and tonumber(gen) >= current
    end
    -- The tokens list without the entries expired by now (and by any container's clock), the new one appended, the oldest ended beyond the
    -- bound (invariant 3); and the latest exp in it.
    local function add_token(tokens, jti, exp, now)
      local kept, latest = {}, exp
      for old, old_exp in string.gmatch(tokens or '', '(%S+) (%d+)') do
        if tonumber(old_exp) + SKEW > now then kept[#kept + 1] = { old, tonumber(old_exp) } end
      end
      while #kept >= ${MAX_TOKENS_PER_SESSION} do
        redis.call('DEL', LABEL .. table.remove(kept, 1)[1])
      end
      kept[#kept + 1] = { jti, exp }
      local parts = {}
      for _, entry in ipairs(kept) do
        parts[#parts + 1] = entry[1] .. ' ' .. entry[2] .. ' '
        if entry[2] > latest then latest = entry[2] end
      end
      return table.concat(parts), latest
    end
    -- Until when the session can still be used (its latest access token's exp, or its refresh token's, within
    -- its absolute end): its record and index entry live that long, and SKEW more, so that a label set by a
    -- container whose clock is behind this one's does not outlive the record that lists it.
    local function place(record_key, index_key, sid, live_until, counter_key, counter_raw, now_ms)
      local ms = (live_until + SKEW) * 1000 - now_ms
      redis.call('PEXPIRE', record_key, ms)
      redis.call('ZADD', index_key, live_until, sid)
      if redis.call('PTTL', index_key) < ms then redis.call('PEXPIRE', index_key, ms) end
      keep_counter(counter_key, counter_raw, ms)
    end`;

export interface NewSession {
  sid: string;
  jti: string;
  sub: string;
  issuedAtMs: number;
  /** Seconds since the epoch: the access token's exp. */
  exp: number;
  /** Seconds since the epoch: the session's absolute end. */
  expiresAt: number;
  /** Shown in listings, never used to decide. */
  device?: string;
  ip?: string;
  refresh?: NewRefresh;
}

/** What a session that can be refreshed keeps: its signed terms, and its refresh token's hashes. */
export interface NewRefresh {
  /** The session grant: what its access tokens carry, signed (shared/auth/tokens.ts). */
  grant: string;
  ttlSeconds: number;
  familyHash: string;
  secretHash: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export interface SessionCap {
  maxSessions: number;
  onLimit: SessionLimitAction;
}

/** The keys of one session's script: the record, and its subject's index and counter. */
export interface SessionKeys {
  record: string;
  index: string;
  counter: string;
}

/**
 * KEYS: record, index, counter, label. ARGV: sid, jti, sub, issued at (ms), exp (s), session end (s), cap, on
 * limit, then field/value pairs of the record's optional fields. Replies 1 once stored, 0 when refused at the
 * cap (nothing written).
 *
 * Creates the session with its first access token's label, stamped with the counter, for exactly the token's
 * lifetime. When the index lists `cap` sessions or more, their records say which still live and when each was
 * created: dead entries go, and so do the oldest live sessions (ended) until this one fits, or it is refused.
 * So the index never holds more than `cap` sessions, whatever signs race it.
 * ! The label's SET is the first write: on a full Redis (noeviction) it is refused before anything changed.
 */
export const registerSession = defineScript({
  SCRIPT: `${PRELUDE}
    local sid, jti, issued_ms, exp = ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[5])
    local now_ms = tonumber(issued_ms)
    local now = math.floor(now_ms / 1000)
    local current, counter_raw = counter_value(KEYS[3])
    local cap = tonumber(ARGV[7])
    local dropped = {}
    if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= cap then
      local live = {}
      for _, other in ipairs(redis.call('ZRANGE', KEYS[2], '(' .. now, '+inf', 'BYSCORE')) do
        local fields = redis.call('HMGET', RECORD .. other, 'gen', 'created')
        if fields[1] and tonumber(fields[1]) >= current then
          live[#live + 1] = { sid = other, created = tonumber(fields[2]) }
        else
          dropped[#dropped + 1] = other
        end
      end
      if #live >= cap then
        if ARGV[8] == 'refuse' then return 0 end
        table.sort(live, function(a, b) return a.created < b.created end)
        for i = 1, #live - cap + 1 do dropped[#dropped + 1] = live[i].sid end
      end
    end
    redis.call('SET', KEYS[4], stamp(counter_raw, issued_ms), 'PX', exp * 1000 - now_ms)
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - SKEW)
    for _, other in ipairs(dropped) do
      end_session(other)
      redis.call('ZREM', KEYS[2], other)
    end
    redis.call('HSET', KEYS[1], 'sub', ARGV[3], 'gen', counter_raw or '0', 'created', issued_ms, 'expires', ARGV[6],
      'tokens', jti .. ' ' .. exp .. ' ', unpack(ARGV, 9))
    local live_until = exp
    local refresh_expires = tonumber(redis.call('HGET', KEYS[1], 'rtExp') or '0')
    if refresh_expires > live_until then live_until = refresh_expires end
    place(KEYS[1], KEYS[2], sid, live_until, KEYS[3], counter_raw, now_ms)
    return 1`,
  NUMBER_OF_KEYS: 4,
  parseCommand(parser, keys: SessionKeys & { label: string }, session: NewSession, cap: SessionCap) {
    parser.pushKeys([keys.record, keys.index, keys.counter, keys.label]);
    parser.push(
      session.sid,
      session.jti,
      session.sub,
      String(session.issuedAtMs),
      String(session.exp),
      String(session.expiresAt),
      String(cap.maxSessions),
      cap.onLimit,
    );
    if (session.device !== undefined) parser.push('device', session.device);
    if (session.ip !== undefined) parser.push('ip', session.ip);
    const refresh = session.refresh;
    if (refresh !== undefined) {
      parser.push('grant', refresh.grant, 'ttl', String(refresh.ttlSeconds));
      parser.push('family', refresh.familyHash, 'rt', refresh.secretHash, 'rtExp', String(refresh.expiresAt));
    }
  },
  transformReply: undefined as unknown as () => number,
});

/** A refresh token as the rotation script sees it: hashes only, and what a rotation would store. */
export interface PresentedRefresh {
  sid: string;
  familyHash: string;
  secretHash: string;
  /** The next secret's hash, stored if this rotates. */
  nextSecretHash: string;
  /** The next secret, encrypted under a key only the presented secret gives (see refresh-token.ts). */
  sealedNext: string;
  /** The jti of the access token this rotation would issue. */
  jti: string;
  nowMs: number;
  idleTtlSeconds: number;
  graceMs: number;
}

/**
 * The rotation's outcome: `rotated` with what to sign, and the session's grant; `replayed`, the same within the
 * grace window, with the next secret sealed; `reused` when the session was just ended for it; `refused`
 * (unknown, expired, ended) with why, for the log only.
 */
export type RotationReply =
  | [outcome: 'rotated' | 'replayed', sealedNext: string, jti: string, iat: string, exp: string, refreshExpiresAt: string, grant: string]
  | [outcome: 'reused', sub: string]
  | [outcome: 'refused', reason: string];

/**
 * KEYS: record, index, counter. ARGV: as PresentedRefresh. Rotates a session's refresh token, atomically:
 * - its family hash must match, or nothing is touched (anyone may know a sid; only a refresh token of the
 *   session holds the family secret);
 * - the current secret: a new access token's label and tokens entry, the next secret's hash, and a replay key
 *   for the grace window holding the sealed next secret and the new token's jti and times;
 * - the secret just rotated, while its replay key lives: the same pair again (a client's retry);
 * - any other secret with the family's hash is a used refresh token presented again: theft. The session ends,
 *   every access token it issued with it. A session below the counter ends too (revoked subject-wide).
 */
export const rotateRefresh = defineScript({
  SCRIPT: `${PRELUDE}
    local sid = ARGV[1]
    local now_ms = tonumber(ARGV[7])
    local now = math.floor(now_ms / 1000)
    local f = redis.call('HMGET', KEYS[1], 'family', 'rt', 'prev', 'gen', 'expires', 'rtExp', 'ttl', 'sub', 'grant', 'tokens')
    if not f[1] or f[1] ~= ARGV[2] then return { 'refused', 'unknown' } end
    local current, counter_raw = counter_value(KEYS[3])
    if tonumber(f[4]) < current then
      end_session(sid)
      redis.call('ZREM', KEYS[2], sid)
      return { 'refused', 'revoked' }
    end
    if f[2] == ARGV[3] then
      if tonumber(f[6]) <= now then return { 'refused', 'expired' } end
      local expires = tonumber(f[5])
      local exp = math.min(now + tonumber(f[7]), expires)
      if exp <= now then return { 'refused', 'expired' } end
      local jti = ARGV[6]
      redis.call('SET', LABEL .. jti, stamp(counter_raw, ARGV[7]), 'PX', exp * 1000 - now_ms)
      local tokens, latest = add_token(f[10], jti, exp, now)
      local refresh_expires = math.min(now + tonumber(ARGV[8]), expires)
      redis.call('HSET', KEYS[1], 'rt', ARGV[4], 'prev', ARGV[3], 'rtExp', refresh_expires, 'refreshed', ARGV[7], 'tokens', tokens)
      place(KEYS[1], KEYS[2], sid, math.max(latest, refresh_expires), KEYS[3], counter_raw, now_ms)
      local reply = { 'rotated', ARGV[5], jti, tostring(now), tostring(exp), tostring(refresh_expires), f[9] }
      redis.call('SET', REPLAY .. sid, table.concat(reply, ' ', 2, 6), 'PX', ARGV[9])
      return reply
    end
    if f[3] == ARGV[3] then
      local replay = redis.call('GET', REPLAY .. sid)
      if replay then
        local sealed, jti, iat, exp, refresh_expires = string.match(replay, '^(%S+) (%S+) (%d+) (%d+) (%d+)$')
        return { 'replayed', sealed, jti, iat, exp, refresh_expires, f[9] }
      end
    end
    end_session(sid)
    redis.call('ZREM', KEYS[2], sid)
    return { 'reused', f[8] }`,
  NUMBER_OF_KEYS: 3,
  parseCommand(parser, keys: SessionKeys, presented: PresentedRefresh) {
    parser.pushKeys([keys.record, keys.index, keys.counter]);
    parser.push(
      presented.sid,
      presented.familyHash,
      presented.secretHash,
      presented.nextSecretHash,
      presented.sealedNext,
      presented.jti,
      String(presented.nowMs),
      String(presented.idleTtlSeconds),
      String(presented.graceMs),
    );
  },
  transformReply: undefined as unknown as () => RotationReply,
});

/**
 * KEYS: record, index, counter. ARGV: sid. Ends one session and every access token it issued; replies 1 if it
 * was live, 0 otherwise. Only deletes, so it runs on a full Redis.
 */
export const endSession = defineScript({
  SCRIPT: `${PRELUDE}
    local live = is_live(ARGV[1], counter_value(KEYS[3]))
    end_session(ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    if live then return 1 end
    return 0`,
  NUMBER_OF_KEYS: 3,
  parseCommand(parser, keys: SessionKeys, sid: string) {
    parser.pushKeys([keys.record, keys.index, keys.counter]);
    parser.push(sid);
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: index, counter. ARGV: the sid to keep. Ends every other session of the subject, and their access
 * tokens; replies how many of them were live. Bounded by the index, at most MAX_SESSIONS. Only deletes.
 */
export const endOtherSessions = defineScript({
  SCRIPT: `${PRELUDE}
    local current = counter_value(KEYS[2])
    local ended = 0
    for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if sid ~= ARGV[1] then
        if is_live(sid, current) then ended = ended + 1 end
        end_session(sid)
        redis.call('ZREM', KEYS[1], sid)
      end
    end
    return ended`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, keys: Omit<SessionKeys, 'record'>, keptSid: string) {
    parser.pushKeys([keys.index, keys.counter]);
    parser.push(keptSid);
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: index, counter. ARGV: MAX_TTL (ms). Ends every session of a subject: deletes the sessions the index
 * lists, with their labels, which only frees memory, and raises the counter (see the invariants above), which
 * is the revocation. Replies how many of those sessions were live. Bounded by the index, at most MAX_SESSIONS.
 * ! Deletes come before the counter's SET: on a full Redis (noeviction) a script is refused at a command that
 * may grow memory only before its first write, so the revocation still runs.
 */
export const endAllSessions = defineScript({
  SCRIPT: `${PRELUDE}
    local previous = counter_value(KEYS[2])
    local ttl = math.max(redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[1]), tonumber(ARGV[1]))
    local time = redis.call('TIME')
    local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local ended = 0
    for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if is_live(sid, previous) then ended = ended + 1 end
      end_session(sid)
    end
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[2], string.format('%.0f', math.max(previous + 1, now)), 'PX', ttl)
    return ended`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, keys: Omit<SessionKeys, 'record'>, maxTtlMs: number) {
    parser.pushKeys([keys.index, keys.counter]);
    parser.push(String(maxTtlMs));
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: label, counter. Ends one access token; replies 1 if it was live. Its session's tokens list keeps the
 * entry until it expires: deleting a label that is gone is harmless.
 */
export const endToken = defineScript({
  SCRIPT: `${PRELUDE}
    local value = redis.call('GET', KEYS[1])
    local live = value and generation(value) >= counter_value(KEYS[2])
    redis.call('DEL', KEYS[1])
    if live then return 1 end
    return 0`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, keys: { label: string; counter: string }) {
    parser.pushKeys([keys.label, keys.counter]);
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: index, counter. ARGV: now (s). The subject's live sessions, as flat groups of six: sid, created (ms),
 * live until (s), refreshed (ms or ''), device (or ''), ip (or ''). Reads only.
 */
export const listSessions = defineScript({
  SCRIPT: `${PRELUDE}
    local current = counter_value(KEYS[2])
    local out = {}
    for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE', 'WITHSCORES')) do
      out[#out + 1] = entry
    end
    local live = {}
    for i = 1, #out, 2 do
      local sid = out[i]
      local f = redis.call('HMGET', RECORD .. sid, 'gen', 'created', 'refreshed', 'device', 'ip')
      if f[1] and tonumber(f[1]) >= current then
        for _, value in ipairs({ sid, f[2], out[i + 1], f[3] or '', f[4] or '', f[5] or '' }) do live[#live + 1] = value end
      end
    end
    return live`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, keys: Omit<SessionKeys, 'record'>, nowSeconds: number) {
    parser.pushKeys([keys.index, keys.counter]);
    parser.push(String(nowSeconds));
  },
  transformReply: undefined as unknown as () => string[],
});

/**
 * KEYS: record. ARGV: the grant read, its replacement. Replaces a session's grant if it is still the one read:
 * never on a record that is gone (it would bring back part of an ended session), nor over a newer grant.
 */
export const replaceGrant = defineScript({
  SCRIPT: `
    if redis.call('HGET', KEYS[1], 'grant') == ARGV[1] then
      redis.call('HSET', KEYS[1], 'grant', ARGV[2])
      return 1
    end
    return 0`,
  NUMBER_OF_KEYS: 1,
  parseCommand(parser, record: string, read: string, replacement: string) {
    parser.pushKeys([record]);
    parser.push(read, replacement);
  },
  transformReply: undefined as unknown as () => number,
});

export const scripts = { registerSession, rotateRefresh, replaceGrant, endSession, endOtherSessions, endAllSessions, endToken, listSessions };
