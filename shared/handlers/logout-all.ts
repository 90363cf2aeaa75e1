// POST /auth/logout-all (behind the authorizer): ends every session of the caller, this one included; the same
// as POST /auth/logout with { "scope": "global" }.
import { authorizedRoute, type AuthorizedProxyHandler } from '../http/frame';
import { noContent } from '../http/messages';
import type { KeylessServices } from '../services';

export function logoutAllHandler({ config, log, sessions }: KeylessServices): AuthorizedProxyHandler {
  return authorizedRoute(
    'logoutAll',
    async (caller, _request, scope) => {
      const ended = await sessions.endAll(caller.sub, scope);
      return { response: noContent(), log: { outcome: 'revoked', jti: caller.jti, sid: caller.sid, sub: caller.sub, scope: 'global', ended } };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
