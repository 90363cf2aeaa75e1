// AuthSession: an app's side of one session. It holds the access and refresh tokens, refreshes shortly before
// the access token expires or once when a route refuses it, shares one refresh among concurrent callers, and
// says when the session has ended (README "Refreshing, for a client").
import { errorFromResponse, isRecord, RevocableJwtError } from './errors';
import { emptyOf, fetchOf, JSON_HEADERS, joinUrl, jsonOf, routeOf, send, type FetchLike } from './http';
import { memoryStorage, type StoredTokens, type TokenStorage } from './storage';
import type { LogoutRequest, LogoutScope, MeResponse, RefreshRequest, RefreshResponse, SessionInfo } from './wire';

export interface AuthSessionOptions {
  /** Either API: the REST API (with its stage, e.g. `https://…/prod`) or the HTTP API; both serve the Bearer routes and POST /auth/refresh. */
  baseUrl: string;
  /** Where the tokens live; memoryStorage() by default. What each choice means under XSS: client/README.md. */
  storage?: TokenStorage;
  /** Refresh when the access token expires within this many seconds (at most half its lifetime). Default 60. */
  refreshLeewaySeconds?: number;
  /** The platform's fetch by default. */
  fetch?: FetchLike;
  /** The clock, ms since the epoch; Date.now by default. */
  now?: () => number;
}

/** What start() takes: POST /auth/token's answer with `refresh: true`, or POST /auth/refresh's. */
export type SessionTokens = Pick<RefreshResponse, 'token' | 'expiresIn' | 'refreshToken' | 'sid'>;

export interface SessionEndedEvent {
  /**
   * `refresh-refused`: the refresh token was refused (401 REFRESH_TOKEN_INVALID): the session was logged out or
   * revoked elsewhere, expired, or ended because a used refresh token came back. The service does not say which.
   * `logged-out`: this client logged it out (logout `local` or `global`, or endSession of its own sid).
   */
  reason: 'refresh-refused' | 'logged-out';
}

export type SessionEndedListener = (event: SessionEndedEvent) => void;

/**
 * A refused access token: 401 on the REST API, 403 on the HTTP API (its authorizer's only refusal, which it
 * cannot customize). A route's own 403 looks the same to a client, and costs one refresh and one retry.
 */
const REFUSED = new Set([401, 403]);

export class AuthSession {
  private readonly baseUrl: string;
  private readonly storage: TokenStorage;
  private readonly leewayMs: number;
  private readonly send: FetchLike;
  private readonly now: () => number;
  private readonly listeners = new Set<SessionEndedListener>();
  /** The refresh in flight, shared by every caller; dropped when it settles, so a failure is not kept. */
  private refreshing: Promise<StoredTokens> | undefined;

  constructor(options: AuthSessionOptions) {
    this.baseUrl = options.baseUrl;
    this.storage = options.storage ?? memoryStorage();
    this.leewayMs = (options.refreshLeewaySeconds ?? 60) * 1000;
    this.send = fetchOf(options.fetch);
    this.now = options.now ?? Date.now;
  }

  /** Starts holding a session: the tokens of a sign-in (sign with `refresh: true`) or of a refresh. */
  async start(tokens: SessionTokens): Promise<void> {
    await this.storage.save(storedTokens('start', tokens, this.now()));
  }

  async isSignedIn(): Promise<boolean> {
    return (await this.storage.load()) !== undefined;
  }

  /** A live access token: refreshed first when it expires within the leeway. */
  async accessToken(): Promise<string> {
    const tokens = await this.tokens();
    return (this.expiresSoon(tokens) ? await this.refreshFrom(tokens) : tokens).accessToken;
  }

  /** Refreshes now (joining a refresh already in flight). */
  async refresh(): Promise<void> {
    await this.refreshFrom(await this.tokens());
  }

