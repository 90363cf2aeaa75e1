// DELETE /auth/sessions/{sid} (behind the authorizer): ends one of the caller's sessions.
import { endSessionHandler } from '../shared/handlers/end-session';
import { containerServices } from '../shared/services';

export const handler = endSessionHandler(containerServices('none'));
