// POST /auth/refresh (no authorizer: the refresh token is the credential): rotates it into a new pair.
import { refreshHandler } from '../shared/handlers/refresh';
import { containerServices } from '../shared/services';

export const handler = refreshHandler(containerServices('signing'));
