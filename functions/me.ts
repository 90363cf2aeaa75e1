// GET /me (behind the authorizer): returns the identity the authorizer established.
import { json } from '../shared/http/messages';
import { authorizedRoute } from '../shared/http/frame';

export const handler = authorizedRoute('me', async (caller) => ({
  response: json(200, { sub: caller.sub, jti: caller.jti, issuedAt: caller.iat, expiresAt: caller.exp, claims: caller.claims }),
  log: { outcome: 'ok', jti: caller.jti, sub: caller.sub },
}));
