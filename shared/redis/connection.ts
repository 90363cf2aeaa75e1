// The container's one Redis connection: opened lazily, shared by every invocation, replaced when it dies,
// and bounded in time so that a slow or absent Redis fails closed within REDIS_TIMEOUT_MS. A node whose
// maxmemory-policy may evict keys is refused as it is connected (see checkEvictionPolicy). What it connects to
// (one server, or a cluster) is in targets.ts, the time bound in deadline.ts.
// With REDIS_CLUSTER=true it is a cluster client, and each command runs on the node that owns its key.
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  SocketClosedUnexpectedlyError,
} from '@redis/client';
import { EvictionPolicyError, StoreOutcomeUnknownError, StoreUnavailableError } from '../errors';
import { describeError, log as defaultLog, recordRedisCall, type Logger, type RequestScope } from '../telemetry/log';
import { writeConnectLine } from '../telemetry/metrics';
import { withDeadline } from './deadline';
import { clusterTarget, singleTarget, type Command, type ConnectionConfig, type RedisClient, type Route, type Target } from './targets';

/** What run() may do with a command after the connection failed under it: see idempotent() and sentOnce(). */
type Retry = 'idempotent' | 'unsent';

/** One command for run(): what it is called (in errors and logs), where it runs, how it is sent, and when it may be sent again. */
export interface RedisCommand<T> {
  readonly operation: string;
  readonly route: Route;
  readonly send: Command<T>;
  readonly retry: Retry;
}

/**
 * A command that, applied twice, leaves what applying it once does (reads; DEL, UNLINK; scripts that only
 * delete or raise): run() sends it again on a fresh connection even when the first attempt may have run and
 * only its reply was lost.
 */
export function idempotent<T>(operation: string, route: Route, send: Command<T>): RedisCommand<T> {
  return { operation, route, send, retry: 'idempotent' };
}

/**
 * A command that must not run twice: run() sends it again only when the first attempt failed before it was
 * handed a connection, so nothing of it was written (a connect that failed, or node-redis's connect timer
 * fired late, after a freeze). A connection that dies after that may have taken it along, run or not:
 * StoreOutcomeUnknownError, never a retry.
 */
export function sentOnce<T>(operation: string, route: Route, send: Command<T>): RedisCommand<T> {
  return { operation, route, send, retry: 'unsent' };
}

/** Whether an attempt got as far as handing its command a connection: from then on it may have reached the server. */
interface Progress {
  handedOver: boolean;
}

