// GET /auth/sessions (behind the authorizer): the caller's live sessions, newest first.
import { authorizedRoute, type AuthorizedProxyHandler } from '../http/frame';
import { json } from '../http/messages';
import type { KeylessServices } from '../services';

export function listSessionsHandler({ config, log, sessions, now }: KeylessServices): AuthorizedProxyHandler {
  return authorizedRoute(
    'listSessions',
    async (caller, _request, scope) => {
      const live = await sessions.list(caller.sub, Math.floor(now() / 1000), scope);
      return {
        response: json(200, { sessions: live.map((session) => ({ ...session, current: session.sid === caller.sid })) }),
        log: { outcome: 'listed', jti: caller.jti, sid: caller.sid, sub: caller.sub, count: live.length },
      };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
