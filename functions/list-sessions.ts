// GET /auth/sessions (behind the authorizer): the caller's live sessions.
import { listSessionsHandler } from '../shared/handlers/list-sessions';
import { containerServices } from '../shared/services';

export const handler = listSessionsHandler(containerServices('none'));
