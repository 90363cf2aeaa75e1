// POST /auth/token (trusted backends, API key): issues a token for a subject and stores its label.
import { route, type ProxyHandler } from '../http/frame';
import { json, parseJsonBody } from '../http/messages';
import { parseSignRequest } from '../http/validation';
import type { Services } from '../services';

export function signHandler({ config, log, tokens }: Services): ProxyHandler {
  return route(
    'sign',
    async (event, scope) => {
      const request = parseSignRequest(parseJsonBody(event), config.tokens);
      const issued = await tokens.issue(request, scope);
      return {
        response: json(201, { token: issued.token, tokenType: 'Bearer', expiresIn: issued.expiresIn, jti: issued.jti }),
        log: { outcome: 'issued', jti: issued.jti, sub: issued.sub, kid: issued.kid, ttl: issued.expiresIn },
      };
    },
    { log },
  );
}
