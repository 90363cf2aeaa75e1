// POST /auth/logout-all (behind the authorizer): ends every session of the caller, this one included.
import { noContent } from '../shared/http/messages';
import { authorizedRoute } from '../shared/http/frame';
import { getServices, initServices } from '../shared/services';

initServices();

export const handler = authorizedRoute('logout-all', async (caller, _request, scope) => {
  const ended = await getServices().sessions.endAll(caller.sub, scope);
  return { response: noContent(), log: { outcome: 'revoked', jti: caller.jti, sub: caller.sub, ended } };
});
