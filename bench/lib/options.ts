// Knobs of `npm run bench`, from the environment (BENCH_ITERATIONS=…) or flags (`npm run bench -- --iterations=2000`).
// Defaults keep the whole run near a minute on two cores; the smoke test turns every count down.
import { isAbsolute, join } from 'node:path';

export interface BenchOptions {
  /** Timed one-at-a-time calls per candidate. */
  iterations: number;
  /** Calls a candidate makes in a row before the next candidate takes its turn. */
  batch: number;
  /** Untimed calls per candidate first (JIT, connections, caches). */
  warmup: number;
  /** Calls kept outstanding in the throughput section. */
  inFlight: number;
  /** Calls per candidate per throughput round. */
  flightCalls: number;
  /** Throughput rounds, candidates taking turns in each. */
  flightRounds: number;
  /** Fresh `node` processes per candidate for load time; half as many for first invocations. */
  coldRuns: number;
  /** Where latest.md, latest.svg and latest.json go. */
  out: string;
  /** Progress lines; silent in the smoke test. */
  progress: (line: string) => void;
}

export interface MemoryOptions {
  sessions: number;
  users: number;
  ttlSeconds: number;
  out: string;
  progress: (line: string) => void;
}

const BENCH_DEFAULTS = {
  iterations: 8000,
  batch: 200,
  warmup: 1000,
  inFlight: 64,
  flightCalls: 4000,
  flightRounds: 6,
  coldRuns: 15,
};

type Source = { env: NodeJS.ProcessEnv; argv: readonly string[] };

/** `--name=value` or `--name value` from argv, else BENCH_NAME from the environment. */
function setting(source: Source, name: string): string | undefined {
  const flag = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  for (let i = 0; i < source.argv.length; i += 1) {
    const arg = source.argv[i] as string;
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    if (arg === flag) return source.argv[i + 1];
  }
  const variable = `BENCH_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
  const value = source.env[variable];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function count(source: Source, name: string, fallback: number, min = 1): number {
  const raw = setting(source, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, got "${raw}"`);
  return value;
}

function outDir(source: Source, root: string, fallback: string): string {
  const raw = setting(source, 'out') ?? fallback;
  return isAbsolute(raw) ? raw : join(root, raw);
}

export function benchOptions(root: string, source: Source = { env: process.env, argv: process.argv.slice(2) }): BenchOptions {
  return {
    iterations: count(source, 'iterations', BENCH_DEFAULTS.iterations),
    batch: count(source, 'batch', BENCH_DEFAULTS.batch),
    warmup: count(source, 'warmup', BENCH_DEFAULTS.warmup, 0),
    inFlight: count(source, 'inFlight', BENCH_DEFAULTS.inFlight),
    flightCalls: count(source, 'flightCalls', BENCH_DEFAULTS.flightCalls),
    flightRounds: count(source, 'flightRounds', BENCH_DEFAULTS.flightRounds),
    coldRuns: count(source, 'coldRuns', BENCH_DEFAULTS.coldRuns),
    out: outDir(source, root, join('bench', 'results')),
    progress: (line) => console.log(line),
  };
}

export function memoryOptions(root: string, source: Source = { env: process.env, argv: process.argv.slice(2) }): MemoryOptions {
  const sessions = count(source, 'sessions', 100_000);
  const users = count(source, 'users', 10_000);
  if (users > sessions) throw new Error(`users (${users}) must not exceed sessions (${sessions})`);
  return {
    sessions,
    users,
    ttlSeconds: count(source, 'ttl', 900),
    out: outDir(source, root, join('bench', 'results')),
    progress: (line) => console.log(line),
  };
}
