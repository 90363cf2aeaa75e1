// POST /auth/token (trusted backends, API key): issues a token for a subject and stores its label.
import { json, parseJsonBody } from '../shared/http/messages';
import { route } from '../shared/http/frame';
import { getServices, initServices } from '../shared/services';
import { parseSignRequest } from '../shared/http/validation';

initServices();

export const handler = route('sign', async (event, scope) => {
  const { config, tokens } = getServices();
  const request = parseSignRequest(parseJsonBody(event), config.tokens);
  const issued = await tokens.issue(request, scope);
  return {
    response: json(201, { token: issued.token, tokenType: 'Bearer', expiresIn: issued.expiresIn, jti: issued.jti }),
    log: { outcome: 'issued', jti: issued.jti, sub: issued.sub, kid: issued.kid, ttl: issued.expiresIn },
  };
});
