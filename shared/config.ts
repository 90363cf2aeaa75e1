// Reads and validates the environment once per container; every problem names its variable.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { algorithmOf, ALGORITHMS, readKey, type Algorithm } from './auth/algorithms';
import { MAX_TTL_LIMIT } from './auth/claims';
import { ConfigError } from './errors';

/** Used only under `serverless offline` when JWT_SECRET is unset. Public by design: never deploy it. */
export const DEVELOPMENT_SECRET = 'local-development-secret-do-not-deploy-0123456789';

const MIN_SECRET_BYTES = 32;
const MAX_SESSIONS_LIMIT = 1000;
/** The longest a token may live is the longest a session may. */
const MAX_SESSION_AGE = MAX_TTL_LIMIT;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface RedisConfig {
  url: string;
  /** Bound on connecting and on each command, retry included. */
  timeoutMs: number;
  /** Replicas that must hold a revocation before it is acknowledged (Redis WAIT); 0 waits for none. */
  waitReplicas: number;
  /** REDIS_URL is a cluster's configuration endpoint (cluster mode enabled). */
  cluster: boolean;
  /**
   * REDIS_ALLOW_EVICTION: serve even when a node's maxmemory-policy may evict keys. Unsafe: eviction can drop
   * a revocation counter and undo logout-all or revoke-by-subject. Off, such a Redis is refused at connect.
   */
  allowEviction: boolean;
}

export interface SigningKeyConfig {
  /** Written to each token's header; picks the key at verification. */
  kid: string;
  secret: string;
}

/** A key of an ES256 or EdDSA ring. */
export interface AsymmetricKey {
  kid: string;
  key: KeyObject;
}

/**
 * JWT_ALG ES256 or EdDSA: the private keys (JWT_KEYS), which sign and from which the public keys derive, or the
 * public keys alone (JWT_PUBLIC_KEYS), which only verify. Newest first, as every ring.
 */
export interface AsymmetricKeyring {
  alg: Exclude<Algorithm, 'HS256'>;
  privateKeys: AsymmetricKey[];
  publicKeys: AsymmetricKey[];
}

