// Reads and validates the environment once per container; every problem names its variable.
import { ConfigError } from './errors';

/** Used only under `serverless offline` when JWT_SECRET is unset. Public by design: never deploy it. */
export const DEVELOPMENT_SECRET = 'local-development-secret-do-not-deploy-0123456789';

const MIN_SECRET_BYTES = 32;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface RedisConfig {
  url: string;
  /** Bound on connecting and on each command, retry included. */
  timeoutMs: number;
}

export interface TokenConfig {
  secret: string;
  issuer: string;
  audience: string;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

export interface Config {
  redis: RedisConfig;
  tokens: TokenConfig;
  logLevel: LogLevel;
  /** True under `serverless offline`, which sets IS_OFFLINE=true. */
  offline: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env): Config {
  const offline = env.IS_OFFLINE === 'true';
  const defaultTtlSeconds = readInteger(env, 'TOKEN_TTL', 900, 1);
  const maxTtlSeconds = readInteger(env, 'MAX_TTL', 86_400, 1);
  if (defaultTtlSeconds > maxTtlSeconds) {
    throw new ConfigError(`TOKEN_TTL (${defaultTtlSeconds}) must not exceed MAX_TTL (${maxTtlSeconds})`);
  }
  return {
    redis: {
      url: readRedisUrl(env),
      timeoutMs: readInteger(env, 'REDIS_TIMEOUT_MS', 1000, 50),
    },
    tokens: {
      secret: readSecret(env, offline),
      issuer: readNonEmpty(env, 'JWT_ISSUER', 'revocable-jwt'),
      audience: readNonEmpty(env, 'JWT_AUDIENCE', 'revocable-jwt-api'),
      defaultTtlSeconds,
      maxTtlSeconds,
    },
    logLevel: readLogLevel(env),
    offline,
  };
}

function readRedisUrl(env: Env): string {
  const raw = env.REDIS_URL;
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigError('REDIS_URL is required, for example redis://127.0.0.1:6379 or rediss://user:password@host:6379');
  }
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch (cause) {
    // The value may hold a password: say what is wrong, never echo it.
    throw new ConfigError('REDIS_URL is not a valid URL', { cause });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`REDIS_URL must start with redis:// or rediss:// (TLS), not ${url.protocol}//`);
  }
  if (url.hostname === '') {
    throw new ConfigError('REDIS_URL has no host');
  }
  return raw.trim();
}

function readSecret(env: Env, offline: boolean): string {
  const secret = env.JWT_SECRET;
  if (secret === undefined || secret === '') {
    if (offline) return DEVELOPMENT_SECRET;
    throw new ConfigError('JWT_SECRET is required outside `serverless offline` (at least 32 bytes, e.g. `openssl rand -base64 48`)');
  }
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new ConfigError(`JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes long`);
  }
  if (secret === DEVELOPMENT_SECRET && !offline) {
    throw new ConfigError('JWT_SECRET is the public development secret; set a strong one outside `serverless offline`');
  }
  return secret;
}

function readInteger(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer of at least ${min}, got "${raw}"`);
  }
  return value;
}

function readNonEmpty(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined) return fallback;
  if (raw.trim() === '') throw new ConfigError(`${name} must not be empty`);
  return raw.trim();
}

function readLogLevel(env: Env): LogLevel {
  const raw = env.LOG_LEVEL;
  if (raw === undefined || raw === '') return 'info';
  const level = LOG_LEVELS.find((candidate) => candidate === raw.toLowerCase());
  if (level === undefined) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return level;
}
