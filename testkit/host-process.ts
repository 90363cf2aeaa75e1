// Runs the handlers in a child process with a given environment (testkit/handler-host.ts, bundled with
// esbuild), and keeps every line it writes to stdout and stderr: the JSON log lines a Lambda would emit.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import type { HandlerName } from './handler-host';

import type { HostStats, Invocation, InvocationResult } from './handler-host';

// The same values as handler-host's; not imported, as that would build every handler here.
const FLUSH_MARKER = '__handler_host_flush__';
const STALL_MARKER = '__handler_host_stall__';
const STATS = '__handler_host_stats__';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** An invocation's result, with performance.now() in this process when it was sent and when it came back. */
export type Answer = InvocationResult & { sentAt: number; answeredAt: number };

export interface HostBundle {
  readonly file: string;
  cleanup(): void;
}

/** Bundles the host once per suite (about 100 ms). */
export function bundleHandlerHost(): HostBundle {
  const dir = mkdtempSync(join(tmpdir(), 'handler-host-'));
  const file = join(dir, 'host.js');
  buildSync({
    entryPoints: [join(__dirname, 'handler-host.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
  });
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface InvokeOptions {
  /** Blocks the container's event loop this long before the handler runs (see Invocation.stallMs). */
  stallMs?: number;
  /** Called once the container has begun that stall (for a test that stops it meanwhile). */
  onStall?: () => void;
}

export interface HostProcess {
  readonly pid: number;
  invoke(handler: HandlerName, event: unknown, options?: InvokeOptions): Promise<Answer>;
  /** The container's connection count, and every unhandled rejection or uncaught exception it has had. */
  stats(): Promise<{ connectCount: number; unhandled: string[] }>;
  /**
   * Resolves once everything the container wrote before this call has been read. Its log lines travel on
   * stdout and stderr, apart from the IPC reply: call this before reading lines() after an invocation.
   */
  flush(): Promise<void>;
  /** Everything read so far from stdout and stderr, one entry per line. */
  lines(): string[];
  /** The lines that are JSON objects (the log), parsed. */
  logEntries(): Array<Record<string, unknown>>;
  /** SIGSTOP freezes the container as Lambda does between invocations; SIGCONT thaws it. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void;
  stop(): void;
}

/**
 * Starts a container whose environment is exactly `env` plus PATH (nothing inherited from the test run, so
 * neither a developer's REDIS_URL nor NODE_EXTRA_CA_CERTS leaks in). Resolves once the handler modules have
 * loaded; their Redis connection is then being opened in the background, as during a Lambda init.
 */
export async function startHost(bundle: HostBundle, env: Record<string, string>): Promise<HostProcess> {
  const child: ChildProcess = fork(bundle.file, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  // Per flush id: how many of the two streams have not yet delivered its marker, and whom to tell.
  const flushes = new Map<number, { streams: number; resolve: () => void }>();
  const stalls = new Map<number, () => void>();
  const onLine = (line: string) => {
    if (line.startsWith(`${STALL_MARKER} `)) {
      const id = Number(line.slice(STALL_MARKER.length + 1));
      stalls.get(id)?.();
      stalls.delete(id);
      return;
    }
    if (!line.startsWith(`${FLUSH_MARKER} `)) {
      if (line !== '') output.push(line);
      return;
    }
    const id = Number(line.slice(FLUSH_MARKER.length + 1));
    const flush = flushes.get(id);
    if (flush === undefined) return;
    flush.streams -= 1;
    if (flush.streams === 0) {
      flushes.delete(id);
      flush.resolve();
    }
  };
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      parts.forEach(onLine);
    });
    stream?.on('end', () => {
      if (partial !== '') onLine(partial);
    });
  };
  collect(child.stdout);
  collect(child.stderr);

  const pending = new Map<number, (reply: InvocationResult | HostStats) => void>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`handler host exited (${code ?? signal}) before it was ready:\n${output.join('\n')}`)));
    child.on('message', (message: InvocationResult | HostStats | { ready: true }) => {
      if ('ready' in message) resolve();
      else pending.get(message.id)?.(message);
    });
  });
  child.removeAllListeners('exit');

  const request = (message: Invocation) =>
    new Promise<InvocationResult | HostStats>((resolve, reject) => {
      pending.set(message.id, (reply) => {
        pending.delete(message.id);
        resolve(reply);
      });
      child.send(message, (error) => {
        if (error !== null) reject(error);
      });
    });

  return {
    pid: child.pid ?? -1,
    async invoke(handler, event, { stallMs, onStall } = {}) {
      const id = (nextId += 1);
      if (onStall !== undefined) stalls.set(id, onStall);
      const sentAt = performance.now();
      const reply = (await request({ id, handler, event, ...(stallMs === undefined ? {} : { stallMs }) })) as InvocationResult;
      return { ...reply, sentAt, answeredAt: performance.now() };
    },
    async stats() {
      const { connectCount, unhandled } = (await request({ id: (nextId += 1), handler: STATS, event: null })) as HostStats;
      return { connectCount, unhandled };
    },
    flush() {
      const id = (nextId += 1);
      return new Promise((resolve, reject) => {
        flushes.set(id, { streams: 2, resolve });
        const message: Invocation = { id, handler: FLUSH_MARKER, event: null };
        child.send(message, (error) => {
          if (error !== null) reject(error);
        });
      });
    },
    lines: () => [...output],
    logEntries: () =>
      output.flatMap((line) => {
        try {
          const parsed: unknown = JSON.parse(line);
          return isObject(parsed) ? [parsed] : [];
        } catch {
          return [];
        }
      }),
    signal: (signal) => {
      child.kill(signal);
    },
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}
