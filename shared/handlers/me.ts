// GET /me (behind the authorizer): returns the identity the authorizer established. Touches no Redis.
import { authorizedRoute, type AuthorizedProxyHandler, type AuthorizedRouteOptions } from '../http/frame';
import { json } from '../http/messages';

/** Needs no Redis and no key: only the origins that may read its answers, and a logger. */
export function meHandler(options: AuthorizedRouteOptions): AuthorizedProxyHandler {
  return authorizedRoute(
    'me',
    async (caller) => ({
      response: json(200, { sub: caller.sub, jti: caller.jti, sid: caller.sid, issuedAt: caller.iat, expiresAt: caller.exp, claims: caller.claims }),
      log: { outcome: 'ok', jti: caller.jti, sid: caller.sid, sub: caller.sub },
    }),
    options,
  );
}
