// POST /auth/token (trusted backends, API key or IAM): starts a session for a subject, with its first access
// token and, when asked, a refresh token.
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
      const refresh = issued.refresh === undefined ? {} : { refreshToken: issued.refresh.token, refreshExpiresIn: issued.refresh.expiresIn };
      return {
        response: json(201, { token: issued.token, tokenType: 'Bearer', expiresIn: issued.expiresIn, jti: issued.jti, sid: issued.sid, ...refresh }),
        log: {
          outcome: 'issued',
          jti: issued.jti,
          sid: issued.sid,
          sub: issued.sub,
          kid: issued.kid,
          ttl: issued.expiresIn,
          refresh: issued.refresh !== undefined,
        },
      };
    },
    { log },
  );
}
