// REST API TOKEN authorizer: signature, claims and the Redis label must all hold.
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent, Context } from 'aws-lambda';
import { decide } from '../shared/auth/decision';
import { allowPolicy } from '../shared/auth/policy';
import { initServices } from '../shared/services';

initServices();

export const handler = async (event: APIGatewayTokenAuthorizerEvent, context?: Pick<Context, 'awsRequestId'>): Promise<APIGatewayAuthorizerResult> => {
  // Redis or keyring trouble throws out of decide(): API Gateway answers 500, never an Allow, never a 401.
  const decision = await decide('authorizer', event.authorizationToken, context?.awsRequestId);
  // ! API Gateway answers 401 only for this exact message; any other error becomes a 500.
  if (!decision.allowed) throw new Error('Unauthorized');
  return allowPolicy(decision.token, event.methodArn);
};
