// The per-container singletons: config, the Redis connection, the session store and the token service, built on first use
// and reused by every invocation of every handler in the container.
import { DEVELOPMENT_SECRET, loadConfig, type Config } from './config';
import { fetchKeyring } from './auth/keyring';
import { log, setLogLevel } from './telemetry/log';
import { RedisConnection } from './redis/connection';
import { SessionStore } from './sessions/store';
import { TokenService } from './auth/tokens';

export interface Services {
  config: Config;
  redis: RedisConnection;
  sessions: SessionStore;
  tokens: TokenService;
}

let services: Services | undefined;

/** Bound on fetching the keyring from SSM at cold start; well inside the functions' 6 s timeout. */
const KEYRING_FETCH_TIMEOUT_MS = 3000;

/** Throws ConfigError on the first call if the environment is invalid: the cold start fails, loudly. */
export function getServices(): Services {
  if (services === undefined) {
    const config = loadConfig(process.env);
    setLogLevel(config.logLevel);
    if (config.tokens.keys.some((key) => key.secret === DEVELOPMENT_SECRET)) {
      log.warn('JWT_SECRET is unset: using the public development secret (serverless offline only)');
    }
    const redis = new RedisConnection(config.redis);
    const sessions = new SessionStore(redis, config.redis.waitReplicas, { ...config.sessions, maxTtlSeconds: config.tokens.maxTtlSeconds });
    const { keySource } = config;
    const loadKeys = keySource.from === 'ssm' ? () => fetchKeyring(keySource.parameterName, KEYRING_FETCH_TIMEOUT_MS) : undefined;
    services = { config, redis, sessions, tokens: new TokenService(redis, sessions, config.tokens, loadKeys) };
  }
  return services;
}

/**
 * For a handler module's top level: validate config, and start connecting and fetching the keys while the
 * container initialises.
 */
export function initServices(): void {
  const { redis, tokens } = getServices();
  redis.warmUp();
  tokens.warmUp();
}

/** Closes the connection and forgets everything, so the next call re-reads the environment (tests). */
export async function resetServices(): Promise<void> {
  const current = services;
  services = undefined;
  await current?.redis.close();
}
