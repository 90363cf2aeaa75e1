// A client of one container's session routes, as API Gateway would call them: sign and refresh straight to their
// handlers; a route behind the authorizer only once the authorizer allowed its token, with the context it passed
// on. Plus what the session tests read: a whole Redis keyspace as text, and a clock they move by hand.
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Container } from './cold-start';
import { proxyEvent, tokenAuthorizerEvent } from './events';
import { httpAuthorizerEvent, proxyEventV2 } from './events-v2';
import type { RedisServer } from './redis-server';

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
}

/** POST /auth/token's 201 with a refresh token. */
export interface Signed {
  token: string;
  jti: string;
  sid: string;
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
}

/** POST /auth/refresh's 200. */
export interface Pair extends Signed {
  tokenType: 'Bearer';
}

export type Decision = 'allow' | 'deny';

/** The one 401 every refused refresh token gets, whatever the reason. */
export const REFRESH_REFUSED = { error: 'REFRESH_TOKEN_INVALID', message: 'refresh token is not valid: sign in again' };

const answer = (response: APIGatewayProxyResult): Answer => ({
  status: response.statusCode,
  body: response.body === '' ? {} : (JSON.parse(response.body) as Record<string, unknown>),
  headers: response.headers ?? {},
});

export class SessionClient {
  constructor(private readonly container: () => Container) {}

  async sign(body: unknown): Promise<Answer> {
    return answer(await this.container().sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(body) })));
  }

  /** A new session with a refresh token; `extra` adds to the body (claims, ttl, session). */
  async signIn(sub: string, extra: Record<string, unknown> = {}): Promise<Signed> {
    const signed = await this.sign({ sub, refresh: true, ...extra });
    if (signed.status !== 201) throw new Error(`sign answered ${signed.status}: ${JSON.stringify(signed.body)}`);
    return signed.body as unknown as Signed;
  }

  /** POST /auth/refresh with this body text, through the REST API (with `headers` added) or the HTTP API (payload 2.0). */
  async refreshWith(body: string | null, api: 'rest' | 'http' = 'rest', headers: Record<string, string> = {}): Promise<Answer> {
    const rest = proxyEvent({ method: 'POST', path: '/auth/refresh', body });
    const event =
      api === 'rest' ? { ...rest, headers: { ...rest.headers, ...headers } } : proxyEventV2({ method: 'POST', path: '/auth/refresh', body: body ?? undefined });
    return answer(await this.container().refresh(event));
  }

  refresh(refreshToken: string, api: 'rest' | 'http' = 'rest'): Promise<Answer> {
    return this.refreshWith(JSON.stringify({ refreshToken }), api);
  }

  /** A refresh that must succeed: the new pair. */
  async rotate(refreshToken: string): Promise<Pair> {
    const refreshed = await this.refresh(refreshToken);
    if (refreshed.status !== 200) throw new Error(`refresh answered ${refreshed.status}: ${JSON.stringify(refreshed.body)}`);
    return refreshed.body as unknown as Pair;
  }

  /** What the REST API's authorizer decides for this token; throws if it cannot decide (a 500). */
  async decide(token: string): Promise<Decision> {
    return (await this.context(token)) === undefined ? 'deny' : 'allow';
  }

  /** What the HTTP API's authorizer decides. */
  async httpDecide(token: string): Promise<Decision> {
    const result = await this.container().httpAuthorizer(httpAuthorizerEvent({ authorization: `Bearer ${token}` }));
    return result.isAuthorized ? 'allow' : 'deny';
  }

  /** The context the REST authorizer passes on for this token, or undefined when it refuses it. */
  async context(token: string): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.container().authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).context as Record<string, unknown>;
    } catch (error) {
      if ((error as Error).message === 'Unauthorized') return undefined;
      throw error;
    }
  }

  /** A route behind the authorizer, called as `token`'s bearer: throws when the authorizer refuses it (a 401). */
  private async asCaller(token: string, method: string, path: string, options: { body?: string | null; pathParameters?: Record<string, string> } = {}) {
    const context = await this.context(token);
    if (context === undefined) throw new Error(`the authorizer refused the token: ${method} ${path} is never reached`);
    return proxyEvent({ method, path, authorizer: context, ...options });
  }

  /** POST /auth/logout; `body` as sent (undefined: none). */
  async logout(token: string, body?: string): Promise<Answer> {
    return answer(await this.container().logout(await this.asCaller(token, 'POST', '/auth/logout', { body: body ?? null })));
  }

  async logoutAll(token: string): Promise<Answer> {
    return answer(await this.container().logoutAll(await this.asCaller(token, 'POST', '/auth/logout-all')));
  }

  async sessions(token: string): Promise<Answer> {
    return answer(await this.container().listSessions(await this.asCaller(token, 'GET', '/auth/sessions')));
  }

  /** DELETE /auth/sessions/{sid}; `sid` as the path parameter holds it (API Gateway may leave it percent-encoded). */
  async endSession(token: string, sid: string): Promise<Answer> {
    return answer(await this.container().endSession(await this.asCaller(token, 'DELETE', `/auth/sessions/${sid}`, { pathParameters: { sid } })));
  }

  /** POST /auth/revoke (the trusted route: no authorizer). */
  async revoke(body: unknown): Promise<Answer> {
    return answer(await this.container().revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify(body) })));
  }

  /** The kill switch (`npm run revoke-all`). */
  async revokeAll(): Promise<{ revoked: number }> {
    return this.container().revokeAll({ confirm: 'revoke-all' });
  }

  /** POST /auth/introspect (the trusted route) with `{ token }` as JSON. */
  async introspect(token: string): Promise<Answer> {
    return answer(await this.container().introspect(proxyEvent({ method: 'POST', path: '/auth/introspect', body: JSON.stringify({ token }) })));
  }

  /** GET /me through the HTTP API (payload 2.0), behind its authorizer: the identity the route sees. */
  async me(token: string): Promise<Answer> {
    const result = await this.container().httpAuthorizer(httpAuthorizerEvent({ authorization: `Bearer ${token}` }));
    if (!result.isAuthorized) throw new Error('the authorizer refused the token: GET /me is never reached');
    return answer(await this.container().me(proxyEventV2({ method: 'GET', path: '/me', lambda: result.context })));
  }
}

