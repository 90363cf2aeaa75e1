// The composition root: what one Lambda container holds (its configuration, its one Redis connection, the
// session store and the token service), built from an environment. Handlers get theirs from
// containerServices(), built from process.env on first use; tests and tools call createServices directly.
import { DEVELOPMENT_SECRET, loadConfig, type Config, type Env, type KeyRole } from './config';
import { fetchKeyring } from './auth/keyring';
import { TokenService, type KeyLoader } from './auth/tokens';
import { RedisConnection } from './redis/connection';
import { SessionStore } from './sessions/store';
import { Logger } from './telemetry/log';

export interface Services {
  config: Config;
  /** At the container's LOG_LEVEL: every line its handlers and its connection write. */
  log: Logger;
  redis: RedisConnection;
  sessions: SessionStore;
  tokens: TokenService;
  /** Milliseconds since the epoch: what "now" is for tokens and sessions. */
  now: () => number;
  /** Starts connecting and fetching the keys, so that both overlap the rest of the cold start. */
  warmUp(): void;
  /** Closes the connection (tests, shutdown). */
  close(): Promise<void>;
}

/** What a test or a tool may put in place of what the environment would build. */
export interface ServiceOverrides {
  redis?: RedisConnection;
  now?: () => number;
  /** Where the keyring comes from when JWT_KEYS_SSM_PARAMETER names one (SSM by default). */
  loadKeys?: KeyLoader;
}

/** Bound on fetching the keyring from SSM at cold start; well inside the functions' 6 s timeout. */
const KEYRING_FETCH_TIMEOUT_MS = 3000;

/** What a function that verifies nothing holds: no key material, so no token service. */
export type KeylessServices = Omit<Services, 'tokens'>;

/**
 * Validates `env` and wires the services together: no I/O until warmUp() or the first call, nothing read
 * from the process. Throws ConfigError naming the variable when `env` is invalid. `role`: the keys the
 * function holds (shared/handlers/table.ts); tests and tools build a container that signs, which every handler
 * can run on.
 */
export function createServices(env: Env, overrides: ServiceOverrides = {}, role: Exclude<KeyRole, 'none'> = 'signing'): Services {
  const services = createKeylessServices(env, overrides, role);
  const { config, redis, sessions, now } = services;
  const { keySource } = config;
  const loadKeys =
    keySource.from === 'ssm'
      ? (overrides.loadKeys ?? (() => fetchKeyring(keySource.parameterName, KEYRING_FETCH_TIMEOUT_MS, undefined, keySource.alg)))
      : undefined;
  const tokens = new TokenService(redis, sessions, config.tokens, loadKeys, now);
  return {
    ...services,
    tokens,
    warmUp() {
      services.warmUp();
      tokens.warmUp();
    },
  };
}

/** The services of a function that holds no key: its environment must give none (`role` none). */
export function createKeylessServices(env: Env, overrides: ServiceOverrides = {}, role: KeyRole = 'none'): KeylessServices {
  const config = loadConfig(env, role);
  const log = new Logger(config.logLevel);
  const redis = overrides.redis ?? new RedisConnection(config.redis, log);
  const now = overrides.now ?? (() => Date.now());
  const sessions = new SessionStore(redis, config.redis.waitReplicas, { ...config.sessions, maxTtlSeconds: config.tokens.maxTtlSeconds });
  return {
    config,
    log,
    redis,
    sessions,
    now,
    warmUp() {
      redis.warmUp();
    },
    close: () => redis.close(),
  };
}

let container: KeylessServices | undefined;

/**
 * This container's services, built from process.env on the first call (at a handler module's load, so a
 * bad configuration fails the cold start, loudly) and warmed up; the same object on every later call. `role`
 * is the keys the function holds (its row of shared/handlers/table.ts).
 */
export function containerServices(role: Exclude<KeyRole, 'none'>): Services;
export function containerServices(role: 'none'): KeylessServices;
export function containerServices(role: KeyRole): KeylessServices {
  if (container === undefined) {
    const services = role === 'none' ? createKeylessServices(process.env) : createServices(process.env, {}, role);
    if (services.config.tokens.keys.some((key) => key.secret === DEVELOPMENT_SECRET)) {
      services.log.warn('JWT_SECRET is unset: using the public development secret (serverless offline only)');
    }
    services.warmUp();
    container = services;
  }
  // A Lambda container runs one function: a process that loads several (the bench) must load a keyed one first.
  if (role !== 'none' && !('tokens' in container)) throw new Error(`this process's container was built without keys; a ${role} function cannot run on it`);
  return container;
}
