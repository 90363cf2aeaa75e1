// POST /auth/logout (behind the authorizer): destroys the presented token's label, so it is dead at once.
import { authorizedRoute, type AuthorizedProxyHandler } from '../http/frame';
import { noContent } from '../http/messages';
import type { Services } from '../services';

export function logoutHandler({ config, log, sessions }: Services): AuthorizedProxyHandler {
  return authorizedRoute(
    'logout',
    async (caller, _request, scope) => {
      const ended = await sessions.end(caller.jti, scope);
      return { response: noContent(), log: { outcome: ended ? 'revoked' : 'already-gone', jti: caller.jti, sub: caller.sub } };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
