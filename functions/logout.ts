// POST /auth/logout (behind the authorizer): ends the presented token's session.
import { logoutHandler } from '../shared/handlers/logout';
import { containerServices } from '../shared/services';

export const handler = logoutHandler(containerServices());
