// POST /auth/logout (behind the authorizer): destroys the presented token's label, so it is dead at once.
import { noContent } from '../shared/http/messages';
import { authorizedRoute } from '../shared/http/frame';
import { getServices, initServices } from '../shared/services';

initServices();

export const handler = authorizedRoute('logout', async (caller, _request, scope) => {
  const ended = await getServices().sessions.end(caller.jti, scope);
  return { response: noContent(), log: { outcome: ended ? 'revoked' : 'already-gone', jti: caller.jti, sub: caller.sub } };
});
