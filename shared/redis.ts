// The container's one Redis connection: opened lazily, shared by every invocation, replaced when it dies,
// and bounded in time so that a slow or absent Redis fails closed within REDIS_TIMEOUT_MS.
import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  DisconnectsClientError,
  SocketClosedUnexpectedlyError,
} from '@redis/client';
import type { RedisConfig } from './config';
import { StoreUnavailableError } from './errors';
import { scripts } from './scripts';
import { describeError, log } from './log';

export type RedisClient = ReturnType<typeof createRedisClient>;

/** Node error codes that mean the socket under a command is gone, not that Redis refused it. */
const BROKEN_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

class DeadlineExceededError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} took longer than ${timeoutMs} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/** Commands to run on one connection; `remainingMs` is what is left of the time bound, for WAIT. */
export type Command<T> = (client: RedisClient, remainingMs: number) => Promise<T>;

interface Connection {
  client: RedisClient;
  /** Settles when the handshake does; shared by every caller that arrives meanwhile. */
  ready: Promise<RedisClient>;
}

export class RedisConnection {
  #current: Connection | undefined;
  #connects = 0;

  constructor(private readonly config: Pick<RedisConfig, 'url' | 'timeoutMs'>) {}

  /** How many connections this container has opened: one per cold start, plus one per replacement. */
  get connectCount(): number {
    return this.#connects;
  }

  /** Starts connecting during init so the handshake overlaps the rest of the cold start. */
  warmUp(): void {
    // A failure here is logged by connect() and retried by the first command: nothing to do with it.
    this.connection().ready.catch(() => undefined);
  }

  /**
   * Runs one command within the time bound. If the socket under it turns out to be dead (the server
   * dropped it while the container was frozen), it is retried once on a fresh connection, inside the
   * same bound. Only idempotent commands may go through here: reads, and writes that leave the same
   * state when applied twice (our scripts, SET of a fixed value, DEL).
   */
  async run<T>(operation: string, command: Command<T>): Promise<T> {
    const deadline = Date.now() + this.config.timeoutMs;
    try {
      return await this.attempt(command, deadline);
    } catch (error) {
      if (!isBrokenConnection(error) || Date.now() >= deadline) throw unavailable(operation, error);
      log.warn('redis connection lost, retrying once on a new connection', { operation, reason: describeError(error) });
      try {
        return await this.attempt(command, deadline);
      } catch (retryError) {
        throw unavailable(operation, retryError);
      }
    }
  }

  /** Closes the connection (tests, shutdown). The next command opens a new one. */
  async close(): Promise<void> {
    const current = this.#current;
    this.#current = undefined;
    if (current === undefined) return;
    const { client } = current;
    if (client.isReady) {
      try {
        await client.close();
        return;
      } catch {
        // Fall through: a close that fails leaves a socket only destroy() can end.
      }
    }
    client.destroy();
  }

  private async attempt<T>(command: Command<T>, deadline: number): Promise<T> {
    const connection = this.connection();
    const client = await withDeadline(connection.ready, deadline, 'connect', () => this.discard(connection.client));
    try {
      // A command written to a hung server is never answered and node-redis has no timeout for it:
      // give up on the whole connection, so the next invocation starts afresh.
      return await withDeadline(command(client, deadline - Date.now()), deadline, 'command', () => this.discard(client));
    } catch (error) {
      // node-redis may not have noticed yet that this socket is gone: make sure no one reuses it.
      if (isBrokenConnection(error)) this.discard(client);
      throw error;
    }
  }

  private connection(): Connection {
    if (this.#current !== undefined) return this.#current;
    const client = createRedisClient(this.config);
    client.on('end', () => this.forget(client));
    const started = Date.now();
    const ready = client.connect().then(
      () => {
        this.#connects += 1;
        log.info('redis connected', { latencyMs: Date.now() - started, connectCount: this.#connects });
        return client;
      },
      (error: unknown) => {
        // Never cache a failure: the next caller connects again.
        this.discard(client);
        log.warn('redis connect failed', { latencyMs: Date.now() - started, reason: describeError(error) });
        throw error;
      },
    );
    this.#current = { client, ready };
    return this.#current;
  }

  private forget(client: RedisClient): void {
    if (this.#current?.client === client) this.#current = undefined;
  }

  private discard(client: RedisClient): void {
    this.forget(client);
    client.destroy();
  }
}

function createRedisClient(config: Pick<RedisConfig, 'url' | 'timeoutMs'>) {
  const client = createClient({
    url: config.url,
    socket: {
      connectTimeout: config.timeoutMs,
      // Reconnecting in the background would queue invocations behind a dead server; instead a
      // closed client is dropped and the next command opens a new one within its own bound.
      reconnectStrategy: false,
    },
    // Fail at once while not connected, rather than parking commands in an offline queue.
    disableOfflineQueue: true,
    // CLIENT SETINFO is one more round trip per connect, and older servers refuse it.
    disableClientInfo: true,
    scripts,
  });
  // ! Without an 'error' listener node-redis re-throws socket errors and the process dies.
  client.on('error', (error: unknown) => log.warn('redis client error', { reason: describeError(error) }));
  return client;
}

function isBrokenConnection(error: unknown): boolean {
  if (
    error instanceof SocketClosedUnexpectedlyError ||
    error instanceof ClientClosedError ||
    error instanceof ClientOfflineError ||
    error instanceof DisconnectsClientError
  ) {
    return true;
  }
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
