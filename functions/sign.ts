// POST /auth/token (trusted backends, API key): issues a token for a subject and stores its label.
import { signHandler } from '../shared/handlers/sign';
import { containerServices } from '../shared/services';

export const handler = signHandler(containerServices('signing'));
