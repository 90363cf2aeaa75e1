// JSON-lines logging. Callers pass fields such as jti, sub, outcome, reason and latencyMs: never a token,
// a secret or a Redis URL (it may hold a password). A line written for an invocation carries its request id.
import type { LogLevel } from '../config';

export type Fields = Record<string, string | number | boolean | undefined>;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * One invocation: who it is, the logger of the container it runs in, and the Redis time it spent (for its
 * metrics). Handed down explicitly, not held in an AsyncLocalStorage, which hooks every promise of the
 * process. Lines written without it (the connect, client errors) belong to no one invocation.
 */
export interface RequestScope {
  requestId: string | undefined;
  functionName: string;
  log: Logger;
  redisMs: number;
  redisCalls: number;
}

export function newRequestScope(log: Logger, functionName: string, requestId: string | undefined): RequestScope {
  return { functionName, requestId, log, redisMs: 0, redisCalls: 0 };
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

/** Writes JSON lines at or above one level (LOG_LEVEL): one per container, built with its services. */
export class Logger {
  #threshold: number;

  constructor(level: LogLevel = 'info') {
    this.#threshold = SEVERITY[level];
  }

  setLevel(level: LogLevel): void {
    this.#threshold = SEVERITY[level];
  }

  /** Whether a line at `level` is written: lets a caller skip building one that would not be. */
  isLogged(level: Exclude<LogLevel, 'silent'>): boolean {
    return SEVERITY[level] >= this.#threshold;
  }

  debug(message: string, fields: Fields = {}): void {
    this.write('debug', message, fields);
  }

  info(message: string, fields: Fields = {}): void {
    this.write('info', message, fields);
  }

  /** `scope`: the invocation the warning is about, if any. */
  warn(message: string, fields: Fields = {}, scope?: RequestScope): void {
    this.write('warn', message, fields, scope);
  }

  error(message: string, fields: Fields = {}): void {
    this.write('error', message, fields);
  }

  /** A line that ends with `trailer`, JSON members the caller serialized itself (CloudWatch metrics: see metrics.ts). */
  withTrailer(level: 'info' | 'error', message: string, fields: Fields, trailer: string, scope?: RequestScope): void {
    this.write(level, message, fields, scope, trailer);
  }

  private write(level: Exclude<LogLevel, 'silent'>, message: string, fields: Fields, scope?: RequestScope, trailer?: string): void {
    if (!this.isLogged(level)) return;
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
}

/** The logger of whatever is built without one: tools, and tests that build parts alone. */
export const log = new Logger();

/** Sets the level of `log`, the logger of parts built without one. */
export function setLogLevel(level: LogLevel): void {
  log.setLevel(level);
}

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