/** The claims of a JWS, unchecked. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * Every key of `servers` (the primaries of a cluster), with its value and absolute expiry, as sorted text lines:
 * two snapshots are equal exactly when nothing was written, created, deleted or given another expiry.
 */
export async function keyspace(servers: RedisServer[]): Promise<string[]> {
  const lines: string[] = [];
  for (const server of servers) {
    const admin = await server.admin();
    for await (const keys of admin.scanIterator({ COUNT: 1000 })) {
      for (const key of keys) {
        const type = await admin.type(key);
        let value: unknown;
        if (type === 'string') value = await admin.get(key);
        // Sorted: a large hash's field order may change as Redis rehashes it, with no write at all.
        else if (type === 'hash') value = Object.entries(await admin.hGetAll(key)).sort(([a], [b]) => (a < b ? -1 : 1));
        else if (type === 'zset') value = await admin.zRangeWithScores(key, 0, -1);
        else value = `(${type})`;
        lines.push(`${key} ${JSON.stringify(value)} expires ${String(await admin.sendCommand<number>(['PEXPIRETIME', key]))}`);
      }
    }
  }
  return lines.sort();
}

/** A clock for `createServices`' `now`: real time when made (whole seconds), then only as the test moves it. */
export function manualClock(): { now: () => number; advance: (seconds: number) => void; seconds: () => number } {
  let ms = Math.floor(Date.now() / 1000) * 1000;
  return {
    now: () => ms,
    advance: (seconds) => {
      ms += seconds * 1000;
    },
    seconds: () => ms / 1000,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
