// A TCP proxy on loopback that can hold back what the server sends: a handshake (TLS, or Redis's own) then
// stays under way for as long as a test needs, with the server healthy behind it.
import { connect, createServer, type Server, type Socket } from 'node:net';

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
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');

  return {
    port: address.port,
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
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
