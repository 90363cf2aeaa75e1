// Every failure the service can report, each with a stable `code` for logs and responses.
// Handlers map these to HTTP; nothing below the handlers knows about status codes.

export abstract class AppError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Configuration is missing or malformed; raised once, at cold start. */
export class ConfigError extends AppError {
  readonly code = 'CONFIG_INVALID';
}

/** A request body or parameter is not acceptable; nothing was changed. */
export class ValidationError extends AppError {
  readonly code = 'BAD_REQUEST';
}

/** Base of every reason a presented token is refused. All of them mean 401. */
export abstract class AuthError extends AppError {
  // Named here, so that the answer a 401 may carry (shared/http/messages.ts, ERROR_CODES) cannot miss one.
  abstract override readonly code:
    'TOKEN_MISSING' | 'TOKEN_MALFORMED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_NOT_YET_VALID' | 'TOKEN_REVOKED' | 'REFRESH_TOKEN_INVALID';
}

export class TokenMissingError extends AuthError {
  readonly code = 'TOKEN_MISSING';
}

/** Not a Bearer header, or not a compact JWS. */
export class TokenMalformedError extends AuthError {
  readonly code = 'TOKEN_MALFORMED';
}

/** Signature, algorithm, issuer, audience or required claims do not hold. */
export class TokenInvalidError extends AuthError {
  readonly code = 'TOKEN_INVALID';
}

/** Signed under a kid this container's ring does not hold: dropped from the ring, or newer than this container. */
export class UnknownKeyError extends TokenInvalidError {}

export class TokenExpiredError extends AuthError {
  readonly code = 'TOKEN_EXPIRED';
}

export class TokenNotYetValidError extends AuthError {
  readonly code = 'TOKEN_NOT_YET_VALID';
}

/**
 * Signature and claims hold, but the label is gone or its subject was revoked since it was signed: logged out,
 * revoked, or lost with Redis data.
 */
export class TokenRevokedError extends AuthError {
  readonly code = 'TOKEN_REVOKED';

  /** The signature was good, so whose token it was is known, and worth logging. */
  constructor(
    message: string,
    readonly identity: { jti: string; sid?: string; sub: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A refresh token was refused: unknown, malformed, expired, of an ended session, or used already (and then its
 * session has just been ended). One code and one message for all of them, so an answer tells a caller nothing
 * about which; `reason` and the session's identity are for the log line only.
 */
export class RefreshTokenInvalidError extends AuthError {
  readonly code = 'REFRESH_TOKEN_INVALID';

  constructor(
    /** `grant`: the session's signed terms do not hold (signed with a key since dropped, or tampered with). */
    readonly reason: 'malformed' | 'unknown' | 'expired' | 'revoked' | 'reused' | 'grant',
    readonly identity: { sid?: string; sub?: string } = {},
  ) {
    super('refresh token is not valid: sign in again');
  }
}

/** Sign refused: the subject already holds MAX_SESSIONS live sessions, and SESSION_LIMIT is `refuse`. Nothing was stored. */
export class SessionLimitError extends AppError {
  readonly code = 'SESSION_LIMIT_REACHED';
}

/** Redis could not answer within the bound. Never treated as an allow: callers fail closed. */
export class StoreUnavailableError extends AppError {
  readonly code = 'STORE_UNAVAILABLE';
}

/**
 * The connection under a write that is not idempotent died after the write was handed to it: Redis may have
 * run it, only its reply lost. It was not retried (a second run could undo a revocation made meanwhile).
 */
export class StoreOutcomeUnknownError extends StoreUnavailableError {}

/**
 * A Redis node may evict keys when full (its `maxmemory-policy` is not `noeviction`): it could drop a
 * revocation counter and undo a revocation. Found when a connection to the node is made, before its first
 * command, and refused there: it fails closed as an unreachable Redis does (wrapped in a StoreUnavailableError).
 */
export class EvictionPolicyError extends AppError {
  readonly code = 'REDIS_EVICTION_POLICY';

  constructor(
    message: string,
    /** `unknown` when INFO does not say. */
    readonly policy: string,
    /** `host:port` of the node. */
    readonly node: string,
  ) {
    super(message);
  }
}

/** The signing keys could not be fetched (SSM Parameter Store). Nothing can be signed or verified: fail closed. */
export class KeyringUnavailableError extends AppError {
  readonly code = 'KEYRING_UNAVAILABLE';
}
