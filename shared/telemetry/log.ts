// JSON-lines logging. Callers pass fields such as jti, sub, outcome, reason and latencyMs: never a token,
// a secret or a Redis URL (it may hold a password). A line written for an invocation carries its request id.
import type { LogLevel } from '../config';

export type Fields = Record<string, string | number | boolean | undefined>;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

let threshold = SEVERITY.info;

export function setLogLevel(level: LogLevel): void {
  threshold = SEVERITY[level];
}

/** Whether a line at `level` is written: lets a caller skip building one that would not be. */
export function isLogged(level: Exclude<LogLevel, 'silent'>): boolean {
  return SEVERITY[level] >= threshold;
}

/**
 * One invocation: who it is, and the Redis time it spent (for its metrics). Handed down explicitly, not
 * held in an AsyncLocalStorage: on Node 20 that hooks every promise of the process, 10–20% of the
 * authorizer's CPU. Lines written without it (the connect, client errors) belong to no one invocation.
 */
export interface RequestScope {
  requestId: string | undefined;
  functionName: string;
  redisMs: number;
  redisCalls: number;
}

export function newRequestScope(functionName: string, requestId: string | undefined): RequestScope {
  return { functionName, requestId, redisMs: 0, redisCalls: 0 };
}

/** Adds a Redis call's duration to the invocation's total. */
export function recordRedisCall(scope: RequestScope, durationMs: number): void {
  scope.redisMs += durationMs;
  scope.redisCalls += 1;
}

/** `new Date(now).toISOString()`, computed once per millisecond: a line is written on every request. */
let isoMs = Number.NaN;
let iso = '';
function isoTime(now: number): string {
  if (now !== isoMs) {
    isoMs = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

/** `trailer`: more members of the line's JSON object, already serialized, written after `fields`. */
function write(level: Exclude<LogLevel, 'silent'>, message: string, fields: Fields, scope?: RequestScope, trailer?: string): void {
  if (!isLogged(level)) return;
  const record: Fields = { level, time: isoTime(Date.now()), message };
  if (scope?.requestId !== undefined) record.requestId = scope.requestId;
  Object.assign(record, fields);
  const json = JSON.stringify(record);
  const line = trailer === undefined ? `${json}\n` : `${json.slice(0, -1)},${trailer}}\n`;
  // Straight to the stream, not console.*: in Lambda, console prefixes each line with a timestamp and the
  // request id, and CloudWatch then no longer reads it as JSON, nor the metrics in it. Cheaper, too.
  if (level === 'error' || level === 'warn') process.stderr.write(line);
  else process.stdout.write(line);
}

export const log = {
  debug: (message: string, fields: Fields = {}) => write('debug', message, fields),
  info: (message: string, fields: Fields = {}) => write('info', message, fields),
  /** `scope`: the invocation the warning is about, if any. */
  warn: (message: string, fields: Fields = {}, scope?: RequestScope) => write('warn', message, fields, scope),
  error: (message: string, fields: Fields = {}) => write('error', message, fields),
  /** A line that ends with members the caller serialized itself (CloudWatch metrics: see metrics.ts). */
  withTrailer: (level: 'info' | 'error', message: string, fields: Fields, trailer: string, scope?: RequestScope) => write(level, message, fields, scope, trailer),
};

/** A short, secret-free description of a failure for the `reason` field. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.name}(${code}): ${error.message}` : `${error.name}: ${error.message}`;
  }
  return String(error);
}

/** Milliseconds since a `performance.now()` reading, to the microsecond. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
