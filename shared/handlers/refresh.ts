// POST /auth/refresh (no authorizer, no API key: the refresh token is the credential; both APIs): rotates a
// refresh token into a new access token and a new refresh token. A used one presented again ends its session.
import { publicRoute, type AuthorizedProxyHandler } from '../http/frame';
import { json, parseJsonBody } from '../http/messages';
import { parseRefreshRequest } from '../http/validation';
import type { Services } from '../services';

export function refreshHandler({ config, log, tokens }: Services): AuthorizedProxyHandler {
  return publicRoute(
    'refresh',
    async (request, scope) => {
      const { refreshToken } = parseRefreshRequest(parseJsonBody(request));
      const issued = await tokens.refresh(refreshToken, scope);
      return {
        response: json(200, {
          token: issued.token,
          tokenType: 'Bearer',
          expiresIn: issued.expiresIn,
          jti: issued.jti,
          sid: issued.sid,
          refreshToken: issued.refresh.token,
          refreshExpiresIn: issued.refresh.expiresIn,
        }),
        log: { outcome: issued.replayed ? 'replayed' : 'rotated', jti: issued.jti, sid: issued.sid, sub: issued.sub, kid: issued.kid },
      };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
