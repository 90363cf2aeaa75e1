// POST /auth/logout (behind the authorizer): ends this session, the others, or all of them.
import { logoutHandler } from '../shared/handlers/logout';
import { containerServices } from '../shared/services';

export const handler = logoutHandler(containerServices('none'));
