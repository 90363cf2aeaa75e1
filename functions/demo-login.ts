// POST /demo/login (local target only: npm start's demo page): signs a demo user in, with a refresh token.
import { demoLoginHandler } from '../shared/handlers/demo-login';
import { containerServices } from '../shared/services';

export const handler = demoLoginHandler(containerServices('signing'));
