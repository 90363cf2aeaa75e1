// POST /auth/introspect (trusted backends, API key): RFC 7662 token introspection.
import { introspectHandler } from '../shared/handlers/introspect';
import { containerServices } from '../shared/services';

export const handler = introspectHandler(containerServices('verifying'));
