// Issues and verifies tokens. A token is valid only while its label `jwt_label:<jti>` exists in Redis
// (jwt-redis's allowlist), so deleting the label kills the token at once.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import jsonwebtoken, { type GetPublicKeyOrSecret, type JwtPayload } from 'jsonwebtoken';
import JWTR, { TokenDestroyedError, TokenInvalidError as JwtRedisInvalidError } from 'jwt-redis';
import type { RedisClientType } from 'redis';
import { KID_PATTERN, type SigningKeyConfig, type TokenConfig } from './config';
import {
  AppError,
  TokenExpiredError,
  TokenInvalidError,
  TokenMalformedError,
  TokenNotYetValidError,
  TokenRevokedError,
} from './errors';
import type { RequestScope } from './log';
import type { RedisConnection } from './redis';
import { isJti, LABEL_PREFIX, newJti, subjectTag, tagOfJti, type SessionStore } from './sessions';

const ALGORITHM = 'HS256';

/** Claim names the service sets itself; a caller may not supply them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);

export type CustomClaims = Record<string, unknown>;

export interface IssueRequest {
  sub: string;
  claims: CustomClaims;
  ttlSeconds: number;
}

export interface IssuedToken {
  token: string;
  jti: string;
  sub: string;
  kid: string;
  expiresIn: number;
  /** Seconds since the epoch, the token's `exp`. */
  expiresAt: number;
}

export interface VerifiedToken {
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  claims: CustomClaims;
}

interface SigningKey {
  kid: string;
  /** A KeyObject, not a string: jsonwebtoken re-imports a string secret on every call, ~50× slower. */
  key: KeyObject;
  /** The token header for this key, `{"alg":"HS256","typ":"JWT","kid":…}`, base64url: the same on every token. */
  encodedHeader: string;
}

interface Keyring {
  signing: SigningKey;
  /** Picks the key by kid from the in-memory ring only: a token never makes us look up anything it names. */
  keyFor: GetPublicKeyOrSecret;
}

/** Loads the signing keys when they are not in the environment (SSM Parameter Store). */
export type KeyLoader = () => Promise<SigningKeyConfig[]>;

/** What jwt-redis reads the label through: its `redis` member, a wrapper with `get` (jwt-redis 7). */
interface LabelReader {
  get(key: string): Promise<string | null>;
}

export class TokenService {
  readonly #jwtr: JWTR;
  readonly #redis: RedisConnection;
  #keyring: Keyring | undefined;
  #loading: Promise<Keyring> | undefined;

  /** @param loadKeys fetches the keys at first use when `config.keys` is empty; a failure is not cached. */
  constructor(
    redis: RedisConnection,
    private readonly sessions: SessionStore,
    private readonly config: TokenConfig,
    private readonly loadKeys?: KeyLoader,
  ) {
    if (config.keys.length > 0) this.#keyring = toKeyring(config.keys);
    else if (loadKeys === undefined) throw new Error('TokenService needs signing keys or a way to load them');
    this.#redis = redis;
    // jwt-redis reads the label (GET) after checking the signature. It is typed against the full client
    // but calls nothing else here, so it gets a bounded, retried GET and nothing more.
    this.#jwtr = new JWTR(this.labelReader() as unknown as RedisClientType, { prefix: LABEL_PREFIX });
  }

