// Issues and verifies tokens. A token is valid only while its label `jwt_label:<jti>` exists in Redis
// (jwt-redis's allowlist) and its subject's revocations have not overtaken it, so deleting the label, or
// revoking the subject, kills the token at once.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import jsonwebtoken, { type GetPublicKeyOrSecret, type JwtPayload } from 'jsonwebtoken';
import JWTR, { TokenDestroyedError } from 'jwt-redis';
import type { RedisClientType } from 'redis';
import { depthExceeds, isNumericDate, MAX_CLAIMS_DEPTH, subjectProblem } from './claims';
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
import { isJti, LABEL_PREFIX, newJti, readLiveLabel, subjectTag, tagOfJti, type SessionStore } from './sessions';

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
    // but calls nothing else here, so it gets a bounded, retried read, which also reads the subject's
    // revocation counter (one MGET) and answers null for a label stamped below it.
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
    const verified = readClaims(token);
    try {
      await this.jwtrFor(scope).verify<JwtPayload>(token, keyFor, {
        algorithms: [ALGORITHM],
        issuer: this.config.issuer,
        audience: this.config.audience,
      });
    } catch (error) {
      throw toAuthError(error, verified);
    }
    return verified;
  }

  private labelReader(scope?: RequestScope): LabelReader {
    return { get: (key) => readLiveLabel(this.#redis, key, scope) };
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

/**
 * The claims of a compact JWS, refused unless shaped as we sign them, before jsonwebtoken reads them: it
 * takes any payload for an object (JSON `null` makes it throw a TypeError) and any number for a date (±1e20
 * is an invalid Date, whose toISOString throws). This runs before the signature is checked, so it refuses
 * only what no token of ours holds; once jsonwebtoken has verified the token, these are its signed claims:
 * parsed from the same segment, as jws decodes it (base64 of the same characters, then JSON.parse).
 */
function readClaims(token: string): VerifiedToken {
  const segments = token.split('.');
  if (segments.length !== 3) throw new TokenMalformedError('token is not a compact JWS (three dot-separated segments)');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(segments[1] as string, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new TokenMalformedError('token payload is not JSON', { cause });
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new TokenMalformedError('token payload is not a JSON object');
  }
  const { sub, jti, iat, exp, nbf } = payload as Record<string, unknown>;
  if (!isNumericDate(exp)) throw new TokenInvalidError('token has no valid exp claim (whole seconds, 1970 to 9999)');
  if (!isNumericDate(iat)) throw new TokenInvalidError('token has no valid iat claim (whole seconds, 1970 to 9999)');
  if (nbf !== undefined && !isNumericDate(nbf)) throw new TokenInvalidError('token has an invalid nbf claim (whole seconds, 1970 to 9999)');
  if (subjectProblem(sub) !== undefined) throw new TokenInvalidError('token has no valid sub claim');
  if (!isJti(jti) || tagOfJti(jti) !== subjectTag(sub as string)) throw new TokenInvalidError('token has no valid jti claim');
  // fromEntries defines own properties: a "__proto__" claim stays a claim, not the object's prototype.
  const claims: CustomClaims = Object.fromEntries(Object.entries(payload).filter(([name]) => !RESERVED_CLAIMS.has(name)));
  // The authorizer serializes them into its context, recursively.
  if (depthExceeds(claims, MAX_CLAIMS_DEPTH)) throw new TokenInvalidError(`token claims nest deeper than ${MAX_CLAIMS_DEPTH} levels`);
  return { sub: sub as string, jti, iat, exp, claims };
}

function toAuthError(error: unknown, verified: VerifiedToken): Error {
  // StoreUnavailableError passes through: Redis trouble is not an authentication failure.
  if (error instanceof AppError) return error;
  if (error instanceof jsonwebtoken.TokenExpiredError) {
    return new TokenExpiredError(`token expired at ${error.expiredAt.toISOString()}`, { cause: error });
  }
  if (error instanceof jsonwebtoken.NotBeforeError) {
    return new TokenNotYetValidError(`token not valid before ${error.date.toISOString()}`, { cause: error });
  }
  if (error instanceof jsonwebtoken.JsonWebTokenError) {
    // Past readClaims, only jws's own decoding fails here: a header that is not JSON, or a non-base64url character.
    return error.message.startsWith('invalid token')
      ? new TokenMalformedError(error.message, { cause: error })
      : new TokenInvalidError(error.message, { cause: error });
  }
  if (error instanceof TokenDestroyedError) {
    // jwt-redis looks the label up only after the signature and claims held: these values are ours.
    return new TokenRevokedError('token has been revoked', { jti: verified.jti, sub: verified.sub }, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
