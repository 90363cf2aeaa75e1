// The container's one Redis connection: opened lazily, shared by every invocation, replaced when it dies,
// and bounded in time so that a slow or absent Redis fails closed within REDIS_TIMEOUT_MS.
// With REDIS_CLUSTER=true it is a cluster client, and each command runs on the node that owns its key.
import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  createCluster,
  DisconnectsClientError,
  ErrorReply,
  SocketClosedUnexpectedlyError,
} from '@redis/client';
import type { RedisConfig } from './config';
import { StoreUnavailableError } from './errors';
import { describeError, log, recordRedisCall, type RequestScope } from './log';
import { connectMetrics } from './metrics';
import { scripts } from './scripts';

export type ConnectionConfig = Pick<RedisConfig, 'url' | 'timeoutMs'> & { cluster?: boolean };

/** A connection to one Redis server: the whole of it, or the cluster node that owns a key. */
export type RedisClient = ReturnType<typeof createSingleClient>;
type RedisClusterClient = ReturnType<typeof createClusterClient>;

/** Commands to run on one node connection; `remainingMs` is what is left of the time bound, for WAIT. */
export type Command<T> = (client: RedisClient, remainingMs: number) => Promise<T>;

/** Where a command runs: the node that owns this key, or the n-th primary (for SCAN). */
export type Route = { key: string } | { primary: number };

/** Node error codes that mean the socket under a command is gone, not that Redis refused it. */
const BROKEN_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Cluster replies that mean our map of slots to nodes is out of date. */
const STALE_TOPOLOGY_REPLY = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

class DeadlineExceededError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} took longer than ${timeoutMs} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/** One server, or one cluster: connect, pick the node for a command, close. */
interface Target {
  connect(): Promise<unknown>;
  /** Synchronous when the node is already known: the warm path then sets no timer and awaits nothing. */
  node(route: Route): RedisClient | Promise<RedisClient>;
  primaryCount(): number;
  close(): Promise<void>;
  destroy(): void;
  onEnd(listener: () => void): void;
}

interface Connection {
  target: Target;
  /** Settles when the handshake does; shared by every caller that arrives meanwhile. */
  ready: Promise<Target>;
  /** Set once `ready` has resolved. */
  connected: boolean;
}

export class RedisConnection {
  #current: Connection | undefined;
  #connects = 0;
  /** Given up on. One may still finish connecting (destroy() cannot close a socket not yet made). */
  readonly #discarded = new WeakSet<Target>();

  constructor(private readonly config: ConnectionConfig) {}

  /** How many connections this container has opened: one per cold start, plus one per replacement. */
  get connectCount(): number {
    return this.#connects;
  }

  /** Starts connecting during init so the handshake overlaps the rest of the cold start. */
  warmUp(): void {
    // A failure here is logged by connection() and retried by the first command: nothing to do with it.
    this.connection().ready.catch(() => undefined);
  }

  /**
   * Runs one command within the time bound, on the node `route` names. If the socket under it turns out
   * to be dead (the server dropped it while the container was frozen) or the cluster moved the slot, it is
   * retried once on a fresh connection, inside the same bound. Only idempotent commands may go through
   * here: reads, and writes that leave the same state when applied twice (our scripts, DEL, UNLINK).
   * The time it takes counts toward `scope`'s, the invocation it serves.
   */
  async run<T>(operation: string, route: Route, command: Command<T>, scope?: RequestScope): Promise<T> {
    const started = performance.now();
    const deadline = Date.now() + this.config.timeoutMs;
    try {
      return await this.attempt(route, command, deadline);
    } catch (error) {
      if (!isStaleConnection(error) || Date.now() >= deadline) throw unavailable(operation, error);
      log.warn('redis connection lost, retrying once on a new connection', { operation, reason: describeError(error) }, scope);
      try {
        return await this.attempt(route, command, deadline);
      } catch (retryError) {
        throw unavailable(operation, retryError);
      }
    } finally {
      if (scope !== undefined) recordRedisCall(scope, performance.now() - started);
    }
  }

  /** How many primaries hold data: 1, or the cluster's masters. Connects if need be. */
  async primaryCount(): Promise<number> {
    const connection = this.connection();
    const deadline = Date.now() + this.config.timeoutMs;
    try {
      const target = await withDeadline(connection.ready, deadline, 'connect', () => this.discard(connection.target));
      return target.primaryCount();
    } catch (error) {
      throw unavailable('connect', error);
    }
  }

  /** Closes the connection (tests, shutdown). The next command opens a new one. */
  async close(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    if (current === undefined) return;
    try {
      await (await current.ready).close();
    } catch {
      // Not connected, or a close that failed: only destroy() can end what is left.
      current.target.destroy();
    }
  }

  private async attempt<T>(route: Route, command: Command<T>, deadline: number): Promise<T> {
    const connection = this.connection();
    const target = connection.connected
      ? connection.target
      : await withDeadline(connection.ready, deadline, 'connect', () => this.discard(connection.target));
    const node = target.node(route);
    let client: RedisClient;
    if (node instanceof Promise) {
      try {
        client = await withDeadline(node, deadline, 'connect', () => this.discard(target));
      } catch (error) {
        // A cluster node that cannot be reached means our map of the cluster may be stale (a failover):
        // start over from the configuration endpoint next time.
        this.discard(target);
        throw error;
      }
    } else {
      client = node;
    }
    try {
      // A command written to a hung server is never answered and node-redis has no timeout for it:
      // give up on the whole connection, so the next invocation starts afresh.
      return await withDeadline(command(client, deadline - Date.now()), deadline, 'command', () => this.discard(target));
    } catch (error) {
      // node-redis may not have noticed yet that this socket is gone: make sure no one reuses it.
      if (isStaleConnection(error)) this.discard(target);
      throw error;
    }
  }

