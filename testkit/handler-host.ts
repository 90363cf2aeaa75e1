// A stand-in Lambda container with every handler: a separate process (its own environment, so its own
// NODE_EXTRA_CA_CERTS) that loads the handlers once, as a cold start does, and runs invocations sent over
// IPC, so a test can also freeze it (SIGSTOP) and thaw it (SIGCONT) the way Lambda does. Bundled with
// esbuild (testkit/host-process.ts). An invocation may start by blocking the event loop (`stallMs`).
import { handler as authorizer } from '../functions/authorizer';
import { handler as endSession } from '../functions/end-session';
import { handler as listSessions } from '../functions/list-sessions';
import { handler as logout } from '../functions/logout';
import { handler as logoutAll } from '../functions/logout-all';
import { handler as me } from '../functions/me';
import { handler as revoke } from '../functions/revoke';
import { handler as revokeAll } from '../functions/revoke-all';
import { handler as sign } from '../functions/sign';
import { containerServices } from '../shared/services';

export const HANDLERS = { authorizer, endSession, listSessions, logout, logoutAll, me, revoke, revokeAll, sign };
export type HandlerName = keyof typeof HANDLERS;

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

export type InvocationResult = Outcome & { id: number; connectCount: number };

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
  const run = (HANDLERS as Record<string, (event: never) => Promise<unknown>>)[message.handler];
  const reply = (outcome: Outcome) => {
    const result: InvocationResult = { id: message.id, connectCount: containerServices().redis.connectCount, ...outcome };
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
