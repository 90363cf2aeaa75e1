// What a connection connects to: one Redis server, or a cluster whose node for each key is found on demand;
// both made with the same client options, and each listened to for errors.
import { createClient, createCluster } from '@redis/client';
import type { RedisConfig } from '../config';
import { scripts } from '../sessions/lua';
import { describeError, type Logger } from '../telemetry/log';

export type ConnectionConfig = Pick<RedisConfig, 'url' | 'timeoutMs'> & { cluster?: boolean; allowEviction?: boolean };

/** A connection to one Redis server: the whole of it, or the cluster node that owns a key. */
export type RedisClient = ReturnType<typeof createSingleClient>;
type RedisClusterClient = ReturnType<typeof createClusterClient>;

/** Commands to run on one node connection; `remainingMs` is what is left of the time bound, for WAIT. */
export type Command<T> = (client: RedisClient, remainingMs: number) => Promise<T>;

/** Where a command runs: the node that owns this key, or the n-th primary (for SCAN). */
export type Route = { key: string } | { primary: number };

/** One server, or one cluster: connect, pick the node for a command, close. */
export interface Target {
  connect(): Promise<unknown>;
  /** Synchronous when the node is already known: the warm path then sets no timer and awaits nothing. */
  node(route: Route): RedisClient | Promise<RedisClient>;
  primaryCount(): number;
  close(): Promise<void>;
  destroy(): void;
  onEnd(listener: () => void): void;
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

/** Reads a node's eviction policy, and throws EvictionPolicyError if it may not be used. */
export type PolicyCheck = (address: string, client: RedisClient) => Promise<void>;

export function singleTarget(config: ConnectionConfig, checkPolicy: PolicyCheck, log: Logger): Target {
  const client = createSingleClient(config);
  listenForErrors(client, log);
  return {
    connect: async () => {
      await client.connect();
      await checkPolicy(addressOf(config.url), client);
    },
    node: () => client,
    primaryCount: () => 1,
    close: () => client.close(),
    destroy: () => client.destroy(),
    onEnd: (listener) => void client.on('end', listener),
  };
}

export function clusterTarget(config: ConnectionConfig, checkPolicy: PolicyCheck, log: Logger): Target {
  const cluster: RedisClusterClient = createClusterClient(config);
  listenForErrors(cluster, log);
  // Each node's policy is read the first time a command needs it, not at connect, so that a dead primary
  // fails only its own slots. A node connection is checked once; a refusal is forgotten, to be read again.
  const checks = new WeakMap<RedisClient, Promise<void>>();
  const checked = async (client: RedisClient): Promise<RedisClient> => {
    let check = checks.get(client);
    if (check === undefined) {
      const address = cluster.masters.find((master) => master.client === client)?.address ?? 'unknown';
      check = checkPolicy(address, client);
      checks.set(client, check);
      check.catch(() => checks.delete(client));
    }
    await check;
    return client;
  };
  return {
    connect: () => cluster.connect(),
    node: async (route) => {
      if ('key' in route) return checked(await cluster.getNodeClientForKey(route.key));
      const primary = cluster.masters[route.primary];
      if (primary === undefined) throw new Error(`the cluster has no primary #${route.primary}`);
      return checked(await cluster.nodeClient(primary));
    },
    primaryCount: () => cluster.masters.length,
    close: () => cluster.close(),
    destroy: () => cluster.destroy(),
    // A cluster client outlives its node connections; stale ones are discarded on error instead.
    onEnd: () => undefined,
  };
}

/** `host:port` of a URL, without its credentials: safe to log. */
export function addressOf(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port === '' ? '6379' : port}`;
}

function listenForErrors(emitter: { on(event: 'error', listener: (error: unknown) => void): unknown }, log: Logger): void {
  // ! Without an 'error' listener node-redis re-throws socket errors and the process dies.
  emitter.on('error', (error: unknown) => log.warn('redis client error', { reason: describeError(error) }));
}