  private connection(): Connection {
    if (this.#current !== undefined) return this.#current;
    const target = this.config.cluster === true ? clusterTarget(this.config) : singleTarget(this.config);
    target.onEnd(() => this.forget(target));
    const started = Date.now();
    const connection: Connection = {
      target,
      connected: false,
      ready: target.connect().then(
        () => {
          if (this.#discarded.has(target)) {
            // Its deadline passed while the socket was still being made: close it now that it exists.
            target.destroy();
            throw new Error('connected after the attempt was given up on');
          }
          connection.connected = true;
          this.#connects += 1;
          const latencyMs = Date.now() - started;
          log.metrics('info', 'redis connected', { latencyMs, connectCount: this.#connects, cluster: this.config.cluster === true }, connectMetrics(latencyMs));
          return target;
        },
        (error: unknown) => {
          // Never cache a failure: the next caller connects again.
          this.discard(target);
          log.warn('redis connect failed', { latencyMs: Date.now() - started, reason: describeError(error) });
          throw error;
        },
      ),
    };
    this.#current = connection;
    return connection;
  }

  private forget(target: Target): void {
    if (this.#current?.target === target) this.#current = undefined;
  }

  private discard(target: Target): void {
    this.#discarded.add(target);
    this.forget(target);
    target.destroy();
  }
}

const clientOptions = (config: ConnectionConfig) => ({
  // Fail at once while not connected, rather than parking commands in an offline queue.
  disableOfflineQueue: true,
  // CLIENT SETINFO is one more round trip per connect, and older servers refuse it.
  disableClientInfo: true,
  // Otherwise RESP3 sends CLIENT MAINT_NOTIFICATIONS on each connect: a Redis Enterprise feature, which a
  // least-privilege ACL user would be refused (and logged for) on servers that know the command.
  maintNotifications: 'disabled' as const,
  // No node-redis command timeout: ours (withDeadline) bounds every command and also drops the connection,
  // and node-redis's default of 5 s costs an AbortSignal and two listeners per command, on the hot path.
  commandOptions: { timeout: 0 },
  socket: {
    connectTimeout: config.timeoutMs,
    // Reconnecting in the background would queue invocations behind a dead server; instead a
    // closed client is dropped and the next command opens a new one within its own bound.
    reconnectStrategy: false as const,
  },
});

function createSingleClient(config: ConnectionConfig) {
  return createClient({ url: config.url, ...clientOptions(config), scripts });
}

function createClusterClient(config: ConnectionConfig) {
  // Discovered nodes inherit nothing from the root node's URL: credentials and TLS go in `defaults`.
  const url = new URL(config.url);
  const tls = url.protocol === 'rediss:';
  const options = clientOptions(config);
  return createCluster({
    rootNodes: [{ url: config.url, socket: options.socket }],
    defaults: {
      ...options,
      ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
      ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
      socket: tls ? { ...options.socket, tls: true as const } : options.socket,
    },
    // Connect only to the nodes this container's keys live on, when it first needs them.
    minimizeConnections: true,
    scripts,
  });
}

function singleTarget(config: ConnectionConfig): Target {
  const client = createSingleClient(config);
  listenForErrors(client);
  return {
    connect: () => client.connect(),
    node: () => client,
    primaryCount: () => 1,
    close: () => client.close(),
    destroy: () => client.destroy(),
    onEnd: (listener) => void client.on('end', listener),
  };
}

function clusterTarget(config: ConnectionConfig): Target {
  const cluster: RedisClusterClient = createClusterClient(config);
  listenForErrors(cluster);
  return {
    connect: () => cluster.connect(),
    node: async (route) => {
      if ('key' in route) return cluster.getNodeClientForKey(route.key);
      const primary = cluster.masters[route.primary];
      if (primary === undefined) throw new Error(`the cluster has no primary #${route.primary}`);
      return cluster.nodeClient(primary);
    },
    primaryCount: () => cluster.masters.length,
    close: () => cluster.close(),
    destroy: () => cluster.destroy(),
    // A cluster client outlives its node connections; stale ones are discarded on error instead.
    onEnd: () => undefined,
  };
}

function listenForErrors(emitter: { on(event: 'error', listener: (error: unknown) => void): unknown }): void {
  // ! Without an 'error' listener node-redis re-throws socket errors and the process dies.
  emitter.on('error', (error: unknown) => log.warn('redis client error', { reason: describeError(error) }));
}

function isStaleConnection(error: unknown): boolean {
  if (
    error instanceof SocketClosedUnexpectedlyError ||
    error instanceof ClientClosedError ||
    error instanceof ClientOfflineError ||
    error instanceof DisconnectsClientError
  ) {
    return true;
  }
  if (error instanceof ErrorReply) return STALE_TOPOLOGY_REPLY.test(error.message);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && BROKEN_SOCKET_CODES.has(code);
}

function unavailable(operation: string, cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`Redis ${operation} failed: ${describeError(cause)}`, { cause });
}

function withDeadline<T>(work: Promise<T>, deadline: number, what: string, onTimeout: () => void): Promise<T> {
  const remaining = deadline - Date.now();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new DeadlineExceededError(what, Math.max(remaining, 0)));
    }, Math.max(remaining, 0));
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
