// JSON-lines logging. Callers pass fields such as jti, sub, outcome, reason and latencyMs: never a token,
// a secret or a Redis URL (it may hold a password).
import type { LogLevel } from './config';

type Fields = Record<string, string | number | boolean | undefined>;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

let threshold = SEVERITY.info;

export function setLogLevel(level: LogLevel): void {
  threshold = SEVERITY[level];
}

function write(level: Exclude<LogLevel, 'silent'>, message: string, fields: Fields): void {
  if (SEVERITY[level] < threshold) return;
  const line = JSON.stringify({ level, time: new Date().toISOString(), message, ...fields });
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
}

export const log = {
  debug: (message: string, fields: Fields = {}) => write('debug', message, fields),
  info: (message: string, fields: Fields = {}) => write('info', message, fields),
  warn: (message: string, fields: Fields = {}) => write('warn', message, fields),
  error: (message: string, fields: Fields = {}) => write('error', message, fields),
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
