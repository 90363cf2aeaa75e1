// GET /auth/sessions (behind the authorizer): the caller's live sessions, newest first.
import { json } from '../shared/http/messages';
import { authorizedRoute } from '../shared/http/frame';
import { getServices, initServices } from '../shared/services';

initServices();

export const handler = authorizedRoute('list-sessions', async (caller, _request, scope) => {
  const sessions = await getServices().sessions.list(caller.sub, Math.floor(Date.now() / 1000), scope);
  return {
    response: json(200, { sessions: sessions.map((session) => ({ ...session, current: session.jti === caller.jti })) }),
    log: { outcome: 'listed', jti: caller.jti, sub: caller.sub, count: sessions.length },
  };
});
