// REST API TOKEN authorizer: signature, claims and the Redis label must all hold.
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent, Context } from 'aws-lambda';
import { decider } from '../auth/decision';
import { allowPolicy } from '../auth/policy';
import type { Services } from '../services';

export type AuthorizerHandler = (event: APIGatewayTokenAuthorizerEvent, context?: Pick<Context, 'awsRequestId'>) => Promise<APIGatewayAuthorizerResult>;

export function authorizerHandler({ tokens, log }: Services): AuthorizerHandler {
  const decide = decider(tokens, log, 'authorizer');
  return async (event, context) => {
    // Redis or keyring trouble throws out of decide(): API Gateway answers 500, never an Allow, never a 401.
    const decision = await decide(event.authorizationToken, context?.awsRequestId);
    // ! API Gateway answers 401 only for this exact message; any other error becomes a 500.
    if (!decision.allowed) throw new Error('Unauthorized');
    return allowPolicy(decision.token, event.methodArn);
  };
}
