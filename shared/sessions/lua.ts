// Lua scripts that keep a subject's labels, session index and revocation counter in step, atomically.
// Every key a script declares in KEYS shares the subject's hash tag, so each script runs on one Redis Cluster
// slot. The labels listed in the index are touched without being declared: they carry the same tag (a jti is
// `{tag}random`), so they lie in that slot too, which Redis Cluster allows; ACLs check them all the same.
// node-redis sends EVALSHA and falls back to EVAL on NOSCRIPT.
//
// Revocation generations. A label's value is its issue time in ms, after `<generation>:` when its subject has
// a revocation counter `jwt_revoked:{tag}`: the counter's value as sign read it. Without one the generation is
// 0, and the value stays an integer, which Redis stores in less memory. A token is live iff its label exists
// and its generation is at least the counter's current value (absent reads as 0): one MGET of the two
// decides. A subject-wide revocation raises the counter, so every token signed before it is dead at once,
// listed in the index or not, and the counter alone defines "before": no container's clock does.
//
// Invariants:
// 1. The counter outlives every label of its subject, or it would revive those stamped below it by expiring.
//    Sign keeps it so: it creates the counter at 0 with the subject's first label and extends it with every
//    label that would outlive it, so this holds with no index and whatever MAX_TTL the revoking container has.
//    A revocation keeps the counter's TTL, or, when it is gone, gives it the longest of the index's and MAX_TTL.
// 2. A restarted counter is above every generation a live label holds: a revocation sets it to the greater of
//    one more than its value and Redis's own clock in ms, so when it is gone (expired, at least MAX_TTL after it
//    was set, or lost) it starts again at the clock, not at 1. Every value it held was at most the clock of its
//    revocation plus the revocations of that same millisecond: any earlier generation is below the restart.
//    (A Redis clock set back across a lost counter is the one case this cannot cover.)
import { defineScript } from '@redis/client';
import type { SessionLimitAction } from '../config';

/** The keys of a subject's session, all in its hash tag's slot. */
export interface SessionKeys {
  label: string;
  index: string;
  counter: string;
}

export interface NewSession {
  jti: string;
  issuedAtMs: number;
  /** Seconds since the epoch. */
  exp: number;
  lifetimeMs: number;
  nowSeconds: number;
}

export interface SessionCap {
  maxSessions: number;
  onLimit: SessionLimitAction;
  /** The prefix that makes a jti from the index into its label's key. */
  labelPrefix: string;
}

/** A label value's generation: the digits before its colon, 0 without one. */
const GENERATION = `
    local function generation(value)
      return tonumber(string.match(value, '^(%d+):') or '0')
    end`;

/**
 * KEYS: label, index, counter. ARGV: jti, issued at (ms), exp (s), lifetime (ms), now (s), cap, on limit,
 * label prefix. Replies 1 once stored, 0 when refused at the cap (nothing written).
 *
 * Stores the label stamped with the counter, for exactly the token's lifetime, and keeps the counter (at 0 when
 * the subject has none yet) alive at least as long (invariant 1); drops index entries that have
 * expired; adds this one scored by exp, and makes the index live as long as its longest-lived token. When the
 * index lists `cap` sessions or more, their labels say which still live and when each was signed: dead
 * entries go, and so do the oldest live sessions (labels deleted) until this one fits, or it is refused.
 * So the index never holds more than `cap` entries, whatever signs race it.
 * ! The label's SET is the first write: on a full Redis (noeviction) it is refused before anything changed.
 */
export const registerSession = defineScript({
  SCRIPT: `${GENERATION}
    local counter = redis.call('GET', KEYS[3])
    local current = tonumber(counter or '0')
    local cap = tonumber(ARGV[6])
    local dropped = {}
    if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[5], '+inf') >= cap then
      local live = {}
      for _, jti in ipairs(redis.call('ZRANGE', KEYS[2], '(' .. ARGV[5], '+inf', 'BYSCORE')) do
        local value = redis.call('GET', ARGV[8] .. jti)
        if value and generation(value) >= current then
          live[#live + 1] = { jti = jti, issued = tonumber(string.match(value, ':(%d+)$') or value) }
        else
          dropped[#dropped + 1] = jti
        end
      end
      if #live >= cap then
        if ARGV[7] == 'refuse' then return 0 end
        table.sort(live, function(a, b) return a.issued < b.issued end)
        for i = 1, #live - cap + 1 do dropped[#dropped + 1] = live[i].jti end
      end
    end
    redis.call('SET', KEYS[1], current ~= 0 and (counter .. ':' .. ARGV[2]) or ARGV[2], 'PX', ARGV[4])
    if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[4]) then
      if counter then
        redis.call('PEXPIRE', KEYS[3], ARGV[4])
      else
        redis.call('SET', KEYS[3], '0', 'PX', ARGV[4])
      end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
    for _, jti in ipairs(dropped) do
      redis.call('ZREM', KEYS[2], jti)
      redis.call('DEL', ARGV[8] .. jti)
    end
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
      redis.call('PEXPIRE', KEYS[2], ARGV[4])
    end
    return 1`,
  NUMBER_OF_KEYS: 3,
  parseCommand(parser, keys: SessionKeys, session: NewSession, cap: SessionCap) {
    parser.pushKeys([keys.label, keys.index, keys.counter]);
    parser.push(
      session.jti,
      String(session.issuedAtMs),
      String(session.exp),
      String(session.lifetimeMs),
      String(session.nowSeconds),
      String(cap.maxSessions),
      cap.onLimit,
      cap.labelPrefix,
    );
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: label, index, counter. ARGV: jti. Ends one session; replies 1 if it was live (its label there, and not
 * below the counter), 0 otherwise. Only deletes, so it runs on a full Redis.
 */
export const endSession = defineScript({
  SCRIPT: `${GENERATION}
    local value = redis.call('GET', KEYS[1])
    local live = value and generation(value) >= tonumber(redis.call('GET', KEYS[3]) or '0')
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('DEL', KEYS[1])
    if live then return 1 end
    return 0`,
  NUMBER_OF_KEYS: 3,
  parseCommand(parser, keys: SessionKeys, jti: string) {
    parser.pushKeys([keys.label, keys.index, keys.counter]);
    parser.push(jti);
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: index, counter. ARGV: MAX_TTL (ms), label prefix. Ends every session of a subject: deletes the index
 * and the labels it lists, which only frees memory, and raises the counter (see the invariants above), which is
 * the revocation. Replies how many of those labels were there. Bounded by the index, at most MAX_SESSIONS.
 * ! Deletes come before the counter's SET: on a full Redis (noeviction) a script is refused at a command that
 * may grow memory only before its first write, so the revocation still runs.
 */
export const endAllSessions = defineScript({
  SCRIPT: `
    local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
    local ttl = math.max(redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[1]), tonumber(ARGV[1]))
    local time = redis.call('TIME')
    local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local jtis = redis.call('ZRANGE', KEYS[1], 0, -1)
    redis.call('DEL', KEYS[1])
    local ended = 0
    for _, jti in ipairs(jtis) do
      ended = ended + redis.call('DEL', ARGV[2] .. jti)
    end
    redis.call('SET', KEYS[2], string.format('%.0f', math.max(previous + 1, now)), 'PX', ttl)
    return ended`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, keys: Omit<SessionKeys, 'label'>, maxTtlMs: number, labelPrefix: string) {
    parser.pushKeys([keys.index, keys.counter]);
    parser.push(String(maxTtlMs), labelPrefix);
  },
  transformReply: undefined as unknown as () => number,
});

export const scripts = { registerSession, endSession, endAllSessions };
