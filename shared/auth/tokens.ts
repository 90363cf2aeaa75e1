// Issues and verifies tokens. A token is valid only while its label `jwt_label:<jti>` exists in Redis (the
// allowlist jwt-redis defines, kept in its format) and its subject's revocations have not overtaken it, so
// deleting the label, or revoking the subject, kills the token at once.
import { createSecretKey } from 'node:crypto';
import { depthExceeds, isNumericDate, MAX_CLAIMS_DEPTH, subjectProblem, unsafeClaimNames } from './claims';
import type { SigningKeyConfig, TokenConfig } from '../config';
import { TokenExpiredError, TokenInvalidError, TokenMalformedError, TokenNotYetValidError, TokenRevokedError } from '../errors';
import { hmacKey, HmacKeyring, signHs256, verifyHs256, type HmacKey } from './jws';
import type { RequestScope } from '../telemetry/log';
import type { RedisConnection } from '../redis/connection';
import { newJti, readLiveLabel, subjectTag, tagOfJti, type SessionStore } from '../sessions/store';

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

interface Keyring {
  signing: HmacKey;
  verifying: HmacKeyring;
}

/** Loads the signing keys when they are not in the environment (SSM Parameter Store). */
export type KeyLoader = () => Promise<SigningKeyConfig[]>;

export class TokenService {
  readonly #redis: RedisConnection;
  #keyring: Keyring | undefined;
  #loading: Promise<Keyring> | undefined;

  /** @param loadKeys fetches the keys at first use when `config.keys` is empty; a failure is not cached. */
  constructor(
    redis: RedisConnection,
    private readonly sessions: SessionStore,
    private readonly config: TokenConfig,
    private readonly loadKeys?: KeyLoader,
    /** Milliseconds since the epoch. */
    private readonly now: () => number = () => Date.now(),
  ) {
    if (config.keys.length > 0) this.#keyring = toKeyring(config.keys);
    else if (loadKeys === undefined) throw new Error('TokenService needs signing keys or a way to load them');
    this.#redis = redis;
  }

  /** Starts loading the keys during init, when they come from outside. */
  warmUp(): void {
    // A failure is retried by the first call that needs the keys, which reports it.
    if (this.#keyring === undefined) this.keyring().catch(() => undefined);
  }

  /**
   * Signs the token, then stores its label and indexes it under the subject in one atomic script: no token
   * leaves here whose label was not written. jwt-redis's own sign writes the label with a bare SET, which
   * could not update the index in the same step.
   */
  async issue(request: IssueRequest, scope?: RequestScope): Promise<IssuedToken> {
    const signing = (this.#keyring ?? (await this.keyring())).signing;
    const nowMs = this.now();
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
   * Checks the signature (HS256, under the key the kid names), the claims (shape, exp, nbf, iss, aud), then
   * the label and its subject's counter in one MGET: the only Redis call. Throws an AuthError subclass for
   * every reason to refuse, or StoreUnavailableError / KeyringUnavailableError when a dependency cannot answer.
   */
  async verify(token: string, scope?: RequestScope): Promise<VerifiedToken> {
    const { verifying } = this.#keyring ?? (await this.keyring());
    const verified = readClaims(verifyHs256(token, verifying), this.config, Math.floor(this.now() / 1000));
    if ((await readLiveLabel(this.#redis, verified.jti, scope)) === null) {
      throw new TokenRevokedError('token has been revoked', { jti: verified.jti, sub: verified.sub });
    }
    return verified;
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

function toKeyring(keys: SigningKeyConfig[]): Keyring {
  const ring = keys.map(({ kid, secret }) => hmacKey(kid, createSecretKey(Buffer.from(secret, 'utf8'))));
  const signing = ring[0];
  if (signing === undefined) throw new Error('the keyring is empty');
  return { signing, verifying: new HmacKeyring(ring) };
}

/**
 * The claims of a payload whose signature held, refused unless shaped as we sign them and valid now: any
 * JSON could be signed with a leaked key, and no value a token of ours cannot hold is read as a date, a
 * subject or a jti.
 */
function readClaims(payload: unknown, config: TokenConfig, now: number): VerifiedToken {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new TokenMalformedError('token payload is not a JSON object');
  }
  const { sub, jti, iat, exp, nbf, iss, aud } = payload as Record<string, unknown>;
  if (!isNumericDate(exp)) throw new TokenInvalidError('token has no valid exp claim (whole seconds, 1970 to 9999)');
  if (!isNumericDate(iat)) throw new TokenInvalidError('token has no valid iat claim (whole seconds, 1970 to 9999)');
  if (nbf !== undefined && !isNumericDate(nbf)) throw new TokenInvalidError('token has an invalid nbf claim (whole seconds, 1970 to 9999)');
  if (subjectProblem(sub) !== undefined) throw new TokenInvalidError('token has no valid sub claim');
  // The jti's tag names the counter that revokes the token: it must be its subject's, or revoking that
  // subject would leave a token minted with a leaked key for one subject's live label, naming another, alive.
  // tagOfJti is undefined for anything not shaped as a jti: one match checks the shape and reads the tag.
  if (typeof jti !== 'string' || tagOfJti(jti) !== subjectTag(sub as string)) throw new TokenInvalidError('token has no valid jti claim');
  if (iss !== config.issuer) throw new TokenInvalidError(`token iss is not ${config.issuer}`);
  // RFC 7519 §4.1.3: one audience, or a list that holds ours.
  if (aud !== config.audience && !(Array.isArray(aud) && aud.includes(config.audience))) throw new TokenInvalidError(`token aud is not ${config.audience}`);
  if (now >= exp) throw new TokenExpiredError(`token expired at ${new Date(exp * 1000).toISOString()}`);
  if (nbf !== undefined && nbf > now) throw new TokenNotYetValidError(`token not valid before ${new Date(nbf * 1000).toISOString()}`);
  if (iat > exp) throw new TokenInvalidError('token was issued after it expires (iat > exp)');
  const custom = Object.keys(payload).filter((name) => !RESERVED_CLAIMS.has(name));
  if (custom.length === 0) return { sub: sub as string, jti, iat, exp, claims: {} };
  if (unsafeClaimNames(custom).length > 0) throw new TokenInvalidError('token has a claim named like an Object.prototype member');
  // fromEntries defines own properties: a "__proto__" claim stays a claim, not the object's prototype.
  const claims: CustomClaims = Object.fromEntries(custom.map((name) => [name, (payload as Record<string, unknown>)[name]]));
  // The authorizer serializes them into its context, recursively.
  if (depthExceeds(claims, MAX_CLAIMS_DEPTH)) throw new TokenInvalidError(`token claims nest deeper than ${MAX_CLAIMS_DEPTH} levels`);
  return { sub: sub as string, jti, iat, exp, claims };
}