/** Node error codes that mean the socket under a command is gone, not that Redis refused it. */
const BROKEN_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Cluster replies that mean our map of slots to nodes is out of date. */
const STALE_TOPOLOGY_REPLY = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;
/** The one policy under which Redis never deletes a key before its TTL, whatever the memory pressure. */
const SAFE_POLICY = 'noeviction';
const EVICTION_RISK = 'a full Redis may evict revocation counters, session indexes and labels, so logout-all and revoke-by-subject can leave tokens alive';
const EVICTION_FIX = 'set maxmemory-policy to noeviction in the ElastiCache/MemoryDB parameter group (REDIS_ALLOW_EVICTION=true serves anyway, unsafely)';

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
  /** By node address, what its last eviction-policy check logged: a refusal retried by every request is logged once. */
  readonly #policyVerdicts = new Map<string, string>();

  /** @param log where the connection's own lines go (connects, client errors, eviction refusals). */
  constructor(
    private readonly config: ConnectionConfig,
    private readonly log: Logger = defaultLog,
  ) {}

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
   * to be dead (the server dropped it while the container was frozen), the cluster moved the slot, or the
   * connect it waited for, begun before it, timed out while the process was frozen or stalled, it is
   * retried once on a fresh connection, inside the same bound, as far as the command allows (idempotent()
   * or sentOnce()). The time it takes counts toward `scope`'s, the invocation it serves.
   */
  async run<T>({ operation, route, send, retry }: RedisCommand<T>, scope?: RequestScope): Promise<T> {
    const started = performance.now();
    try {
      return await this.withinBound(operation, scope, retry, (deadline, progress) => this.attempt(route, send, deadline, progress));
    } finally {
      if (scope !== undefined) recordRedisCall(scope, performance.now() - started);
    }
  }

  /** How many primaries hold data: 1, or the cluster's masters. Connects if need be. */
  primaryCount(): Promise<number> {
    return this.withinBound('connect', undefined, 'idempotent', async (deadline) => (await this.connected(this.connection(), deadline)).primaryCount());
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

  /**
   * Runs `work` within one time bound, counted from now: this command's own. What failed is retried once,
   * inside the same bound, on a fresh connection when it was the connection that failed and not the command:
   * the socket was gone, or a connect begun before this command gave up on its own clock (see below); and
   * only if `retry` allows it after how far the attempt got.
   */
  private async withinBound<T>(
    operation: string,
    scope: RequestScope | undefined,
    retry: Retry,
    work: (deadline: number, progress: Progress) => Promise<T>,
  ): Promise<T> {
    const deadline = Date.now() + this.config.timeoutMs;
    const progress: Progress = { handedOver: false };
    try {
      return await work(deadline, progress);
    } catch (error) {
      // Handed over and then not answered (the connection lost, or the bound spent): it may have run. Redis's own
      // error reply is an answer.
      if (retry === 'unsent' && progress.handedOver && !(error instanceof ErrorReply)) {
        this.log.warn('redis command unanswered, and it may have run: not retried, it is not idempotent', { operation, reason: describeError(error) }, scope);
        throw new StoreOutcomeUnknownError(`Redis ${operation} failed, and may have run: ${describeError(error)}`, { cause: error });
      }
      if (!(isStaleConnection(error) || isLateConnectTimeout(error)) || Date.now() >= deadline) throw unavailable(operation, error);
      const what = isLateConnectTimeout(error) ? 'redis connect begun before this command timed out' : 'redis connection lost';
      this.log.warn(`${what}, retrying once on a new connection`, { operation, reason: describeError(error) }, scope);
      try {
        return await work(deadline, { handedOver: false });
      } catch (retryError) {
        throw unavailable(operation, retryError);
      }
    }
  }

  /** The connection's target once its handshake is done, within `deadline`; given up on (and discarded) after it. */
  private connected(connection: Connection, deadline: number): Promise<Target> {
    if (connection.connected) return Promise.resolve(connection.target);
    return withDeadline(connection.ready, deadline, 'connect', () => this.discard(connection.target));
  }

  private async attempt<T>(route: Route, command: Command<T>, deadline: number, progress: Progress): Promise<T> {
    const connection = this.connection();
    const target = connection.connected ? connection.target : await this.connected(connection, deadline);
    const node = target.node(route);
    let client: RedisClient;
    if (node instanceof Promise) {
      try {
        client = await withDeadline(node, deadline, 'connect', () => this.discard(target));
      } catch (error) {
        // A cluster node that cannot be reached means our map of the cluster may be stale (a failover):
        // start over from the configuration endpoint next time. A node refused for its eviction policy is
        // not: its connection stays, and the next request on it reads the policy again.
        if (!(error instanceof EvictionPolicyError)) this.discard(target);
        throw error;
      }
    } else {
      client = node;
    }
    // Refused here, not by node-redis inside the command: here it is certain nothing was written (see Retry).
    if (!client.isReady) {
      this.discard(target);
      throw new ClientOfflineError();
    }
    progress.handedOver = true;
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
    const checkPolicy = (address: string, client: RedisClient) => this.checkEvictionPolicy(address, client);
    const target = this.config.cluster === true ? clusterTarget(this.config, checkPolicy, this.log) : singleTarget(this.config, checkPolicy, this.log);
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
          writeConnectLine(this.log, latencyMs, { connectCount: this.#connects, cluster: this.config.cluster === true });
          return target;
        },
        (error: unknown) => {
          // Never cache a failure: the next caller connects again.
          this.discard(target);
          // checkEvictionPolicy logged it once; each request still says why in its own line.
          if (!(error instanceof EvictionPolicyError)) this.log.warn('redis connect failed', { latencyMs: Date.now() - started, reason: describeError(error) });
          throw error;
        },
      ),
    };
    this.#current = connection;
    return connection;
  }

  /**
   * Part of connecting to a node, never of a request on it: reads its maxmemory-policy with INFO (CONFIG is
   * disabled on ElastiCache) and refuses it if it may evict, unless allowed: eviction could drop a session
   * index and undo a revocation. A refusal is not cached: each request retries it, INFO included, until one
   * sees noeviction. It is logged once per node and verdict, not once per request.
   */
  private async checkEvictionPolicy(address: string, client: RedisClient): Promise<void> {
    const policy = evictionPolicy(String(await client.info('memory')));
    if (policy === SAFE_POLICY) {
      this.#policyVerdicts.delete(address);
      return;
    }
    const allowed = this.config.allowEviction === true;
    const verdict = `${allowed ? 'allowed' : 'refused'} ${policy}`;
    const isNew = this.#policyVerdicts.get(address) !== verdict;
    this.#policyVerdicts.set(address, verdict);
    const fields = { policy, node: address, risk: EVICTION_RISK, fix: EVICTION_FIX };
    if (allowed) {
      if (isNew) this.log.warn(`redis maxmemory-policy is ${policy}, not ${SAFE_POLICY}: serving anyway because REDIS_ALLOW_EVICTION=true`, fields);
      return;
    }
    const error = new EvictionPolicyError(`maxmemory-policy ${policy} (not ${SAFE_POLICY}) on ${address}`, policy, address);
    if (isNew) this.log.error(`redis maxmemory-policy is ${policy}, not ${SAFE_POLICY}: refusing to serve`, { code: error.code, ...fields });
    throw error;
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

/** The `maxmemory_policy` field of `INFO memory`; `unknown` when absent, which is refused like an evicting one. */
function evictionPolicy(info: string): string {
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? 'unknown';
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

/**
 * node-redis gave up a connect on its own timer (connectTimeout, as long as our bound) although the command
 * waiting for it still has time: so the connect began before that command, at init or for an earlier one.
 * Frozen (Lambda between invocations) or stalled (a blocked event loop) past that timer, the process runs it
 * as soon as it resumes, before reading the socket that may well hold the answer: that says nothing about
 * Redis, and the command connects afresh within its own bound.
 */
function isLateConnectTimeout(error: unknown): boolean {
  return error instanceof ConnectionTimeoutError;
}

function unavailable(operation: string, cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`Redis ${operation} failed: ${describeError(cause)}`, { cause });
}
