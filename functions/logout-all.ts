// POST /auth/logout-all (behind the authorizer): ends every session of the caller.
import { logoutAllHandler } from '../shared/handlers/logout-all';
import { containerServices } from '../shared/services';

export const handler = logoutAllHandler(containerServices('none'));
