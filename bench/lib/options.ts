// Knobs of `npm run bench`, from the environment (BENCH_ITERATIONS=…) or flags (`npm run bench -- --iterations=2000`).
// Defaults keep the whole run near a minute on two cores; `--quick` and the smoke test turn every count down.
import { isAbsolute, join } from 'node:path';
import { MAX_TOKENS_PER_SESSION } from '../../shared/sessions/lua';

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
  /** Refreshes of each session with a refresh token, every access token they issue left alive. */
  refreshes: number;
  out: string;
  progress: (line: string) => void;
}

type Counts = Omit<BenchOptions, 'out' | 'progress'>;

const BENCH_DEFAULTS: Counts = {
  iterations: 8000,
  batch: 200,
  warmup: 1000,
  inFlight: 64,
  // A round of 20,000 calls lasts a few hundred ms: long enough that one GC pause or scheduler hiccup does
  // not decide it (rounds of 4,000 moved the authorizer's share of its floor between 63 and 86 %).
  flightCalls: 20000,
  flightRounds: 6,
  coldRuns: 15,
};

/** `--quick`: every count turned down, to see that the bench runs (well under 30 s); its figures mean little. */
const QUICK_COUNTS: Counts = {
  iterations: 400,
  batch: 100,
  warmup: 100,
  inFlight: 64,
  flightCalls: 300,
  flightRounds: 1,
  coldRuns: 2,
};

const BENCH_KNOBS: Record<keyof Counts, string> = {
  iterations: 'timed one-at-a-time calls per candidate',
  batch: 'calls a candidate makes in a row before the next takes its turn',
  warmup: 'untimed calls per candidate first',
  inFlight: 'calls kept outstanding in the throughput section',
  flightCalls: 'calls per candidate per throughput round',
  flightRounds: 'throughput rounds',
  coldRuns: 'fresh node processes per candidate for load time',
};

const MEMORY_DEFAULTS = { sessions: 100_000, users: 10_000, ttl: 900, refreshes: 3 };
const MEMORY_KNOBS: Record<keyof typeof MEMORY_DEFAULTS, string> = {
  sessions: 'live sessions to store',
  users: 'subjects they belong to',
  ttl: "their access tokens' lifetime, seconds",
  refreshes: `refreshes of each session with a refresh token, every access token kept alive (at most ${MAX_TOKENS_PER_SESSION - 1})`,
};

type Source = { env: NodeJS.ProcessEnv; argv: readonly string[] };

/** A wrong flag or knob: the commands print its message alone, not a stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What the command line asks for: a run, or only its usage (`--help`). */
export type Invocation<T> = { help: string } | { options: T };

