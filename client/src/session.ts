// AuthSession: an app's side of one session. It holds the access and refresh tokens, refreshes shortly before
// the access token expires or once when a route refuses it, shares one refresh among concurrent callers, and
// says when the session has ended (README "Refreshing, for a client").
//
// Every answer is applied to the session that asked, never to whatever is stored when it arrives: storage may
// have changed meanwhile (start() of another session, a logout, another tab sharing localStorage).
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
  /** Waits this many ms, between the attempts of a refresh; setTimeout by default. */
  sleep?: (ms: number) => Promise<void>;
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

/**
 * A refresh that got no answer, a 5xx or a garbled one may have gone through: it is sent again, with the same
 * refresh token, at most this many times. Within REFRESH_REUSE_GRACE the service answers a repeat with the pair
 * the lost one rotated to; a repeat only at the app's next call, maybe later than that, would end the session.
 */
const REFRESH_RETRIES = 2;
/** The wait before a repeat when the answer gives no Retry-After (the service's 503 says 1 s). */
const RETRY_WAIT_MS = 1000;
/** The longest wait before a repeat, whatever Retry-After says: the repeats must land within the grace window (10 s by default). */
const MAX_RETRY_WAIT_MS = 2000;

/** A refresh in flight, of one session: callers for that session share it. */
interface Flight {
  sid: string;
  tokens: Promise<StoredTokens>;
}

/** One attempt of a refresh: the new pair, or the error with, when a repeat may succeed, how long to wait first. */
type Attempt = { tokens: StoredTokens } | { error: unknown; retryInMs: number | undefined };

