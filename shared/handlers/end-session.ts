// DELETE /auth/sessions/{jti} (behind the authorizer): ends one of the caller's own sessions.
import { authorizedRoute, type AuthorizedProxyHandler } from '../http/frame';
import { errorBody, noContent, pathParameter } from '../http/messages';
import type { Services } from '../services';

export function endSessionHandler({ config, log, sessions }: Services): AuthorizedProxyHandler {
  return authorizedRoute(
    'endSession',
    async (caller, event, scope) => {
      const jti = pathParameter(event, 'jti');
      // Another subject's session looks exactly like one that does not exist: 404 either way.
      const ended = await sessions.endOwn(caller.sub, jti, scope);
      return ended
        ? { response: noContent(), log: { outcome: 'revoked', jti: caller.jti, sub: caller.sub, ended: jti } }
        : { response: errorBody(404, 'SESSION_NOT_FOUND', 'no live session with that jti'), log: { outcome: 'not-found', jti: caller.jti, sub: caller.sub } };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
