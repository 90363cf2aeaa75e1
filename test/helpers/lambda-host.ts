// A stand-in Lambda container: a separate process that loads the handlers once and runs invocations sent
// over IPC, so a test can freeze it (SIGSTOP) and thaw it (SIGCONT) the way Lambda does.
import { handler as authorizer } from '../../functions/authorizer';
import { handler as logout } from '../../functions/logout';
import { handler as sign } from '../../functions/sign';
import { getServices } from '../../shared/services';

const handlers: Record<string, (event: never) => Promise<unknown>> = { authorizer, logout, sign };

export interface Invocation {
  id: number;
  handler: string;
  event: unknown;
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: { name: string; message: string } };

export type InvocationResult = Outcome & { id: number; connectCount: number };

process.on('message', (message: Invocation) => {
  const run = handlers[message.handler];
  const reply = (outcome: Outcome) =>
    process.send?.({ id: message.id, connectCount: getServices().redis.connectCount, ...outcome });
  if (run === undefined) {
    reply({ ok: false, error: { name: 'Error', message: `no handler ${message.handler}` } });
    return;
  }
  run(message.event as never).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) => reply({ ok: false, error: { name: (error as Error).name, message: (error as Error).message } }),
  );
});

process.send?.({ ready: true });