export class AuthSession {
  private readonly baseUrl: string;
  private readonly storage: TokenStorage;
  private readonly leewayMs: number;
  private readonly send: FetchLike;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly listeners = new Set<SessionEndedListener>();
  /** The refresh in flight, shared by every caller of its session; dropped when it settles, so a failure is not kept. */
  private refreshing: Flight | undefined;
  /** The tail of this client's storage writes, run one at a time: see exclusive(). */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(options: AuthSessionOptions) {
    this.baseUrl = options.baseUrl;
    this.storage = options.storage ?? memoryStorage();
    this.leewayMs = (options.refreshLeewaySeconds ?? 60) * 1000;
    this.send = fetchOf(options.fetch);
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Starts holding a session: the tokens of a sign-in (sign with `refresh: true`) or of a refresh. */
  async start(tokens: SessionTokens): Promise<void> {
    const stored = storedTokens('start', tokens, this.now());
    // Whoever needs a refresh from now on refreshes these tokens, not the ones a refresh in flight started from.
    this.refreshing = undefined;
    await this.exclusive(() => this.storage.save(stored));
  }

  async isSignedIn(): Promise<boolean> {
    return (await this.storage.load()) !== undefined;
  }

  /** A live access token: refreshed first when it expires within the leeway. */
  async accessToken(): Promise<string> {
    return (await this.live()).accessToken;
  }

  /** Refreshes now (joining a refresh of this session already in flight). */
  async refresh(): Promise<void> {
    await this.refreshFrom(await this.tokens());
  }

  /**
   * fetch with `Authorization: Bearer <access token>`. A refused token (401, or the HTTP API's 403) is refreshed
   * once and the request sent once more; that second answer is returned whatever it is. Send it only to routes
   * behind this service's authorizers: whoever receives the request holds the token.
   */
  async fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    return (await this.sendAuthorized(new Request(input, init))).response;
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

  /** DELETE /auth/sessions/{sid}: ends one of the caller's sessions; ending the one this client holds signs it out. */
  async endSession(sid: string): Promise<void> {
    // A sid holds `{` and `}`.
    await emptyOf('DELETE /auth/sessions/{sid}', await this.call('DELETE', `/auth/sessions/${encodeURIComponent(sid)}`));
    // Whatever session this client holds now: another one started meanwhile is not the one that ended.
    await this.endIfHeld((held) => held.sid === sid, 'logged-out');
  }

  /**
   * POST /auth/logout. `local` (the default) ends this session, `global` every session of the caller: both drop
   * this client's tokens, unless it holds another session by the time the answer comes (started meanwhile).
   * `others` ends the caller's other sessions and keeps this one. On a failure (a 503 or no answer: the outcome
   * is unknown) the tokens are kept, so that the logout can be retried.
   */
  async logout({ scope = 'local' }: { scope?: LogoutScope } = {}): Promise<void> {
    const body: LogoutRequest = { scope };
    const { response, sid } = await this.sendAuthorized(this.request('POST', '/auth/logout', body));
    await emptyOf('POST /auth/logout', response);
    // The session the logout was sent for, by sid: a refresh meanwhile rotated its refresh token, not its end.
    if (scope !== 'others') await this.endIfHeld((held) => held.sid === sid, 'logged-out');
  }

  /** Calls `listener` when the session ends; returns what removes it. */
  on(event: 'ended', listener: SessionEndedListener): () => void {
    if (event !== 'ended') throw new TypeError(`AuthSession has no event ${String(event)}`);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private request(method: string, path: string, body?: unknown): Request {
    const init = body === undefined ? { method } : { method, headers: JSON_HEADERS, body: JSON.stringify(body) };
    return new Request(joinUrl(this.baseUrl, path), init);
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    return (await this.sendAuthorized(this.request(method, path, body))).response;
  }

  /** The answer, and the sid of the session whose access token it was sent with (both sendings: the same). */
  private async sendAuthorized(request: Request): Promise<{ response: Response; sid: string }> {
    const sent = await this.live();
    // A clone: the body of a request can be read once, and a retry sends it again.
    const first = await this.authorized(request.clone(), sent.accessToken);
    if (!REFUSED.has(first.status)) return { response: first, sid: sent.sid };
    // Read no further: it frees the connection the answer holds.
    await first.body?.cancel();
    const renewed = await this.renewAfterRefusal(sent);
    return { response: await this.authorized(request, renewed.accessToken), sid: renewed.sid };
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

  /** The stored tokens, refreshed first when the access token expires within the leeway. */
  private async live(): Promise<StoredTokens> {
    const tokens = await this.tokens();
    return this.expiresSoon(tokens) ? this.refreshFrom(tokens) : tokens;
  }

  private expiresSoon(tokens: StoredTokens): boolean {
    // At most half the lifetime: a token shorter-lived than the leeway is not refreshed at every call.
    const leeway = Math.min(this.leewayMs, (tokens.expiresIn * 1000) / 2);
    return tokens.accessTokenExpiresAt - this.now() <= leeway;
  }

  /**
   * The tokens to send a request again with once `sent`'s access token was refused: the ones another caller's
   * refresh brought meanwhile, or new ones; never another session's (a sign-in meanwhile), which would send the
   * request as someone else.
   */
  private async renewAfterRefusal(sent: StoredTokens): Promise<StoredTokens> {
    const tokens = await this.tokens();
    if (tokens.sid !== sent.sid) throw replaced();
    if (tokens.accessToken !== sent.accessToken) return tokens;
    return this.refreshFrom(tokens);
  }

  /** A refresh of `tokens`' session: the one in flight for it, or a new one. */
  private refreshFrom(tokens: StoredTokens): Promise<StoredTokens> {
    if (this.refreshing?.sid === tokens.sid) return this.refreshing.tokens;
    const flight: Flight = {
      sid: tokens.sid,
      tokens: this.rotate(tokens).finally(() => {
        // Only its own: a start() meanwhile may have put another session's refresh in its place.
        if (this.refreshing === flight) this.refreshing = undefined;
      }),
    };
    this.refreshing = flight;
    return flight.tokens;
  }

  /** Refreshes `used`, sending its refresh token again after a failure that may have gone through. */
  private async rotate(used: StoredTokens): Promise<StoredTokens> {
    for (let retries = REFRESH_RETRIES; ; retries -= 1) {
      const attempt = await this.attempt(used.refreshToken);
      if ('tokens' in attempt) return this.keep(used, attempt.tokens);
      const { error, retryInMs } = attempt;
      // Only this ends the session, and only if it is still the one stored: not a session started meanwhile.
      if (error instanceof RevocableJwtError && error.code === 'REFRESH_TOKEN_INVALID') {
        await this.endIfHeld((held) => held.refreshToken === used.refreshToken, 'refresh-refused');
      }
      // A 503 or no answer, once the repeats are spent, leaves the tokens: the next refresh presents the same
      // refresh token, which within REFRESH_REUSE_GRACE still gets the pair a lost one rotated to.
      if (retryInMs === undefined || retries === 0) throw error;
      await this.sleep(retryInMs);
      // Moved on while it waited (another tab refreshed, a logout, a sign-in): what is stored decides, with no repeat.
      const current = await this.storage.load();
      if (current?.refreshToken !== used.refreshToken) return sameSession(used, current);
    }
  }

  /** One POST /auth/refresh. */
  private async attempt(refreshToken: string): Promise<Attempt> {
    const body: RefreshRequest = { refreshToken };
    const request = new Request(joinUrl(this.baseUrl, '/auth/refresh'), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
    const route = routeOf(request);
    let response: Response;
    try {
      response = await send(this.send, request);
    } catch (error) {
      return { error, retryInMs: mayHaveGoneThrough(error) ? RETRY_WAIT_MS : undefined };
    }
    if (!response.ok) {
      const retryInMs = response.status >= 500 ? retryAfterMs(response.headers.get('retry-after')) : undefined;
      return { error: await errorFromResponse(route, response), retryInMs };
    }
    try {
      return { tokens: storedTokens(route, await jsonOf(route, response), this.now()) };
    } catch (error) {
      // A body cut off, or not a pair (a proxy's page): the refresh may have gone through all the same.
      return { error, retryInMs: mayHaveGoneThrough(error) ? RETRY_WAIT_MS : undefined };
    }
  }

  /** Stores the pair a refresh of `used` brought, if `used` is still what is stored (compare-and-set). */
  private keep(used: StoredTokens, fresh: StoredTokens): Promise<StoredTokens> {
    return this.exclusive(async () => {
      const current = await this.storage.load();
      // Another tab sharing the storage rotated first, a logout, or a sign-in meanwhile: what is stored wins.
      if (current?.refreshToken !== used.refreshToken) return sameSession(used, current);
      await this.storage.save(fresh);
      return fresh;
    });
  }

  /** Drops the tokens and says `reason`, if what is stored still `holds` the session that ended (compare-and-clear). */
  private async endIfHeld(holds: (held: StoredTokens) => boolean, reason: SessionEndedEvent['reason']): Promise<void> {
    const ended = await this.exclusive(async () => {
      const current = await this.storage.load();
      if (current === undefined || !holds(current)) return false;
      await this.storage.clear();
      return true;
    });
    if (!ended) return;
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

  /**
   * Runs `task` after this client's earlier storage writes: a compare-and-set (or -clear) reads then writes, and
   * with an asynchronous storage a start() could otherwise save another session between the two, to be lost.
   * ! Other tabs sharing the storage are not in this queue: against them it is as good as the storage's own order.
   */
  private exclusive<T>(task: () => T | Promise<T>): Promise<T> {
    const run = this.writes.then(task);
    this.writes = run.catch(() => undefined);
    return run;
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

/** What is stored now, if it is still `used`'s session (rotated by another tab); else the call was for a session no longer held. */
function sameSession(used: StoredTokens, current: StoredTokens | undefined): StoredTokens {
  if (current === undefined) throw signedOut();
  if (current.sid !== used.sid) throw replaced();
  return current;
}

/** No answer, or a garbled one: the service may have rotated the refresh token all the same. An abort is not retried. */
function mayHaveGoneThrough(error: unknown): boolean {
  return error instanceof RevocableJwtError && (error.code === 'NETWORK_ERROR' || error.code === 'BAD_RESPONSE');
}

/** A Retry-After in seconds, as ms no longer than MAX_RETRY_WAIT_MS; RETRY_WAIT_MS without one (or with a date). */
function retryAfterMs(header: string | null): number {
  const seconds = header === null || header.trim() === '' ? NaN : Number(header);
  if (!Number.isFinite(seconds) || seconds < 0) return RETRY_WAIT_MS;
  return Math.min(seconds * 1000, MAX_RETRY_WAIT_MS);
}

function signedOut(): RevocableJwtError {
  return new RevocableJwtError('the session is signed out: start it with the tokens of a sign-in', { code: 'SIGNED_OUT' });
}

function replaced(): RevocableJwtError {
  return new RevocableJwtError('the session this call was for is no longer held: another one was started meanwhile', { code: 'SIGNED_OUT' });
}

function badTokens(route: string): RevocableJwtError {
  return new RevocableJwtError(`${route}: not an access token with a refresh token, expiresIn and sid`, { code: 'BAD_RESPONSE' });
}