export interface TokenConfig {
  /** HS256 (JWT_ALG unset): newest first: new tokens use the first; every listed key still verifies its own tokens. */
  keys: SigningKeyConfig[];
  /**
   * Set where the function holds no key at all on purpose: the JWKS (role `public`) with HS256, whose only key is
   * secret. It publishes an empty set; signing and verifying fail.
   */
  noKeys?: true;
  /** JWT_ALG ES256 or EdDSA: the ring, and `keys` is empty. */
  asymmetric?: AsymmetricKeyring;
  issuer: string;
  audience: string;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

export type SessionLimitAction = 'end-oldest' | 'refuse';
const SESSION_LIMIT_ACTIONS: readonly SessionLimitAction[] = ['end-oldest', 'refuse'];

export interface SessionConfig {
  /** MAX_SESSIONS: the most live sessions one subject may hold; bounds every per-subject operation. */
  maxSessions: number;
  /** SESSION_LIMIT: what sign does for a subject at the cap: end its oldest session, or refuse (409). */
  onLimit: SessionLimitAction;
  /** SESSION_MAX_AGE: a session's absolute lifetime, refreshes included; no token of it outlives it. */
  maxAgeSeconds: number;
  /** REFRESH_IDLE_TTL: a refresh token unused this long expires (and at its session's end at the latest). */
  refreshIdleTtlSeconds: number;
  /** REFRESH_REUSE_GRACE: for this long after a rotation, the rotated token gets the same new pair again. */
  refreshReuseGraceSeconds: number;
}

export interface Config {
  redis: RedisConfig;
  sessions: SessionConfig;
  /**
   * Where the signing keys come from. From SSM, `tokens.keys` is empty until they are fetched at cold
   * start, so that no secret passes through the deployment template.
   */
  keySource: { from: 'environment'; alg: Algorithm } | { from: 'ssm'; parameterName: string; alg: Algorithm };
  tokens: TokenConfig;
  logLevel: LogLevel;
  /** CORS_ORIGINS: browser origins that may read the browser routes' answers (deploy/cors.js); none by default. */
  corsOrigins: string[];
  /** IS_OFFLINE: under `serverless offline`, where alone the development secret and the demo login may serve. */
  offline: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Every environment variable the services read, the one list: serverless.yml's environment and the README's
 * table are checked against it (test/unit/config-variables.test.ts), and tests clear these before a run.
 */
export const CONFIG_VARIABLES = [
  'REDIS_URL',
  'REDIS_TIMEOUT_MS',
  'REDIS_WAIT_REPLICAS',
  'REDIS_CLUSTER',
  'REDIS_ALLOW_EVICTION',
  'JWT_ALG',
  'JWT_SECRET',
  'JWT_KEYS',
  'JWT_PUBLIC_KEYS',
  'JWT_KEYS_SSM_PARAMETER',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'TOKEN_TTL',
  'MAX_TTL',
  'MAX_SESSIONS',
  'SESSION_LIMIT',
  'SESSION_MAX_AGE',
  'REFRESH_IDLE_TTL',
  'REFRESH_REUSE_GRACE',
  'LOG_LEVEL',
  'CORS_ORIGINS',
  // Set by serverless offline itself, never by a deployment.
  'IS_OFFLINE',
] as const;

/**
 * The key material a function holds (shared/handlers/table.ts): the signing keys, the verifying keys only (an
 * ES256 or EdDSA ring's public keys; HS256's secret, which is both), the public keys only (an ES256 or EdDSA
 * ring's; nothing with HS256, whose key is secret: the JWKS), or none.
 */
export type KeyRole = 'signing' | 'verifying' | 'public' | 'none';

/** The variables that carry key material, or say where it is. */
export const KEY_VARIABLES = ['JWT_SECRET', 'JWT_KEYS', 'JWT_PUBLIC_KEYS', 'JWT_KEYS_SSM_PARAMETER'] as const;

/** The configuration of a function whose keys are `role`'s: a function refuses key material it must not hold. */
export function loadConfig(env: Env, role: KeyRole = 'signing'): Config {
  const offline = env.IS_OFFLINE === 'true';
  const defaultTtlSeconds = readInteger(env, 'TOKEN_TTL', 900, 1);
  const maxTtlSeconds = readInteger(env, 'MAX_TTL', 86_400, 1, MAX_TTL_LIMIT);
  if (defaultTtlSeconds > maxTtlSeconds) {
    throw new ConfigError(`TOKEN_TTL (${defaultTtlSeconds}) must not exceed MAX_TTL (${maxTtlSeconds})`);
  }
  const sessions = loadSessionConfig(env);
  if (maxTtlSeconds > sessions.maxAgeSeconds) {
    throw new ConfigError(`MAX_TTL (${maxTtlSeconds}) must not exceed SESSION_MAX_AGE (${sessions.maxAgeSeconds}): no token outlives its session`);
  }
  const keyringParameter = env.JWT_KEYS_SSM_PARAMETER?.trim() ?? '';
  const set = (name: string) => (env[name]?.trim() ?? '') !== '';
  if (keyringParameter !== '' && (set('JWT_KEYS') || set('JWT_SECRET') || set('JWT_PUBLIC_KEYS'))) {
    throw new ConfigError('set one of JWT_KEYS_SSM_PARAMETER, JWT_KEYS, JWT_PUBLIC_KEYS or JWT_SECRET, not several');
  }
  const alg = readAlgorithm(env);
  if (role === 'none') {
    const held = KEY_VARIABLES.filter(set);
    if (held.length > 0) throw new ConfigError(`${held.join(', ')}: this function verifies nothing and must hold no key material; leave it unset`);
  }
  if (role === 'public') {
    const held = KEY_VARIABLES.filter((name) => name !== 'JWT_PUBLIC_KEYS' && set(name));
    if (held.length > 0) {
      throw new ConfigError(`${held.join(', ')}: this function publishes public keys only and must hold no secret or private key; leave it unset`);
    }
    if (alg !== 'HS256' && !set('JWT_PUBLIC_KEYS')) throw new ConfigError(`JWT_ALG ${alg} needs JWT_PUBLIC_KEYS: this function publishes the public keys`);
  }
  if (role === 'verifying' && alg !== 'HS256' && (set('JWT_KEYS') || keyringParameter !== '')) {
    throw new ConfigError(`${set('JWT_KEYS') ? 'JWT_KEYS' : 'JWT_KEYS_SSM_PARAMETER'} gives private keys: a function that only verifies takes JWT_PUBLIC_KEYS`);
  }
  // With HS256 the JWKS publishes nothing, and so holds nothing (its secret would be one bug away from the public).
  const holdsKeys = role !== 'none' && !(role === 'public' && alg === 'HS256');
  const asymmetric = holdsKeys && alg !== 'HS256' && keyringParameter === '' ? readAsymmetricKeyring(env, alg) : undefined;
  if (alg === 'HS256' && set('JWT_PUBLIC_KEYS')) throw new ConfigError('JWT_PUBLIC_KEYS holds ES256 or EdDSA public keys: set JWT_ALG too');
  return {
    redis: loadRedisConfig(env),
    sessions,
    keySource: keyringParameter === '' ? { from: 'environment', alg } : { from: 'ssm', parameterName: keyringParameter, alg },
    tokens: {
      keys: holdsKeys && keyringParameter === '' && alg === 'HS256' ? readSigningKeys(env, offline) : [],
      ...(asymmetric === undefined ? {} : { asymmetric }),
      ...(role === 'public' && !holdsKeys ? { noKeys: true as const } : {}),
      issuer: readNonEmpty(env, 'JWT_ISSUER', 'revocable-jwt'),
      audience: readNonEmpty(env, 'JWT_AUDIENCE', 'revocable-jwt-api'),
      defaultTtlSeconds,
      maxTtlSeconds,
    },
    logLevel: loadLogLevel(env),
    corsOrigins: loadCorsOrigins(env),
    offline,
  };
}

/** The Redis settings alone, for tools that need no signing key (the kill switch). */
export function loadRedisConfig(env: Env): RedisConfig {
  return {
    url: readRedisUrl(env),
    timeoutMs: readInteger(env, 'REDIS_TIMEOUT_MS', 1000, 50),
    waitReplicas: readInteger(env, 'REDIS_WAIT_REPLICAS', 0, 0),
    cluster: readBoolean(env, 'REDIS_CLUSTER'),
    allowEviction: readBoolean(env, 'REDIS_ALLOW_EVICTION'),
  };
}

/**
 * MAX_SESSIONS, SESSION_LIMIT and the sessions' lifetimes. At most 1,000 sessions: a listing of them stays near
 * 100 KB, and no per-subject script holds Redis for more than a few milliseconds (docs/operations.md, Capacity).
 */
export function loadSessionConfig(env: Env): SessionConfig {
  const raw = env.SESSION_LIMIT?.trim() ?? '';
  const onLimit = raw === '' ? 'end-oldest' : SESSION_LIMIT_ACTIONS.find((action) => action === raw);
  if (onLimit === undefined) throw new ConfigError(`SESSION_LIMIT must be one of ${SESSION_LIMIT_ACTIONS.join(', ')}, got "${env.SESSION_LIMIT}"`);
  return {
    maxSessions: readInteger(env, 'MAX_SESSIONS', 100, 1, MAX_SESSIONS_LIMIT),
    onLimit,
    maxAgeSeconds: readInteger(env, 'SESSION_MAX_AGE', 30 * 86_400, 1, MAX_SESSION_AGE),
    refreshIdleTtlSeconds: readInteger(env, 'REFRESH_IDLE_TTL', 7 * 86_400, 1, MAX_SESSION_AGE),
    // A retry comes within seconds; a longer window only widens what a thief racing the client may take.
    refreshReuseGraceSeconds: readInteger(env, 'REFRESH_REUSE_GRACE', 10, 0, 300),
  };
}

function readRedisUrl(env: Env): string {
  const raw = env.REDIS_URL;
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigError('REDIS_URL is required, for example redis://127.0.0.1:6379 or rediss://user:password@host:6379');
  }
  // The value may hold a password: every message says what is wrong, none echoes any part of it.
  const encodeHint = 'percent-encode # / ? % in the password as %23 %2F %3F %25';
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch (error) {
    // Not `{ cause: error }`: Node's URL error carries the whole value, password included, in its `input`
    // field, and a crash prints the cause chain. Keep only what kind of failure it was.
    throw new ConfigError(`REDIS_URL is not a valid URL (${encodeHint})`, { cause: urlErrorWithoutInput(error) });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    // Not the scheme it found either: without `//`, `user:password@host` reads as scheme `user:`.
    throw new ConfigError('REDIS_URL must start with redis:// or rediss:// (TLS)');
  }
  if (url.hostname === '') {
    throw new ConfigError('REDIS_URL has no host');
  }
  // node-redis reads credentials, host, port and a database number, nothing else. A fragment, a query or
  // another path is a password cut short at an unencoded # ? or /: the rest of it would then be taken for
  // the host and port, and shown in every connection error.
  if (url.hash !== '' || url.search !== '' || !/^\/?\d*$/.test(url.pathname)) {
    throw new ConfigError(`REDIS_URL may hold only credentials, host, port and a database number (${encodeHint})`);
  }
  try {
    // What node-redis does to the credentials, at each connect: fail here, at cold start, instead.
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch (cause) {
    // URIError's message is "URI malformed", nothing of the value.
    throw new ConfigError(`REDIS_URL has a % that is not followed by two hex digits (${encodeHint})`, { cause });
  }
  return raw.trim();
}

/** A URL parse failure as Node reports it (TypeError, ERR_INVALID_URL), without the `input` it keeps. */
function urlErrorWithoutInput(error: unknown): TypeError {
  const code = (error as { code?: unknown }).code;
  return Object.assign(new TypeError('Invalid URL'), typeof code === 'string' ? { code } : {});
}

/** The kid of the one-key ring that JWT_SECRET makes. */
export const SINGLE_SECRET_KID = 'default';
/** Safe in a header and a log line; never used to look anything up outside the in-memory ring. */
export const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function readSigningKeys(env: Env, offline: boolean): SigningKeyConfig[] {
  const ring = env.JWT_KEYS?.trim() ?? '';
  const single = env.JWT_SECRET ?? '';
  if (ring !== '' && single !== '') {
    throw new ConfigError('set JWT_KEYS or JWT_SECRET, not both (JWT_SECRET is a one-key ring with kid "default")');
  }
  if (ring !== '') return parseKeyring(ring, 'JWT_KEYS', offline);
  if (single === '') {
    if (offline) return [{ kid: SINGLE_SECRET_KID, secret: DEVELOPMENT_SECRET }];
    throw new ConfigError('JWT_SECRET or JWT_KEYS is required outside `serverless offline` (at least 32 bytes, e.g. `openssl rand -base64 48`)');
  }
  return [{ kid: SINGLE_SECRET_KID, secret: checkSecret('JWT_SECRET', single, offline) }];
}

/**
 * `kid:secret` pairs separated by commas, newest first (so a secret cannot hold a comma). `source` names where
 * they came from, in errors. Errors name an entry by its number, never by its kid: with a comma in a secret,
 * what follows it up to a colon would read as a kid.
 */
export function parseKeyring(ring: string, source: string, offline: boolean): SigningKeyConfig[] {
  const keys: SigningKeyConfig[] = [];
  ring.split(',').forEach((entry, index) => {
    const separator = entry.indexOf(':');
    const kid = entry.slice(0, Math.max(separator, 0)).trim();
    const secret = entry.slice(separator + 1).trim();
    if (separator <= 0 || !KID_PATTERN.test(kid)) {
      throw new ConfigError(
        `${source} entry ${index + 1} must be kid:secret, with a kid of 1-64 letters, digits, ".", "_" or "-" (and no comma in the secret)`,
      );
    }
    const first = keys.findIndex((key) => key.kid === kid);
    if (first >= 0) throw new ConfigError(`${source} entry ${index + 1} repeats the kid of entry ${first + 1}`);
    keys.push({ kid, secret: checkSecret(`${source} entry ${index + 1}: the secret`, secret, offline) });
  });
  return keys;
}

/** JWT_ALG: HS256 (the default), ES256 or EdDSA; every key of the ring is pinned to it. */
function readAlgorithm(env: Env): Algorithm {
  const raw = env.JWT_ALG?.trim() ?? '';
  if (raw === '') return 'HS256';
  const alg = ALGORITHMS.find((candidate) => candidate === raw);
  if (alg === undefined) throw new ConfigError(`JWT_ALG must be one of ${ALGORITHMS.join(', ')}, got "${env.JWT_ALG}"`);
  return alg;
}

/** JWT_KEYS (private keys: the function signs) or JWT_PUBLIC_KEYS (public keys: it only verifies), not both. */
function readAsymmetricKeyring(env: Env, alg: Exclude<Algorithm, 'HS256'>): AsymmetricKeyring {
  if ((env.JWT_SECRET ?? '') !== '') throw new ConfigError(`JWT_SECRET is an HS256 secret: with JWT_ALG ${alg} set JWT_KEYS (private keys) or JWT_PUBLIC_KEYS`);
  const privateRing = env.JWT_KEYS?.trim() ?? '';
  const publicRing = env.JWT_PUBLIC_KEYS?.trim() ?? '';
  if (privateRing !== '' && publicRing !== '') throw new ConfigError('set JWT_KEYS (private keys, which give the public ones) or JWT_PUBLIC_KEYS, not both');
  if (privateRing !== '') return asymmetricKeyring(parseAsymmetricKeyring(privateRing, 'JWT_KEYS', 'private', alg), alg);
  if (publicRing !== '') return { alg, privateKeys: [], publicKeys: parseAsymmetricKeyring(publicRing, 'JWT_PUBLIC_KEYS', 'public', alg) };
  throw new ConfigError(`JWT_ALG ${alg} needs JWT_KEYS (private keys, to sign) or JWT_PUBLIC_KEYS (to verify only), e.g. from \`openssl genpkey\``);
}

/** The ring of these private keys, with the public keys they give. */
export function asymmetricKeyring(privateKeys: AsymmetricKey[], alg: Exclude<Algorithm, 'HS256'>): AsymmetricKeyring {
  return { alg, privateKeys, publicKeys: privateKeys.map(({ kid, key }) => ({ kid, key: createPublicKey(key) })) };
}

/**
 * A JSON array, newest first, of `{ "kid": …, "key": … }` where the key is PEM text or a JWK object. Every problem
 * names `source` and the entry by its number, never any part of a key.
 */
export function parseAsymmetricKeyring(raw: string, source: string, kind: 'private' | 'public', alg: Exclude<Algorithm, 'HS256'>): AsymmetricKey[] {
  const shape = `a non-empty JSON array of { "kid": …, "key": PEM text or a JWK }, newest first (${alg} ${kind} keys)`;
  let entries: unknown;
  try {
    entries = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${source} must be ${shape}`);
  }
  if (!Array.isArray(entries) || entries.length === 0) throw new ConfigError(`${source} must be ${shape}`);
  const keys: AsymmetricKey[] = [];
  entries.forEach((entry: unknown, index) => {
    const where = `${source} entry ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${where} must be an object { "kid": …, "key": … }`);
    const { kid, key } = entry as Record<string, unknown>;
    if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw new ConfigError(`${where} must have a kid of 1-64 letters, digits, ".", "_" or "-"`);
    const first = keys.findIndex((known) => known.kid === kid);
    if (first >= 0) throw new ConfigError(`${where} repeats the kid of entry ${first + 1}`);
    if (typeof key !== 'string' && (typeof key !== 'object' || key === null || Array.isArray(key))) {
      throw new ConfigError(`${where} must have a key: PEM text or a JWK object`);
    }
    // node would derive a public key from a private one: refuse it, so no private key sits where only public
    // ones belong.
    if (kind === 'public' && (typeof key === 'string' ? key.includes('PRIVATE KEY') : 'd' in key)) {
      throw new ConfigError(`${where} is a private key: give public keys only`);
    }
    let material: KeyObject;
    try {
      material = readKey(key as string | JsonWebKey, kind);
    } catch {
      throw new ConfigError(`${where} is not a ${kind} key in PEM or JWK form`);
    }
    const keyAlg = algorithmOf(material);
    if (keyAlg !== alg) throw new ConfigError(`${where} is a key for ${keyAlg ?? 'no algorithm we support'}, not JWT_ALG ${alg}`);
    keys.push({ kid, key: material });
  });
  return keys;
}

function checkSecret(name: string, secret: string, offline: boolean): string {
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new ConfigError(`${name} must be at least ${MIN_SECRET_BYTES} bytes long`);
  }
  if (secret === DEVELOPMENT_SECRET && !offline) {
    throw new ConfigError(`${name} is the public development secret; set a strong one outside \`serverless offline\``);
  }
  return secret;
}

function readInteger(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer of at least ${min}, got "${raw}"`);
  }
  if (value > max) throw new ConfigError(`${name} must be at most ${max}, got "${raw}"`);
  return value;
}

function readBoolean(env: Env, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function readNonEmpty(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined) return fallback;
  if (raw.trim() === '') throw new ConfigError(`${name} must not be empty`);
  return raw.trim();
}

/**
 * CORS_ORIGINS: the browser origins allowed to call the browser routes (deploy/cors.js), comma-separated; unset or empty
 * allows none. Each entry must be an origin exactly as a browser sends it in `Origin` (scheme, lowercase host,
 * port only when not the default), since API Gateway compares them as strings.
 */
/** A DNS name (internationalized ones in their xn-- form, as the URL parser gives them) or a bracketed IPv6 address. */
const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/;

export function loadCorsOrigins(env: Env): string[] {
  const raw = env.CORS_ORIGINS?.trim() ?? '';
  if (raw === '') return [];
  const origins: string[] = [];
  raw.split(',').forEach((entry, index) => {
    const origin = entry.trim();
    const expected = 'an origin such as https://app.example.com (http or https, host, optional port; no path, no trailing slash, no "*")';
    // user:password@ is never part of an origin, and may be a secret: refuse it without echoing the entry.
    if (origin.includes('@')) throw new ConfigError(`CORS_ORIGINS entry ${index + 1} must be ${expected}, without user:password@`);
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      // Reported below, with what an origin looks like.
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || origin.includes('*')) {
      throw new ConfigError(`CORS_ORIGINS entry ${index + 1} must be ${expected}, got "${origin}"`);
    }
    if (url.origin !== origin) {
      throw new ConfigError(`CORS_ORIGINS entry ${index + 1} must be ${expected}, got "${origin}" (did you mean "${url.origin}"?)`);
    }
    // The URL parser lets through characters no DNS name has (a quote would break the template's header value).
    if (!HOST_NAME.test(url.hostname)) {
      throw new ConfigError(`CORS_ORIGINS entry ${index + 1} must be ${expected}, got "${origin}" (its host has characters no host name has)`);
    }
    if (origins.includes(origin)) throw new ConfigError(`CORS_ORIGINS lists "${origin}" twice`);
    origins.push(origin);
  });
  return origins;
}

export function loadLogLevel(env: Env): LogLevel {
  const raw = env.LOG_LEVEL;
  if (raw === undefined || raw === '') return 'info';
  const level = LOG_LEVELS.find((candidate) => candidate === raw.toLowerCase());
  if (level === undefined) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return level;
}