function flagOf(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function variableOf(name: string): string {
  return `BENCH_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function usage(command: string, summary: string, knobs: Record<string, string>, defaults: Record<string, number>, extra: string[]): string {
  const rows = Object.entries(knobs).map(
    ([name, meaning]) => `  ${`${flagOf(name)}=N`.padEnd(20)} ${variableOf(name).padEnd(22)} ${meaning} (default ${defaults[name]})`,
  );
  return [
    `usage: ${command} [-- options]`,
    '',
    summary,
    '',
    'Each option can also be set by its environment variable; a flag wins.',
    ...extra,
    ...rows,
    `  ${'--out=DIR'.padEnd(20)} ${'BENCH_OUT'.padEnd(22)} where the reports go (default bench/results)`,
    `  ${'--help'.padEnd(20)} ${''.padEnd(22)} this text`,
    '',
  ].join('\n');
}

/**
 * Refuses a flag the command does not know, or a value given to a switch, so that a typo cannot start a
 * long run with the defaults.
 */
function checkFlags(source: Source, withValue: readonly string[], switches: readonly string[] = []): void {
  for (let index = 0; index < source.argv.length; index += 1) {
    const arg = source.argv[index] as string;
    if (switches.includes(arg)) continue;
    const flag = arg.split('=', 1)[0] as string;
    if (switches.includes(flag)) throw new UsageError(`${flag} takes no value`);
    if (!withValue.includes(flag)) throw new UsageError(`unknown ${arg.startsWith('-') ? 'option' : 'argument'} ${flag} (see --help)`);
    // `--name value`: the value is the next argument.
    if (!arg.includes('=')) index += 1;
  }
}

/** `--name=value` or `--name value` from argv, else BENCH_NAME from the environment. */
function setting(source: Source, name: string): string | undefined {
  const flag = flagOf(name);
  for (let i = 0; i < source.argv.length; i += 1) {
    const arg = source.argv[i] as string;
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    if (arg === flag) return source.argv[i + 1];
  }
  const value = source.env[variableOf(name)];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function count(source: Source, name: string, fallback: number, min = 1): number {
  const raw = setting(source, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`${name} must be an integer of at least ${min}, got "${raw}"`);
  return value;
}

function outDir(source: Source, root: string, fallback: string): string {
  const raw = setting(source, 'out') ?? fallback;
  return isAbsolute(raw) ? raw : join(root, raw);
}

function wantsHelp(source: Source): boolean {
  return source.argv.includes('--help') || source.argv.includes('-h');
}

export function benchInvocation(root: string, source: Source = { env: process.env, argv: process.argv.slice(2) }): Invocation<BenchOptions> {
  if (wantsHelp(source)) {
    return {
      help: usage(
        'npm run bench',
        'Warm latency, throughput and cold start of the handlers beside their floors (about 2 minutes);\nreports in bench/results/latest.{md,svg,json}. See bench/README.md.',
        BENCH_KNOBS,
        { ...BENCH_DEFAULTS },
        [
          `  ${'--quick'.padEnd(20)} ${'BENCH_QUICK=true'.padEnd(22)} a smoke-sized run (under 30 s) into bench/tmp/quick; its figures only show that the bench runs`,
        ],
      ),
    };
  }
  checkFlags(source, ['--out', ...Object.keys(BENCH_KNOBS).map(flagOf)], ['--quick']);
  const quick = source.argv.includes('--quick') || source.env.BENCH_QUICK === 'true';
  const base = quick ? QUICK_COUNTS : BENCH_DEFAULTS;
  return {
    options: {
      iterations: count(source, 'iterations', base.iterations),
      batch: count(source, 'batch', base.batch),
      warmup: count(source, 'warmup', base.warmup, 0),
      inFlight: count(source, 'inFlight', base.inFlight),
      flightCalls: count(source, 'flightCalls', base.flightCalls),
      flightRounds: count(source, 'flightRounds', base.flightRounds),
      coldRuns: count(source, 'coldRuns', base.coldRuns),
      // A quick run never replaces the published results.
      out: outDir(source, root, quick ? join('bench', 'tmp', 'quick') : join('bench', 'results')),
      progress: (line) => console.log(line),
    },
  };
}

export function memoryInvocation(root: string, source: Source = { env: process.env, argv: process.argv.slice(2) }): Invocation<MemoryOptions> {
  if (wantsHelp(source)) {
    return {
      help: usage(
        'npm run bench:memory',
        'Redis memory per live session (about ten seconds); reports in bench/results/memory.{md,json}.',
        MEMORY_KNOBS,
        MEMORY_DEFAULTS,
        [],
      ),
    };
  }
  checkFlags(source, ['--out', ...Object.keys(MEMORY_KNOBS).map(flagOf)]);
  const sessions = count(source, 'sessions', MEMORY_DEFAULTS.sessions);
  const users = count(source, 'users', MEMORY_DEFAULTS.users);
  if (users > sessions) throw new UsageError(`users (${users}) must not exceed sessions (${sessions})`);
  const refreshes = count(source, 'refreshes', MEMORY_DEFAULTS.refreshes);
  // Beyond it, each refresh ends the session's oldest access token: the count of labels would no longer be refreshes + 1.
  if (refreshes > MAX_TOKENS_PER_SESSION - 1) {
    throw new UsageError(
      `refreshes (${refreshes}) must be at most ${MAX_TOKENS_PER_SESSION - 1}: a session keeps at most ${MAX_TOKENS_PER_SESSION} access tokens`,
    );
  }
  return {
    options: {
      sessions,
      users,
      ttlSeconds: count(source, 'ttl', MEMORY_DEFAULTS.ttl),
      refreshes,
      out: outDir(source, root, join('bench', 'results')),
      progress: (line) => console.log(line),
    },
  };
}
