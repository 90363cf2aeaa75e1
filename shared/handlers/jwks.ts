// GET /.well-known/jwks.json (public, both APIs): the public keys of the ring as a JWK Set (RFC 7517), for services
// that check our tokens' signatures themselves. With HS256 the set is empty: its key is secret. A signature says
// a token was ours; whether it is still live, only the authorizers and introspection can say.
import { publicRoute, type AuthorizedProxyHandler } from '../http/frame';
import { json } from '../http/messages';
import type { Services } from '../services';

/**
 * How long a consumer may cache the set: a key removed from the ring may still be trusted that long by a
 * consumer that caches it (its tokens are refused by our authorizers at once), and a new key should be in the
 * set that long before it signs (docs/operations.md, Rotating keys).
 */
export const JWKS_MAX_AGE_SECONDS = 300;

export function jwksHandler({ config, log, tokens }: Services): AuthorizedProxyHandler {
  return publicRoute(
    'jwks',
    async () => {
      const keys = await tokens.jwks();
      return {
        response: json(200, { keys }, { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` }),
        log: { outcome: 'listed', count: keys.length },
      };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
