// A stand-in Lambda container for fault tests: a separate process that loads the handlers once and runs
// invocations sent over IPC, timing each one itself and counting every unhandled rejection or uncaught
// exception (a container that hit one would be killed by Lambda). Bundled by watched-container-client.ts.
import { handler as authorizer } from '../functions/authorizer';
import { handler as logout } from '../functions/logout';
import { handler as logoutAll } from '../functions/logout-all';
import { handler as sign } from '../functions/sign';
import { containerServices } from '../shared/services';

export const HANDLERS = { authorizer, logout, logoutAll, sign };
export type WatchedHandler = keyof typeof HANDLERS;

export type WatchedRequest = { id: number; type: 'invoke'; handler: WatchedHandler; event: unknown } | { id: number; type: 'stats' };

export type WatchedOutcome = { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } };

export type WatchedReply =
  | ({ id: number; type: 'invoke'; elapsedMs: number } & WatchedOutcome)
  | { id: number; type: 'stats'; connectCount: number; unhandled: string[] };

const unhandled: string[] = [];
const record = (error: unknown) => void unhandled.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
process.on('unhandledRejection', record);
process.on('uncaughtException', record);

process.on('message', (message: WatchedRequest) => {
  if (message.type === 'stats') {
    const reply: WatchedReply = { id: message.id, type: 'stats', connectCount: containerServices().redis.connectCount, unhandled };
    process.send?.(reply);
    return;
  }
  const started = performance.now();
  const reply = (outcome: WatchedOutcome) => {
    const answer: WatchedReply = { id: message.id, type: 'invoke', elapsedMs: performance.now() - started, ...outcome };
    process.send?.(answer);
  };
  const run = HANDLERS[message.handler] as (event: unknown) => Promise<unknown>;
  run(message.event).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) => reply({ ok: false, error: { name: (error as Error).name, message: (error as Error).message } }),
  );
});

process.send?.({ ready: true });
