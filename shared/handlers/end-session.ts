// DELETE /auth/sessions/{sid} (behind the authorizer): ends one of the caller's own sessions, with every access
// and refresh token it issued.
import { authorizedRoute, type AuthorizedProxyHandler } from '../http/frame';
import { errorBody, noContent, pathParameter } from '../http/messages';
import type { KeylessServices } from '../services';

export function endSessionHandler({ config, log, sessions }: KeylessServices): AuthorizedProxyHandler {
  return authorizedRoute(
    'endSession',
    async (caller, event, scope) => {
      const sid = pathParameter(event, 'sid');
      const identity = { jti: caller.jti, sid: caller.sid, sub: caller.sub };
      // Another subject's session looks exactly like one that does not exist: 404 either way.
      const ended = await sessions.endOwn(caller.sub, sid, scope);
      return ended
        ? { response: noContent(), log: { outcome: 'revoked', ...identity, ended: sid } }
        : { response: errorBody(404, 'SESSION_NOT_FOUND', 'no live session with that sid'), log: { outcome: 'not-found', ...identity } };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
