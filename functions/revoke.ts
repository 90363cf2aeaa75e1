// POST /auth/revoke (trusted backends, API key): ends a subject's sessions, or one token.
import { revokeHandler } from '../shared/handlers/revoke';
import { containerServices } from '../shared/services';

export const handler = revokeHandler(containerServices('none'));
