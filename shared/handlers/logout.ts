// POST /auth/logout (behind the authorizer): ends this session (scope `local`, the default), every other session
// of the caller (`others`), or all of them (`global`), each with every access and refresh token it issued.
import { authorizedRoute, type AuthorizedProxyHandler } from '../http/frame';
import { noContent, parseJsonBody } from '../http/messages';
import { parseLogoutRequest } from '../http/validation';
import type { KeylessServices } from '../services';

export function logoutHandler({ config, log, sessions }: KeylessServices): AuthorizedProxyHandler {
  return authorizedRoute(
    'logout',
    async (caller, request, scope) => {
      const logoutScope = parseLogoutRequest(request.body === null || request.body === '' ? undefined : parseJsonBody(request));
      const identity = { jti: caller.jti, sid: caller.sid, sub: caller.sub, scope: logoutScope };
      if (logoutScope === 'global') {
        const ended = await sessions.endAll(caller.sub, scope);
        return { response: noContent(), log: { outcome: 'revoked', ...identity, ended } };
      }
      if (logoutScope === 'others') {
        // A token without a session (signed before sessions existed) keeps none: every session is another's.
        const ended = await sessions.endOthers(caller.sub, caller.sid ?? '', scope);
        return { response: noContent(), log: { outcome: 'revoked', ...identity, ended } };
      }
      const ended = caller.sid === undefined ? await sessions.endToken(caller.jti, scope) : await sessions.end(caller.sid, scope);
      return { response: noContent(), log: { outcome: ended ? 'revoked' : 'already-gone', ...identity } };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
