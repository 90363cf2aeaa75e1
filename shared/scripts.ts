// Lua scripts that keep a token's label and its subject's session index in step, atomically.
// Every key a script touches is declared in KEYS and shares the subject's hash tag, so each script runs
// on one Redis Cluster slot. node-redis sends EVALSHA and falls back to EVAL on NOSCRIPT.
import { defineScript } from '@redis/client';

/**
 * KEYS: label, index. ARGV: jti, issued at (ms), exp (s), lifetime (ms), now (s).
 * Stores the label (its value is the issue time in ms, which orders sessions; jwt-redis only asks that it
 * be truthy) for exactly the token's lifetime, drops index entries that have expired, adds this one scored by exp, and makes the index live
 * as long as its longest-lived token.
 */
export const registerSession = defineScript({
  SCRIPT: `
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
      redis.call('PEXPIRE', KEYS[2], ARGV[4])
    end
    return 1`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, label: string, index: string, jti: string, issuedAtMs: number, exp: number, lifetimeMs: number, nowSeconds: number) {
    parser.pushKeys([label, index]);
    parser.push(jti, String(issuedAtMs), String(exp), String(lifetimeMs), String(nowSeconds));
  },
  transformReply: undefined as unknown as () => number,
});

/** KEYS: label, index. ARGV: jti. Ends one session; replies 1 if its label was still there. */
export const endSession = defineScript({
  SCRIPT: `
    redis.call('ZREM', KEYS[2], ARGV[1])
    return redis.call('DEL', KEYS[1])`,
  NUMBER_OF_KEYS: 2,
  parseCommand(parser, label: string, index: string, jti: string) {
    parser.pushKeys([label, index]);
    parser.push(jti);
  },
  transformReply: undefined as unknown as () => number,
});

/**
 * KEYS: index, then the label of every jti in ARGV, in the same order. Ends every session of a subject,
 * provided the index still holds exactly the jtis the caller read; otherwise replies -1 and changes nothing,
 * and the caller reads again. So a token signed meanwhile is either in the list and revoked, or signed
 * after this ran: never left alive outside the index.
 */
export const endAllSessions = defineScript({
  SCRIPT: `
    if redis.call('ZCARD', KEYS[1]) ~= #ARGV then return -1 end
    for i = 1, #ARGV do
      if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then return -1 end
    end
    local ended = 0
    for i = 2, #KEYS do
      ended = ended + redis.call('DEL', KEYS[i])
    end
    redis.call('DEL', KEYS[1])
    return ended`,
  parseCommand(parser, index: string, labels: string[], jtis: string[]) {
    parser.pushKeysLength([index, ...labels]);
    parser.push(...jtis);
  },
  transformReply: undefined as unknown as () => number,
});

export const scripts = { registerSession, endSession, endAllSessions };
