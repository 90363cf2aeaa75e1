// JSON-lines logging. Callers pass fields such as jti, sub, outcome, reason and latencyMs: never a token,
// a secret or a Redis URL (it may hold a password). Every line written during an invocation carries
// its request id.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogLevel } from './config';
import type { MetricSet } from './metrics';

export type Fields = Record<string, string | number | boolean | undefined>;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

let threshold = SEVERITY.info;

export function setLogLevel(level: LogLevel): void {
  threshold = SEVERITY[level];
}

/** What one invocation accumulates: who it is, and the Redis time it spent (for its metrics). */
export interface RequestScope {
  requestId: string | undefined;
  functionName: string;
  redisMs: number;
  redisCalls: number;
}

// Per invocation, not per module: serverless offline may run invocations of one container concurrently.
const requestScope = new AsyncLocalStorage<RequestScope>();

export function inRequestScope<T>(functionName: string, requestId: string | undefined, run: () => Promise<T>): Promise<T> {
  return requestScope.run({ functionName, requestId, redisMs: 0, redisCalls: 0 }, run);
}

export function currentScope(): RequestScope | undefined {
  return requestScope.getStore();
}

/** Adds a Redis call's duration to the current invocation's total. */
export function recordRedisCall(durationMs: number): void {
  const scope = requestScope.getStore();
  if (scope === undefined) return;
  scope.redisMs += durationMs;
  scope.redisCalls += 1;
}

function write(level: Exclude<LogLevel, 'silent'>, message: string, fields: Fields, metrics?: MetricSet): void {
  if (SEVERITY[level] < threshold) return;
  const requestId = requestScope.getStore()?.requestId;
  let json = JSON.stringify({ level, time: new Date().toISOString(), message, ...(requestId === undefined ? {} : { requestId }), ...fields, ...metrics?.values });
  if (metrics !== undefined) {
    // The `_aws` block spliced in as text: its definition is serialized once, not on every request.
    json = `${json.slice(0, -1)},"_aws":{"Timestamp":${Date.now()},"CloudWatchMetrics":${metrics.definition}}}`;
  }
  // Straight to the stream, not console.*: in Lambda, console prefixes each line with a timestamp and the
  // request id, and CloudWatch then no longer reads it as JSON, nor the metrics in it. Cheaper, too.
  if (level === 'error' || level === 'warn') process.stderr.write(`${json}\n`);
  else process.stdout.write(`${json}\n`);
}

export const log = {
  debug: (message: string, fields: Fields = {}) => write('debug', message, fields),
  info: (message: string, fields: Fields = {}) => write('info', message, fields),
  warn: (message: string, fields: Fields = {}) => write('warn', message, fields),
  error: (message: string, fields: Fields = {}) => write('error', message, fields),
  /** A line that also carries CloudWatch metrics in Embedded Metric Format (see metrics.ts). */
  metrics: (level: 'info' | 'error', message: string, fields: Fields, metrics: MetricSet | undefined) => write(level, message, fields, metrics),
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
