// A stand-in Lambda container with every handler: a separate process (its own environment, so its own
// NODE_EXTRA_CA_CERTS) that builds the handlers once, as a cold start does, and runs invocations sent over
// IPC, so a test can also freeze it (SIGSTOP) and thaw it (SIGCONT) the way Lambda does. It counts every
// unhandled rejection and uncaught exception (STATS). Bundled with
// esbuild (testkit/host-process.ts). An invocation may start by blocking the event loop (`stallMs`).
import { createHandlers, type FunctionName } from '../shared/handlers/table';
import { containerServices } from '../shared/services';

// Built as every function's module builds its handler, on containerServices() from this process's environment:
// one container that signs, which every handler can run on.
const HANDLERS = createHandlers(containerServices('signing'));
export type HandlerName = FunctionName;

export interface Invocation {
  id: number;
  handler: string;
  event: unknown;
  /**
   * Blocks the event loop this long before the handler runs, as seconds of synchronous work at the start
   * of an invocation would (a CPU-starved first invocation): the handler then runs before any timer that
   * expired meanwhile, and before any socket is read. `STALL_MARKER <id>` is written to stdout first.
   */
  stallMs?: number;
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } };

/** `elapsedMs`: measured in the container, around the handler call (a stall included). */
export type InvocationResult = Outcome & { id: number; connectCount: number; elapsedMs: number };

/** Not a handler: replies with the connection count and every unhandled rejection or uncaught exception so far. */
export const STATS = '__handler_host_stats__';

export interface HostStats {
  id: number;
  connectCount: number;
  /** A container that hit one would be killed by Lambda. */
  unhandled: string[];
}

const unhandled: string[] = [];
const record = (error: unknown) => void unhandled.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
process.on('unhandledRejection', record);
process.on('uncaughtException', record);

/** Not a handler: writes `FLUSH_MARKER <id>` to stdout and stderr, so the parent knows it has read all before. */
export const FLUSH_MARKER = '__handler_host_flush__';

/** Written to stdout (synchronously: it is a pipe) as an invocation's stall begins. */
export const STALL_MARKER = '__handler_host_stall__';

process.on('message', (message: Invocation) => {
  if (message.handler === FLUSH_MARKER) {
    process.stdout.write(`${FLUSH_MARKER} ${message.id}\n`);
    process.stderr.write(`${FLUSH_MARKER} ${message.id}\n`);
    return;
  }
  if (message.handler === STATS) {
    const stats: HostStats = { id: message.id, connectCount: containerServices('signing').redis.connectCount, unhandled };
    process.send?.(stats);
    return;
  }
  const started = performance.now();
  const run = (HANDLERS as Record<string, (event: never) => Promise<unknown>>)[message.handler];
  const reply = (outcome: Outcome) => {
    const result: InvocationResult = {
      id: message.id,
      connectCount: containerServices('signing').redis.connectCount,
      elapsedMs: performance.now() - started,
      ...outcome,
    };
    process.send?.(result);
  };
  if (run === undefined) {
    reply({ ok: false, error: { name: 'Error', message: `no handler ${message.handler}` } });
    return;
  }
  if (message.stallMs !== undefined) {
    process.stdout.write(`${STALL_MARKER} ${message.id}\n`);
    const until = performance.now() + message.stallMs;
    while (performance.now() < until) {
      // Busy: the point is that nothing else runs.
    }
  }
  run(message.event as never).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) => reply({ ok: false, error: { name: (error as Error).name, message: (error as Error).message } }),
  );
});

// The test process is gone (killed, crashed): do not outlive it.
process.on('disconnect', () => process.exit(0));

process.send?.({ ready: true });
