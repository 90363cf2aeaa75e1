// Starts a throwaway redis-server on a free port, so each suite owns a server it may pause, kill or restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createClient } from '@redis/client';

export type AdminClient = ReturnType<typeof connectAdmin>;

/** Optional: serve TLS only, and/or reach admin() through an ACL user when `default` is off. */
export interface RedisServerOptions {
  /** PEM files. The server listens on TLS only (`--port 0`); admin() trusts `caFile`. Clients need no certificate. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** An ACL user allowed everything, used by admin() and the start-up PING. */
  admin?: { username: string; password: string };
}

interface AdminTarget {
  url: string;
  options: RedisServerOptions;
}

function connectAdmin({ url, options }: AdminTarget, connectTimeout?: number) {
  const socket =
    options.tls === undefined
      ? { reconnectStrategy: false as const, connectTimeout }
      : {
          reconnectStrategy: false as const,
          connectTimeout,
          tls: true as const,
          ca: readFileSync(options.tls.caFile),
          // The chain is checked, the name is not: a test may serve a certificate for another host on purpose.
          checkServerIdentity: () => undefined,
        };
  const client = createClient({ url, socket, ...options.admin });
  client.on('error', () => undefined);
  return client;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** False once killed or stopped, until restarted. */
  readonly alive: boolean;
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

/** `url` has no credentials; with `options.tls` it is `rediss://` and `port` is the TLS port. */
export async function startRedisServer(extraArgs: string[] = [], options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const url = `${options.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`;
  const target: AdminTarget = { url, options };
  const args = options.tls === undefined ? extraArgs : [...tlsArgs(port, options.tls), ...extraArgs];
  // Its own working folder: a replica's full sync writes dump.rdb there, whatever --save says.
  const workDir = mkdtempSync(join(tmpdir(), 'redis-server-'));
  let process: ChildProcess = await launch(port, args, target, workDir);
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
    get alive() {
      return process.exitCode === null && process.signalCode === null;
    },
    async admin() {
      // The server may have dropped it (CLIENT KILL, timeout, restart): reconnect rather than fail.
      if (adminClient === undefined || !adminClient.isReady) {
        const client = connectAdmin(target);
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
      process = await launch(port, args, target, workDir);
    },
    async stop() {
      await kill();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

function tlsArgs(port: number, tls: NonNullable<RedisServerOptions['tls']>): string[] {
  return [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--tls-cert-file',
    tls.certFile,
    '--tls-key-file',
    tls.keyFile,
    '--tls-ca-cert-file',
    tls.caFile,
    '--tls-auth-clients',
    'no',
  ];
}

async function launch(port: number, extraArgs: string[], target: AdminTarget, workDir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extraArgs],
    { stdio: 'ignore', cwd: workDir },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`cannot start redis-server (${error.message}): install it, e.g. apt-get install redis-server`)));
    child.once('spawn', () => resolve());
  });
  await waitForPing(port, child, target);
  return child;
}

async function waitForPing(port: number, child: ChildProcess, target: AdminTarget): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
    const client = connectAdmin(target, 500);
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
