// Issues and verifies tokens. A token is valid only while its label `jwt_label:<jti>` exists in Redis (the
// allowlist jwt-redis defines, kept in its format) and its subject's revocations have not overtaken it, so
// deleting the label, or revoking the subject, kills the token at once.
import { createSecretKey, type JsonWebKey } from 'node:crypto';
import { depthExceeds, isNumericDate, MAX_CLAIMS_DEPTH, subjectProblem, unsafeClaimNames } from './claims';
import type { AsymmetricKeyring, SigningKeyConfig, TokenConfig } from '../config';
import {
  ConfigError,
  KeyringUnavailableError,
  RefreshTokenInvalidError,
  TokenExpiredError,
  TokenInvalidError,
  TokenMalformedError,
  TokenNotYetValidError,
  TokenRevokedError,
  UnknownKeyError,
} from '../errors';
import { asymmetric, hs256, publicJwk } from './algorithms';
import { jwsKey, Keyring as JwsKeyring, SESSION_GRANT_TYP, signJws, verifyJws, type JwsKey } from './jws';
import type { RequestScope } from '../telemetry/log';
import type { RedisConnection } from '../redis/connection';
import { newId, subjectTag, tagOf } from '../sessions/keys';
import { readLiveLabel, type SessionStore } from '../sessions/store';
import { MAX_CLOCK_SKEW_SECONDS, type RotationReply } from '../sessions/lua';
import {
  formatRefreshToken,
  hashSecret,
  newRefreshToken,
  newSecret,
  openNextSecret,
  parseRefreshToken,
  rotationOf,
  type RefreshToken,
} from '../sessions/refresh-token';

const VERIFIED_GRANTS_LIMIT = 4096;

/** Claim names the service sets itself; a caller may not supply them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sid']);

export type CustomClaims = Record<string, unknown>;

/** What the trusted backend may say about a login: shown in session listings, never used to decide. */
export interface SessionMetadata {
  device?: string;
  ip?: string;
}

export interface IssueRequest {
  sub: string;
  claims: CustomClaims;
  ttlSeconds: number;
  /** Also issue a refresh token for the new session. */
  refresh?: boolean;
  session?: SessionMetadata;
}

export interface IssuedToken {
  token: string;
  jti: string;
  sid: string;
  sub: string;
  kid: string;
  expiresIn: number;
  /** Seconds since the epoch, the token's `exp`. */
  expiresAt: number;
  /** With a refresh token: it, and the seconds until it expires unused. */
  refresh?: { token: string; expiresIn: number };
}

/** A refresh's answer: a new pair, or the same pair again (a retry within the grace window). */
export interface RefreshedTokens extends IssuedToken {
  refresh: { token: string; expiresIn: number };
  replayed: boolean;
}

export interface VerifiedToken {
  sub: string;
  jti: string;
  /** The session it was issued for. Tokens signed before sessions existed have none. */
  sid?: string;
  iat: number;
  exp: number;
  claims: CustomClaims;
}

interface Keyring {
  /** Absent where only public keys were given: this function verifies and never signs. */
  signing?: JwsKey;
  /** Absent where no key was given (TokenConfig.noKeys): this function neither verifies nor signs. */
  verifying?: JwsKeyring;
  /** The public keys of an ES256 or EdDSA ring, as a JWK Set lists them; none for HS256. */
  publicJwks: JsonWebKey[];
}

/** Loads the signing keys when they are not in the environment (SSM Parameter Store). */
export type KeyLoader = () => Promise<SigningKeyConfig[] | AsymmetricKeyring>;

export class TokenService {
  readonly #redis: RedisConnection;
  #keyring: Keyring | undefined;
  #loading: Promise<Keyring> | undefined;
  /** Grants whose signature held under this container's ring, which never changes once loaded. */
  readonly #verifiedGrants = new Map<string, unknown>();

