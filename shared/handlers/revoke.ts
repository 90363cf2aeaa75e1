// POST /auth/revoke (trusted backends, API key or IAM): ends every session of a subject, one session by sid, or
// one access token by jti.
import { route, type ProxyHandler } from '../http/frame';
import { json, parseJsonBody } from '../http/messages';
import { parseRevokeRequest } from '../http/validation';
import type { KeylessServices } from '../services';

export function revokeHandler({ log, sessions }: KeylessServices): ProxyHandler {
  return route(
    'revoke',
    async (event, scope) => {
      const request = parseRevokeRequest(parseJsonBody(event));
      if ('sub' in request) {
        const revoked = await sessions.endAll(request.sub, scope);
        return { response: json(200, { revoked }), log: { outcome: 'revoked', sub: request.sub, revoked } };
      }
      if ('sid' in request) {
        const revoked = (await sessions.end(request.sid, scope)) ? 1 : 0;
        return { response: json(200, { revoked }), log: { outcome: 'revoked', sid: request.sid, revoked } };
      }
      const revoked = (await sessions.endToken(request.jti, scope)) ? 1 : 0;
      return { response: json(200, { revoked }), log: { outcome: 'revoked', jti: request.jti, revoked } };
    },
    { log },
  );
}
