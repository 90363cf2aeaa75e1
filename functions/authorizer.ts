// The REST API's TOKEN authorizer.
import { authorizerHandler } from '../shared/handlers/authorizer';
import { containerServices } from '../shared/services';

export const handler = authorizerHandler(containerServices('verifying'));
