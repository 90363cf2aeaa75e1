// The set-up most suites share, as jest hooks: call these inside a describe block (or at a file's top level)
// and use what they return inside tests and hooks.
import type { Env } from '../shared/config';
import { RedisConnection } from '../shared/redis/connection';
import type { ServiceOverrides } from '../shared/services';
import { coldStart, type Container } from './cold-start';
import { captureLogs } from './logs';
import { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server';

/**
 * A redis-server of the suite's own, started before its first test and stopped after its last. With
 * `flushEachTest`, every test starts on an empty one; `args` go to redis-server. Returns the server (from
 * beforeAll on).
 */
export function useRedisServer({
  flushEachTest = false,
  args = [],
  ...options
}: RedisServerOptions & { flushEachTest?: boolean; args?: string[] } = {}): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedisServer(args, options);
  });
  if (flushEachTest) {
    beforeEach(async () => {
      await (await current().admin()).flushAll();
    });
  }
  afterAll(async () => {
    await server?.stop();
  });
  const current = () => {
    if (server === undefined) throw new Error('the redis-server starts in beforeAll: use it in a test or a later hook');
    return server;
  };
  return current;
}

/**
 * Builds containers (coldStart) that are closed after the test that built them, or after the suite with
 * `closeAfter: 'suite'`.
 */
export function useContainers(closeAfter: 'test' | 'suite' = 'test'): (env: Env, overrides?: ServiceOverrides) => Container {
  const built: Container[] = [];
  const closeAll = async () => {
    await Promise.all(built.splice(0).map((container) => container.close()));
  };
  if (closeAfter === 'test') afterEach(closeAll);
  else afterAll(closeAll);
  return (env, overrides) => {
    const container = coldStart(env, overrides);
    built.push(container);
    return container;
  };
}

/** Every line written to stdout and stderr during each test, captured (and not printed). */
export function useLogLines(): () => string[] {
  let lines: string[] = [];
  beforeEach(() => {
    lines = captureLogs();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  return () => lines;
}

/** A RedisConnection to `server()` for each test (bound `timeoutMs`), closed after it. */
export function useConnection(server: () => RedisServer, timeoutMs = 1000): () => RedisConnection {
  let connection: RedisConnection | undefined;
  beforeEach(() => {
    connection = new RedisConnection({ url: server().url, timeoutMs });
  });
  afterEach(async () => {
    await connection?.close();
  });
  return () => {
    if (connection === undefined) throw new Error('the connection opens in beforeEach: use it in a test or a later hook');
    return connection;
  };
}

/**
 * `attempt`'s result, tried again (every `pauseMs`, `tries` times at most) while it rejects: for what must
 * come back by itself, such as a container after Redis resumes, on a machine too busy to promise the first try.
 */
export async function eventually<T>(attempt: () => Promise<T>, tries = 20, pauseMs = 100): Promise<T> {
  for (let tried = 1; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tried >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

/**
 * The usual suite: one container, logging at info, on a redis-server of the suite's own that every test finds
 * empty, with the lines each test writes. `env` is added to REDIS_URL and LOG_LEVEL.
 */
export function useContainerOnServer(env: Env): { server: () => RedisServer; handlers: () => Container; logLines: () => string[] } {
  const container = useContainers('suite');
  const server = useRedisServer({ flushEachTest: true });
  const logLines = useLogLines();
  let built: Container | undefined;
  beforeAll(async () => {
    built = container({ REDIS_URL: server().url, LOG_LEVEL: 'info', ...env });
    // Connected before the first test, whose own bound (short, in these suites) a busy machine could spend on it.
    const { redis } = built.services;
    await eventually(() => redis.primaryCount());
  });
  const handlers = () => {
    if (built === undefined) throw new Error('the container is built in beforeAll: use it in a test or a later hook');
    return built;
  };
  return { server, handlers, logLines };
}