  /** Starts loading the keys during init, when they come from outside. */
  warmUp(): void {
    // A failure is retried by the first call that needs the keys, which reports it.
    if (this.#keyring === undefined) this.keyring().catch(() => undefined);
  }

  /**
   * Signs the token, then stores its label and indexes it under the subject in one atomic script: no token
   * leaves here whose label was not written. jwt-redis's own sign writes the label with a bare SET, which
   * could not update the index in the same step, so we sign ourselves.
   */
  async issue(request: IssueRequest, scope?: RequestScope): Promise<IssuedToken> {
    const signing = (this.#keyring ?? (await this.keyring())).signing;
    const nowMs = Date.now();
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + request.ttlSeconds;
    const jti = newJti(request.sub);
    // Claims in jsonwebtoken.sign's order, so that a token is byte for byte the one it would make.
    const payload = { ...request.claims, jti, iat, exp, aud: this.config.audience, iss: this.config.issuer, sub: request.sub };
    const token = signHs256(signing, payload);
    await this.sessions.register(request.sub, jti, exp, nowMs, scope);
    return { token, jti, sub: request.sub, kid: signing.kid, expiresIn: request.ttlSeconds, expiresAt: exp };
  }

  /**
   * Checks kid, signature (HS256 only), exp, nbf, iss and aud, then the label. Throws an AuthError
   * subclass for every reason to refuse, or StoreUnavailableError / KeyringUnavailableError when a
   * dependency cannot answer.
   */
  async verify(token: string, scope?: RequestScope): Promise<VerifiedToken> {
    const { keyFor } = this.#keyring ?? (await this.keyring());
    let payload: JwtPayload;
    try {
      payload = await this.jwtrFor(scope).verify<JwtPayload>(token, keyFor, {
        algorithms: [ALGORITHM],
        issuer: this.config.issuer,
        audience: this.config.audience,
      });
    } catch (error) {
      throw toAuthError(error, token);
    }
    return toVerifiedToken(payload);
  }

  private labelReader(scope?: RequestScope): LabelReader {
    return { get: (key) => this.#redis.run('GET', { key }, (client) => client.get(key), scope) };
  }

  /**
   * The one jwt-redis instance, seen through a view whose label read counts toward `scope`'s Redis time:
   * jwt-redis takes no per-call client, and it looks its `redis` member up on `this`.
   */
  private jwtrFor(scope: RequestScope | undefined): JWTR {
    if (scope === undefined) return this.#jwtr;
    const view = Object.create(this.#jwtr) as JWTR;
    // Private in jwt-redis's typings; an own property of the view shadows the instance's.
    (view as unknown as { redis: LabelReader }).redis = this.labelReader(scope);
    return view;
  }

  private keyring(): Promise<Keyring> {
    if (this.#keyring !== undefined) return Promise.resolve(this.#keyring);
    if (this.#loading === undefined) {
      const loading = (this.loadKeys as KeyLoader)().then(
        (keys) => (this.#keyring = toKeyring(keys)),
        (error: unknown) => {
          this.#loading = undefined;
          throw error;
        },
      );
      this.#loading = loading;
    }
    return this.#loading;
  }
}

/**
 * The compact JWS of an HS256 token (RFC 7515 §3.1). jsonwebtoken.sign makes the same bytes, but re-checks
 * its options and payload on every call, which made it the largest part of sign's own cost; here every
 * input is ours and already validated. Verifying stays with jwt-redis and jsonwebtoken.
 */
function signHs256(signing: SigningKey, payload: Record<string, unknown>): string {
  const signingInput = `${signing.encodedHeader}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', signing.key).update(signingInput).digest('base64url')}`;
}

function toKeyring(keys: SigningKeyConfig[]): Keyring {
  const ring = keys.map(({ kid, secret }) => ({
    kid,
    key: createSecretKey(Buffer.from(secret, 'utf8')),
    encodedHeader: Buffer.from(JSON.stringify({ alg: ALGORITHM, typ: 'JWT', kid }), 'utf8').toString('base64url'),
  }));
  const signing = ring[0];
  if (signing === undefined) throw new Error('the keyring is empty');
  const verificationKeys = new Map(ring.map(({ kid, key }) => [kid, key]));
  return {
    signing,
    keyFor: (header, callback) => {
      const { kid } = header;
      if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) {
        callback(new Error('token has no valid kid'));
        return;
      }
      const key = verificationKeys.get(kid);
      if (key === undefined) callback(new Error('token was signed with a key that is not in the ring'));
      else callback(null, key);
    },
  };
}

function toVerifiedToken(payload: JwtPayload): VerifiedToken {
  const { sub, jti, iat, exp } = payload;
  // The signature is ours, so these hold for every token we issued; check anyway rather than trust.
  if (typeof exp !== 'number') throw new TokenInvalidError('token has no exp claim');
  if (typeof iat !== 'number') throw new TokenInvalidError('token has no iat claim');
  if (typeof sub !== 'string' || sub === '') throw new TokenInvalidError('token has no sub claim');
  if (!isJti(jti) || tagOfJti(jti) !== subjectTag(sub)) throw new TokenInvalidError('token has no valid jti claim');
  const claims: CustomClaims = {};
  for (const [name, value] of Object.entries(payload)) {
    if (!RESERVED_CLAIMS.has(name)) claims[name] = value;
  }
  return { sub, jti, iat, exp, claims };
}

function toAuthError(error: unknown, token: string): Error {
  // StoreUnavailableError passes through: Redis trouble is not an authentication failure.
  if (error instanceof AppError) return error;
  if (error instanceof jsonwebtoken.TokenExpiredError) {
    return new TokenExpiredError(`token expired at ${error.expiredAt.toISOString()}`, { cause: error });
  }
  if (error instanceof jsonwebtoken.NotBeforeError) {
    return new TokenNotYetValidError(`token not valid before ${error.date.toISOString()}`, { cause: error });
  }
  // jsonwebtoken lets JSON.parse's error out when a header that says typ JWT comes with a payload that is not JSON.
  if (error instanceof SyntaxError) return new TokenMalformedError('token payload is not JSON', { cause: error });
  if (error instanceof jsonwebtoken.JsonWebTokenError) {
    return error.message === 'jwt malformed' || error.message.startsWith('invalid token')
      ? new TokenMalformedError(error.message, { cause: error })
      : new TokenInvalidError(error.message, { cause: error });
  }
  if (error instanceof TokenDestroyedError) {
    // jwt-redis looks the label up only after the signature and claims held: these values are ours.
    const { jti, sub } = jsonwebtoken.decode(token) as JwtPayload;
    return new TokenRevokedError('token has been revoked', { jti: String(jti), sub: String(sub) }, { cause: error });
  }
  if (error instanceof JwtRedisInvalidError) return new TokenInvalidError('token has no jti claim', { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
