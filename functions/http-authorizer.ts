// The HTTP API's Lambda authorizer.
import { httpAuthorizerHandler } from '../shared/handlers/http-authorizer';
import { containerServices } from '../shared/services';

export const handler = httpAuthorizerHandler(containerServices('verifying'));
