// POST /auth/introspect (trusted backends, as sign and revoke): RFC 7662 token introspection, for services
// that are not behind API Gateway's authorizers. The same checks as the authorizers, the same one Redis call.
import { AuthError, TokenRevokedError } from '../errors';
import { route, type ProxyHandler } from '../http/frame';
import { json, MAX_TOKEN_LENGTH, parseFormOrJsonBody } from '../http/messages';
import { parseIntrospectRequest } from '../http/validation';
import type { Services } from '../services';

export function introspectHandler({ config, log, tokens }: Services): ProxyHandler {
  const { issuer, audience } = config.tokens;
  return route(
    'introspect',
    async (event, scope) => {
      const { token } = parseIntrospectRequest(parseFormOrJsonBody(event));
      // RFC 7662: anything that is not a live token of ours is simply not active, with no reason given.
      const inactive = (reason: string, identity: { jti?: string; sub?: string } = {}) => ({
        response: json(200, { active: false }),
        log: { outcome: 'inactive', reason, ...identity },
      });
      if (token.length > MAX_TOKEN_LENGTH) return inactive('TOKEN_MALFORMED');
      try {
        const { sub, jti, sid, iat, exp } = await tokens.verify(token, scope);
        return {
          response: json(200, { active: true, token_type: 'Bearer', sub, ...(sid === undefined ? {} : { sid }), jti, iat, exp, iss: issuer, aud: audience }),
          log: { outcome: 'active', jti, sid, sub },
        };
      } catch (error) {
        // Redis or the keyring unavailable is not an answer: the frame makes it a 503, never "inactive".
        if (!(error instanceof AuthError)) throw error;
        return inactive(error.code, error instanceof TokenRevokedError ? error.identity : {});
      }
    },
    { log },
  );
}
