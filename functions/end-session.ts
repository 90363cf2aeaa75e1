// DELETE /auth/sessions/{jti} (behind the authorizer): ends one of the caller's own sessions.
import { errorBody, noContent, pathParameter } from '../shared/http/messages';
import { authorizedRoute } from '../shared/http/frame';
import { getServices, initServices } from '../shared/services';

initServices();

export const handler = authorizedRoute('end-session', async (caller, event, scope) => {
  const jti = pathParameter(event, 'jti');
  // Another subject's session looks exactly like one that does not exist: 404 either way.
  const ended = await getServices().sessions.endOwn(caller.sub, jti, scope);
  return ended
    ? { response: noContent(), log: { outcome: 'revoked', jti: caller.jti, sub: caller.sub, ended: jti } }
    : { response: errorBody(404, 'SESSION_NOT_FOUND', 'no live session with that jti'), log: { outcome: 'not-found', jti: caller.jti, sub: caller.sub } };
});
