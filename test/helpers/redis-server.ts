// Starts a throwaway redis-server on a free port, so each suite owns a server it may pause, kill or restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createClient } from '@redis/client';

export type AdminClient = ReturnType<typeof connectAdmin>;

function connectAdmin(url: string) {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  return client;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A plain client for arranging and inspecting state (not the one under test). */
  admin(): Promise<AdminClient>;
  /** SIGSTOP: the server keeps its sockets open but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL and wait for the process to go. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (empty: it keeps nothing on disk). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startRedisServer(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let process: ChildProcess = await launch(port, extraArgs);
  let adminClient: AdminClient | undefined;

  const closeAdmin = async () => {
    const client = adminClient;
    adminClient = undefined;
    if (client?.isOpen) client.destroy();
  };

  const kill = async () => {
    await closeAdmin();
    const exited = new Promise<void>((resolve) => {
      if (process.exitCode !== null || process.signalCode !== null) resolve();
      else process.once('exit', () => resolve());
    });
    process.kill('SIGKILL');
    await exited;
  };

  return {
    port,
    url,
    async admin() {
      // The server may have dropped it (CLIENT KILL, timeout, restart): reconnect rather than fail.
      if (adminClient === undefined || !adminClient.isReady) {
        const client = connectAdmin(url);
        await client.connect();
        adminClient = client;
      }
      return adminClient;
    },
    pause: () => process.kill('SIGSTOP'),
    resume: () => process.kill('SIGCONT'),
    kill,
    async restart() {
      await kill();
      process = await launch(port, extraArgs);
    },
    stop: kill,
  };
}

async function launch(port: number, extraArgs: string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extraArgs],
    { stdio: 'ignore' },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) =>
      reject(new Error(`cannot start redis-server (${error.message}): install it, e.g. apt-get install redis-server`)),
    );
    child.once('spawn', () => resolve());
  });
  await waitForPing(port, child);
  return child;
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      client.destroy();
      return;
    } catch {
      if (client.isOpen) client.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
}