  /** @param loadKeys fetches the keys at first use when `config.keys` is empty; a failure is not cached. */
  constructor(
    redis: RedisConnection,
    private readonly sessions: SessionStore,
    private readonly config: TokenConfig,
    private readonly loadKeys?: KeyLoader,
    /** Milliseconds since the epoch. */
    private readonly now: () => number = () => Date.now(),
  ) {
    if (config.asymmetric !== undefined) this.#keyring = toKeyring(config.asymmetric);
    else if (config.keys.length > 0) this.#keyring = toKeyring(config.keys);
    // Only where asked for: an empty ring by mistake must fail here, not publish or refuse quietly.
    else if (config.noKeys === true) this.#keyring = { publicJwks: [] };
    else if (loadKeys === undefined) throw new Error('TokenService needs signing keys or a way to load them');
    this.#redis = redis;
  }

  /** Starts loading the keys during init, when they come from outside. */
  warmUp(): void {
    // A failure is retried by the first call that needs the keys, which reports it.
    if (this.#keyring === undefined) this.keyring().catch(() => undefined);
  }

  /**
   * Signs the token, then creates its session with the token's label in one atomic script: no token leaves
   * here whose label was not written. jwt-redis's own sign writes the label with a bare SET, which could not
   * create the session in the same step.
   */
  async issue(request: IssueRequest, scope?: RequestScope): Promise<IssuedToken> {
    const signing = signingKey(this.#keyring ?? (await this.keyring()));
    const { maxAgeSeconds, refreshIdleTtlSeconds } = this.sessions.limits;
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const sessionEnd = iat + maxAgeSeconds;
    const exp = Math.min(iat + request.ttlSeconds, sessionEnd);
    const sid = newId(request.sub);
    const jti = newId(request.sub);
    const refreshToken = request.refresh === true ? newRefreshToken(sid) : undefined;
    const refreshExpiresAt = Math.min(iat + refreshIdleTtlSeconds, sessionEnd);
    const token = signJws(signing, this.payload(request.sub, sid, jti, iat, exp, request.claims));
    const familyHash = refreshToken === undefined ? '' : hashSecret(refreshToken.family);
    await this.sessions.register(
      {
        sid,
        jti,
        sub: request.sub,
        issuedAtMs: nowMs,
        exp,
        expiresAt: sessionEnd,
        ...request.session,
        ...(refreshToken === undefined
          ? {}
          : {
              refresh: {
                grant: signJws(
                  signing,
                  grantPayload(sid, { sub: request.sub, claims: request.claims, ttl: request.ttlSeconds, exp: sessionEnd }, familyHash),
                  SESSION_GRANT_TYP,
                ),
                ttlSeconds: request.ttlSeconds,
                familyHash,
                secretHash: hashSecret(refreshToken.secret),
                expiresAt: refreshExpiresAt,
              },
            }),
      },
      scope,
    );
    return {
      token,
      jti,
      sid,
      sub: request.sub,
      kid: signing.kid,
      expiresIn: exp - iat,
      expiresAt: exp,
      ...(refreshToken === undefined ? {} : { refresh: { token: formatRefreshToken(refreshToken), expiresIn: refreshExpiresAt - iat } }),
    };
  }

  /**
   * Rotates a refresh token: a new access token and a new refresh token for its session, the presented one used
   * up; within REFRESH_REUSE_GRACE of a rotation, the token it rotated gets the same pair again. A used token
   * presented later ends the session, every access token it issued included. One script decides and writes
   * (shared/sessions/lua.ts, rotateRefresh); the access token is signed after, from what it returned.
   * Throws RefreshTokenInvalidError for every refusal, whatever its reason.
   */
  async refresh(presentedToken: string, scope?: RequestScope): Promise<RefreshedTokens> {
    const presented = parseRefreshToken(presentedToken);
    if (presented === undefined) throw new RefreshTokenInvalidError('malformed');
    // Before the rotation: keys that cannot load, or a function that cannot sign, must not leave a rotated
    // session without its new token.
    const keyring = this.#keyring ?? (await this.keyring());
    signingKey(keyring);
    const next = newSecret();
    const rotation = rotationOf(presented, next, this.now(), this.sessions.limits);
    const reply = await this.sessions.rotate(presented.tag, rotation, scope);
    return this.signRotation(keyring, presented, rotation.familyHash, next, reply, scope);
  }

  /** readGrant, remembering the grants whose signature held: a session's grant is the same text at each refresh. */
  private readGrant(token: string, ring: JwsKeyring, presented: RefreshToken, familyHash: string): SessionGrant {
    let payload = this.#verifiedGrants.get(token);
    if (payload === undefined) {
      payload = verifyGrant(token, ring, presented);
      if (this.#verifiedGrants.size >= VERIFIED_GRANTS_LIMIT) this.#verifiedGrants.clear();
      this.#verifiedGrants.set(token, payload);
    }
    return grantTerms(payload, presented, familyHash);
  }

  private async signRotation(
    keyring: Keyring,
    presented: RefreshToken,
    familyHash: string,
    next: string,
    reply: RotationReply,
    scope?: RequestScope,
  ): Promise<RefreshedTokens> {
    if (reply[0] === 'refused') throw new RefreshTokenInvalidError(reply[1] as 'unknown' | 'expired' | 'revoked', { sid: presented.sid });
    if (reply[0] === 'reused') throw new RefreshTokenInvalidError('reused', { sid: presented.sid, sub: reply[1] });
    const [outcome, sealedNext, jti, iatText, expText, refreshExpiresText, grantToken] = reply;
    const signing = signingKey(keyring);
    const verifying = verifyingKeys(keyring);
    const grant = this.readGrant(grantToken, verifying, presented, familyHash);
    // Signed with an older key of the ring: signed again with the current one, so that the session outlives
    // that key's removal as long as it keeps refreshing meanwhile.
    if (!grantToken.startsWith(`${signing.encodedGrantHeader}.`)) {
      const renewed = signJws(signing, grantPayload(presented.sid, grant, familyHash), SESSION_GRANT_TYP);
      await this.sessions.replaceGrant(presented.tag, presented.sid, grantToken, renewed, scope);
    }
    const iat = Number(iatText);
    // Within the grant's terms and this configuration's MAX_TTL, whatever Redis says: only the grant is signed,
    // and the iat is this rotation's, or the one a retry within the grace window replays.
    const exp = Math.min(Number(expText), iat + grant.ttl, grant.exp, iat + this.config.maxTtlSeconds);
    const nowSeconds = Math.floor(this.now() / 1000);
    const earliest = nowSeconds - this.sessions.limits.refreshReuseGraceSeconds - MAX_CLOCK_SKEW_SECONDS;
    if (tagOf(jti) !== presented.tag || !(iat >= earliest && iat <= nowSeconds + MAX_CLOCK_SKEW_SECONDS && exp > iat)) {
      throw new RefreshTokenInvalidError('grant', { sid: presented.sid });
    }
    // Rotated here, the next secret is the one this call sealed; replayed, another call's.
    const secret = outcome === 'rotated' ? next : openNextSecret(presented, sealedNext);
    return {
      token: signJws(signing, this.payload(grant.sub, presented.sid, jti, iat, exp, grant.claims)),
      jti,
      sid: presented.sid,
      sub: grant.sub,
      kid: signing.kid,
      expiresIn: exp - iat,
      expiresAt: exp,
      refresh: { token: formatRefreshToken({ ...presented, secret }), expiresIn: Number(refreshExpiresText) - iat },
      replayed: outcome === 'replayed',
    };
  }

  /** Claims in jsonwebtoken.sign's order, so that a token is byte for byte the one it would make. */
  private payload(sub: string, sid: string, jti: string, iat: number, exp: number, claims: CustomClaims): Record<string, unknown> {
    return { ...claims, sid, jti, iat, exp, aud: this.config.audience, iss: this.config.issuer, sub };
  }

  /**
   * Checks the signature (under the key the kid names, with that key's algorithm), the claims (shape, exp, nbf, iss, aud), then
   * the label and its subject's counter in one MGET: the only Redis call. Throws an AuthError subclass for
   * every reason to refuse, or StoreUnavailableError / KeyringUnavailableError when a dependency cannot answer.
   */
  async verify(token: string, scope?: RequestScope): Promise<VerifiedToken> {
    const verifying = verifyingKeys(this.#keyring ?? (await this.keyring()));
    const verified = readClaims(verifyJws(token, verifying), this.config, Math.floor(this.now() / 1000));
    if ((await readLiveLabel(this.#redis, verified.jti, scope)) === null) {
      throw new TokenRevokedError('token has been revoked', { jti: verified.jti, sid: verified.sid, sub: verified.sub });
    }
    return verified;
  }

  /** The public keys of the ring, as a JWK Set (RFC 7517) lists them: none with HS256, whose key is secret. */
  async jwks(): Promise<JsonWebKey[]> {
    return (this.#keyring ?? (await this.keyring())).publicJwks;
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

/** A session's terms as sign set them: what every access token refreshed from it carries, and until when. */
interface SessionGrant {
  sub: string;
  claims: CustomClaims;
  ttl: number;
  /** The session's absolute end, seconds since the epoch. */
  exp: number;
}

function grantPayload(sid: string, grant: SessionGrant, familyHash: string): Record<string, unknown> {
  return { sid, family: familyHash, ...grant };
}

/**
 * The grant a session record holds (grantTerms), once its signature holds under our keys (verifyGrant) and it
 * names this session and the presented token's family. Redis holds the record, so anyone who can write to Redis
 * could write one: without the signing key they cannot make a grant, and a grant of another session names another
 * sid and family. Refused as the refresh token itself would be: signed with a key since dropped from the ring, or
 * tampered with.
 */
function verifyGrant(token: string, ring: JwsKeyring, presented: RefreshToken): unknown {
  try {
    return verifyJws(token, ring, SESSION_GRANT_TYP);
  } catch (error) {
    // A key this container lacks may be newer than its configuration (a rollout in progress): the client retries
    // within the grace window, and a container that holds it answers with the same pair.
    if (error instanceof UnknownKeyError)
      throw new KeyringUnavailableError('the session grant was signed with a key this container does not hold', { cause: error });
    throw new RefreshTokenInvalidError('grant', { sid: presented.sid });
  }
}

function grantTerms(grant: unknown, presented: RefreshToken, familyHash: string): SessionGrant {
  const { sid, family, sub, claims, ttl, exp } = (grant ?? {}) as Record<string, unknown>;
  if (
    sid !== presented.sid ||
    family !== familyHash ||
    typeof sub !== 'string' ||
    typeof claims !== 'object' ||
    claims === null ||
    Array.isArray(claims) ||
    !isNumericDate(ttl) ||
    !isNumericDate(exp)
  ) {
    throw new RefreshTokenInvalidError('grant', { sid: presented.sid });
  }
  return { sub, claims: claims as CustomClaims, ttl, exp };
}

function toKeyring(keys: SigningKeyConfig[] | AsymmetricKeyring): Keyring {
  if (Array.isArray(keys)) {
    const ring = keys.map(({ kid, secret }) => jwsKey(kid, hs256(createSecretKey(Buffer.from(secret, 'utf8')))));
    if (ring.length === 0) throw new Error('the keyring is empty');
    return { signing: ring[0], verifying: new JwsKeyring(ring), publicJwks: [] };
  }
  const { alg, privateKeys, publicKeys } = keys;
  if (publicKeys.length === 0) throw new Error('the keyring is empty');
  const newest = privateKeys[0];
  return {
    ...(newest === undefined ? {} : { signing: jwsKey(newest.kid, asymmetric(newest.key, alg)) }),
    verifying: new JwsKeyring(publicKeys.map(({ kid, key }) => jwsKey(kid, asymmetric(key, alg)))),
    publicJwks: publicKeys.map(({ kid, key }) => publicJwk(key, kid)),
  };
}

function signingKey({ signing, verifying }: Keyring): JwsKey {
  if (verifying === undefined) throw new ConfigError('this function holds no key: it can neither sign nor verify');
  if (signing === undefined) throw new ConfigError('this function holds public keys only (JWT_PUBLIC_KEYS): signing needs the private keys (JWT_KEYS)');
  return signing;
}

function verifyingKeys({ verifying }: Keyring): JwsKeyring {
  if (verifying === undefined) throw new ConfigError('this function holds no key: it can neither sign nor verify');
  return verifying;
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
  const { sub, jti, sid, iat, exp, nbf, iss, aud } = payload as Record<string, unknown>;
  if (!isNumericDate(exp)) throw new TokenInvalidError('token has no valid exp claim (whole seconds, 1970 to 9999)');
  if (!isNumericDate(iat)) throw new TokenInvalidError('token has no valid iat claim (whole seconds, 1970 to 9999)');
  if (nbf !== undefined && !isNumericDate(nbf)) throw new TokenInvalidError('token has an invalid nbf claim (whole seconds, 1970 to 9999)');
  if (subjectProblem(sub) !== undefined) throw new TokenInvalidError('token has no valid sub claim');
  // The jti's tag names the counter that revokes the token: it must be its subject's, or revoking that
  // subject would leave a token minted with a leaked key for one subject's live label, naming another, alive.
  // tagOf is undefined for anything not shaped as a jti: one match checks the shape and reads the tag.
  const tag = subjectTag(sub as string);
  if (typeof jti !== 'string' || tagOf(jti) !== tag) throw new TokenInvalidError('token has no valid jti claim');
  // Its session is ended by the caller's logout: it must be one of the same subject's.
  if (sid !== undefined && (typeof sid !== 'string' || tagOf(sid) !== tag)) throw new TokenInvalidError('token has an invalid sid claim');
  if (iss !== config.issuer) throw new TokenInvalidError(`token iss is not ${config.issuer}`);
  // RFC 7519 §4.1.3: one audience, or a list that holds ours.
  if (aud !== config.audience && !(Array.isArray(aud) && aud.includes(config.audience))) throw new TokenInvalidError(`token aud is not ${config.audience}`);
  if (now >= exp) throw new TokenExpiredError(`token expired at ${new Date(exp * 1000).toISOString()}`);
  if (nbf !== undefined && nbf > now) throw new TokenNotYetValidError(`token not valid before ${new Date(nbf * 1000).toISOString()}`);
  if (iat > exp) throw new TokenInvalidError('token was issued after it expires (iat > exp)');
  const custom = Object.keys(payload).filter((name) => !RESERVED_CLAIMS.has(name));
  const identity = { sub: sub as string, jti, ...(sid === undefined ? {} : { sid }), iat, exp };
  if (custom.length === 0) return { ...identity, claims: {} };
  if (unsafeClaimNames(custom).length > 0) throw new TokenInvalidError('token has a claim named like an Object.prototype member');
  // fromEntries defines own properties: a "__proto__" claim stays a claim, not the object's prototype.
  const claims: CustomClaims = Object.fromEntries(custom.map((name) => [name, (payload as Record<string, unknown>)[name]]));
  // The authorizer serializes them into its context, recursively.
  if (depthExceeds(claims, MAX_CLAIMS_DEPTH)) throw new TokenInvalidError(`token claims nest deeper than ${MAX_CLAIMS_DEPTH} levels`);
  return { ...identity, claims };
}
