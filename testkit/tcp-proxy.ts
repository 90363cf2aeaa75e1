// A TCP proxy on loopback whose user decides what each connection passes on, and when: the plumbing that the
// fault-injecting proxies (holding-proxy.ts, the lost reply's) share.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Ends every connection, then stops listening. */
  close(): Promise<void>;
}

/**
 * Listens on a free port; for each client, opens a connection to `targetPort` and hands both sockets to
 * `relay`, which wires their 'data' events. Either side closing closes the other; socket errors end the
 * connection quietly (the tests break connections on purpose).
 */
export async function startTcpProxy(targetPort: number, relay: (client: Socket, upstream: Socket) => void): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    relay(client, upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port');
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
