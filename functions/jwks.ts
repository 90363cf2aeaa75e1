// GET /.well-known/jwks.json (public): the public keys of the ring (RFC 7517).
import { jwksHandler } from '../shared/handlers/jwks';
import { containerServices } from '../shared/services';

export const handler = jwksHandler(containerServices('public'));