  /**
   * fetch with `Authorization: Bearer <access token>`. A refused token (401, or the HTTP API's 403) is refreshed
   * once and the request sent once more; that second answer is returned whatever it is. Send it only to routes
   * behind this service's authorizers: whoever receives the request holds the token.
   */
  async fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    const token = await this.accessToken();
    // A clone: the body of a request can be read once, and a retry sends it again.
    const first = await this.authorized(request.clone(), token);
    if (!REFUSED.has(first.status)) return first;
    // Read no further: it frees the connection the answer holds.
    await first.body?.cancel();
    return this.authorized(request, await this.renewAfterRefusal(token));
  }

  /** GET /me: the caller as the authorizer established it. */
  async me(): Promise<MeResponse> {
    return (await jsonOf('GET /me', await this.call('GET', '/me'))) as unknown as MeResponse;
  }

  /** GET /auth/sessions: the caller's live sessions, newest first. */
  async sessions(): Promise<SessionInfo[]> {
    const body = await jsonOf('GET /auth/sessions', await this.call('GET', '/auth/sessions'));
    if (!Array.isArray(body.sessions)) throw new RevocableJwtError('GET /auth/sessions answered without a sessions list', { code: 'BAD_RESPONSE' });
    return body.sessions as SessionInfo[];
  }

  /** DELETE /auth/sessions/{sid}: ends one of the caller's sessions; ending this one signs this client out. */
  async endSession(sid: string): Promise<void> {
    const { sid: own } = await this.tokens();
    // A sid holds `{` and `}`.
    await emptyOf('DELETE /auth/sessions/{sid}', await this.call('DELETE', `/auth/sessions/${encodeURIComponent(sid)}`));
    if (sid === own) await this.end('logged-out');
  }

  /**
   * POST /auth/logout. `local` (the default) ends this session, `global` every session of the caller: both drop
   * this client's tokens. `others` ends the caller's other sessions and keeps this one. On a failure (a 503 or
   * no answer: the outcome is unknown) the tokens are kept, so that the logout can be retried.
   */
  async logout({ scope = 'local' }: { scope?: LogoutScope } = {}): Promise<void> {
    const body: LogoutRequest = { scope };
    await emptyOf('POST /auth/logout', await this.call('POST', '/auth/logout', body));
    if (scope !== 'others') await this.end('logged-out');
  }

  /** Calls `listener` when the session ends; returns what removes it. */
  on(event: 'ended', listener: SessionEndedListener): () => void {
    if (event !== 'ended') throw new TypeError(`AuthSession has no event ${String(event)}`);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private call(method: string, path: string, body?: unknown): Promise<Response> {
    const init = body === undefined ? { method } : { method, headers: JSON_HEADERS, body: JSON.stringify(body) };
    return this.fetch(joinUrl(this.baseUrl, path), init);
  }

  private authorized(request: Request, token: string): Promise<Response> {
    request.headers.set('authorization', `Bearer ${token}`);
    return send(this.send, request);
  }

  private async tokens(): Promise<StoredTokens> {
    const tokens = await this.storage.load();
    if (tokens === undefined) throw signedOut();
    return tokens;
  }

  private expiresSoon(tokens: StoredTokens): boolean {
    // At most half the lifetime: a token shorter-lived than the leeway is not refreshed at every call.
    const leeway = Math.min(this.leewayMs, (tokens.expiresIn * 1000) / 2);
    return tokens.accessTokenExpiresAt - this.now() <= leeway;
  }

  /** The token to retry with once `refused` was refused: the one another caller's refresh brought meanwhile, or a new one. */
  private async renewAfterRefusal(refused: string): Promise<string> {
    const tokens = await this.tokens();
    if (tokens.accessToken !== refused) return tokens.accessToken;
    return (await this.refreshFrom(tokens)).accessToken;
  }

  private refreshFrom(tokens: StoredTokens): Promise<StoredTokens> {
    this.refreshing ??= this.rotate(tokens).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async rotate(used: StoredTokens): Promise<StoredTokens> {
    const body: RefreshRequest = { refreshToken: used.refreshToken };
    const request = new Request(joinUrl(this.baseUrl, '/auth/refresh'), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
    const route = routeOf(request);
    const response = await send(this.send, request);
    if (!response.ok) {
      const error = await errorFromResponse(route, response);
      // Only this ends the session. A 503 or no answer leaves the tokens: a retry with the same refresh token
      // within REFRESH_REUSE_GRACE gets the pair this one may have rotated to.
      if (error.code === 'REFRESH_TOKEN_INVALID') await this.end('refresh-refused');
      throw error;
    }
    const fresh = storedTokens(route, await jsonOf(route, response), this.now());
    // Logged out meanwhile, or another tab sharing the storage rotated first: what is stored now wins.
    const current = await this.storage.load();
    if (current === undefined) throw signedOut();
    if (current.refreshToken !== used.refreshToken) return current;
    await this.storage.save(fresh);
    return fresh;
  }

  private async end(reason: SessionEndedEvent['reason']): Promise<void> {
    await this.storage.clear();
    for (const listener of [...this.listeners]) {
      try {
        listener({ reason });
      } catch (error) {
        // Reported as any uncaught error is, without keeping the other listeners from hearing of the end.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}

/** What a session stores of sign's or refresh's answer, checked: an answer without a refresh token cannot start one. */
function storedTokens(route: string, body: unknown, receivedAt: number): StoredTokens {
  if (!isRecord(body)) throw badTokens(route);
  const { token, expiresIn, refreshToken, sid } = body;
  if (typeof token !== 'string' || typeof refreshToken !== 'string' || typeof sid !== 'string') throw badTokens(route);
  if (typeof expiresIn !== 'number' || !(expiresIn > 0)) throw badTokens(route);
  return { accessToken: token, accessTokenExpiresAt: receivedAt + expiresIn * 1000, expiresIn, refreshToken, sid };
}

function signedOut(): RevocableJwtError {
  return new RevocableJwtError('the session is signed out: start it with the tokens of a sign-in', { code: 'SIGNED_OUT' });
}

function badTokens(route: string): RevocableJwtError {
  return new RevocableJwtError(`${route}: not an access token with a refresh token, expiresIn and sid`, { code: 'BAD_RESPONSE' });
}
