// A TCP proxy on loopback that can hold back what the server sends: a handshake (TLS, or Redis's own) then
// stays under way for as long as a test needs, with the server healthy behind it.
import { startTcpProxy } from './tcp-proxy';

export interface HoldingProxy {
  readonly port: number;
  /** From now on, bytes from the server are kept back, on every connection, until release(). */
  hold(): void;
  /** Delivers what was kept back, in order, and lets everything through from now on. */
  release(): void;
  /** Resolves once some bytes from the server are being held: the client's handshake is under way. */
  holding(): Promise<void>;
  close(): Promise<void>;
}

export async function startHoldingProxy(targetPort: number): Promise<HoldingProxy> {
  let held = false;
  let backlog: Array<() => void> = [];
  let onHeld: (() => void) | undefined;
  const proxy = await startTcpProxy(targetPort, (client, upstream) => {
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!held) {
        client.write(chunk);
        return;
      }
      backlog.push(() => client.write(chunk));
      onHeld?.();
    });
  });
  return {
    port: proxy.port,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      const pending = backlog;
      backlog = [];
      for (const write of pending) write();
    },
    holding: () =>
      backlog.length > 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            onHeld = () => {
              onHeld = undefined;
              resolve();
            };
          }),
    close: () => proxy.close(),
  };
}
