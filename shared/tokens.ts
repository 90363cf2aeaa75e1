// Issues, verifies and revokes tokens through jwt-redis: a token is valid only while its label
// `jwt_label:<jti>` exists in Redis, so deleting the label kills the token at once.
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import jsonwebtoken, { type JwtPayload } from 'jsonwebtoken';
import JWTR, { TokenDestroyedError, TokenInvalidError as JwtRedisInvalidError } from 'jwt-redis';
import type { RedisClientType } from 'redis';
import type { TokenConfig } from './config';
import {
  AppError,
  TokenExpiredError,
  TokenInvalidError,
  TokenMalformedError,
  TokenNotYetValidError,
  TokenRevokedError,
} from './errors';
import type { RedisConnection } from './redis';

export const LABEL_PREFIX = 'jwt_label:';
const ALGORITHM = 'HS256';
/** 16 random bytes: 128 bits, as base64url (22 characters). */
const JTI_BYTES = 16;
const JTI_PATTERN = /^[A-Za-z0-9_-]{22}$/;

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

/** The three commands jwt-redis issues, each bounded and retried by the shared connection. */
interface LabelStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { EX?: number }): Promise<unknown>;
  del(key: string): Promise<number>;
}

function labelStore(redis: RedisConnection): LabelStore {
  return {
    get: (key) => redis.run('GET', (client) => client.get(key)),
    set: (key, value, options) => {
      // ! Every label must expire: jwt-redis writes one without TTL for a token without `exp`.
      if (options?.EX === undefined) {
        return Promise.reject(new Error('refusing to store a label without a TTL'));
      }
      return redis.run('SET', (client) => client.set(key, value, { EX: options.EX }));
    },
    del: (key) => redis.run('DEL', (client) => client.del(key)),
  };
}

export function newJti(): string {
  return randomBytes(JTI_BYTES).toString('base64url');
}

export class TokenService {
  readonly #jwtr: JWTR;
  /** A KeyObject, not a string: jsonwebtoken re-imports a string secret on every call, ~50× slower. */
  readonly #key: KeyObject;

  constructor(
    redis: RedisConnection,
    private readonly config: TokenConfig,
  ) {
    this.#key = createSecretKey(Buffer.from(config.secret, 'utf8'));
    // jwt-redis is typed against the full client but only calls get/set/del; our store bounds each one.
    this.#jwtr = new JWTR(labelStore(redis) as unknown as RedisClientType, { prefix: LABEL_PREFIX });
  }

  async issue(request: IssueRequest): Promise<IssuedToken> {
    const jti = newJti();
    // jwt-redis stores the label before it returns: no token leaves here whose label was not written.
    // Rounded up, not down: jwt-redis gives the label floor(exp - now) seconds and stores none at all
    // when that is 0, which a floored iat would cause for every 1-second token.
    const iat = Math.ceil(Date.now() / 1000);
    const exp = iat + request.ttlSeconds;
    // jwt-redis stores the label before it returns: no token leaves here whose label was not written.
    const token = await this.#jwtr.sign({ ...request.claims, jti, iat, exp }, this.#key, {
      algorithm: ALGORITHM,
      subject: request.sub,
      issuer: this.config.issuer,
      audience: this.config.audience,
    });
    return { token, jti, sub: request.sub, expiresIn: request.ttlSeconds, expiresAt: exp };
  }

  /** Checks signature (HS256 only), exp, nbf, iss, aud, then the label. Throws an AuthError subclass. */
  async verify(token: string): Promise<VerifiedToken> {
    let payload: JwtPayload;
    try {
      // jwt-redis's typing omits KeyObject, which jsonwebtoken 9 accepts for HMAC.
      payload = await this.#jwtr.verify<JwtPayload>(token, this.#key as unknown as Buffer, {
        algorithms: [ALGORITHM],
        issuer: this.config.issuer,
        audience: this.config.audience,
      });
    } catch (error) {
      throw toAuthError(error);
    }
    return toVerifiedToken(payload);
  }

  /** Deletes the label. Resolves false when it was already gone (expired, or revoked before). */
  revoke(jti: string): Promise<boolean> {
    return this.#jwtr.destroy(jti);
  }
}

function toVerifiedToken(payload: JwtPayload): VerifiedToken {
  const { sub, jti, iat, exp } = payload;
  // The signature is ours, so these hold for every token we issued; check anyway rather than trust.
  if (typeof exp !== 'number') throw new TokenInvalidError('token has no exp claim');
  if (typeof sub !== 'string' || sub === '') throw new TokenInvalidError('token has no sub claim');
  if (typeof jti !== 'string' || !JTI_PATTERN.test(jti)) throw new TokenInvalidError('token has no valid jti claim');
  if (typeof iat !== 'number') throw new TokenInvalidError('token has no iat claim');
  const claims: CustomClaims = {};
  for (const [name, value] of Object.entries(payload)) {
    if (!RESERVED_CLAIMS.has(name)) claims[name] = value;
  }
  return { sub, jti, iat, exp, claims };
}

function toAuthError(error: unknown): Error {
  // StoreUnavailableError passes through: Redis trouble is not an authentication failure.
  if (error instanceof AppError) return error;
  if (error instanceof jsonwebtoken.TokenExpiredError) {
    return new TokenExpiredError(`token expired at ${error.expiredAt.toISOString()}`, { cause: error });
  }
  if (error instanceof jsonwebtoken.NotBeforeError) {
    return new TokenNotYetValidError(`token not valid before ${error.date.toISOString()}`, { cause: error });
  }
  if (error instanceof jsonwebtoken.JsonWebTokenError) {
    return error.message === 'jwt malformed' || error.message.startsWith('invalid token')
      ? new TokenMalformedError(error.message, { cause: error })
      : new TokenInvalidError(error.message, { cause: error });
  }
  if (error instanceof TokenDestroyedError) return new TokenRevokedError('token has been revoked', { cause: error });
  if (error instanceof JwtRedisInvalidError) return new TokenInvalidError('token has no jti claim', { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
