// POST /auth/revoke (trusted backends, API key): ends every session of a subject, or one token by jti.
import { json, parseJsonBody } from '../shared/http/messages';
import { route } from '../shared/http/frame';
import { getServices, initServices } from '../shared/services';
import { parseRevokeRequest } from '../shared/http/validation';

initServices();

export const handler = route('revoke', async (event, scope) => {
  const { sessions } = getServices();
  const request = parseRevokeRequest(parseJsonBody(event));
  if ('sub' in request) {
    const revoked = await sessions.endAll(request.sub, scope);
    return { response: json(200, { revoked }), log: { outcome: 'revoked', sub: request.sub, revoked } };
  }
  const revoked = (await sessions.end(request.jti, scope)) ? 1 : 0;
  return { response: json(200, { revoked }), log: { outcome: 'revoked', jti: request.jti, revoked } };
});
