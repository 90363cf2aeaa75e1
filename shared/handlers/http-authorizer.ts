// HTTP API Lambda authorizer (payload 2.0, simple responses): the same checks as the REST API's TOKEN
// authorizer (signature, claims and the Redis label), answered as `{ isAuthorized }`.
import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult, Context } from 'aws-lambda';
import { decider } from '../auth/decision';
import { authorizerContext, type AuthorizerContext } from '../auth/policy';
import type { Services } from '../services';

export type HttpAuthorizerResult = { isAuthorized: false } | APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext>;
export type HttpAuthorizerHandler = (event: APIGatewayRequestAuthorizerEventV2, context?: Pick<Context, 'awsRequestId'>) => Promise<HttpAuthorizerResult>;

export function httpAuthorizerHandler({ tokens, log }: Services): HttpAuthorizerHandler {
  const decide = decider(tokens, log, 'httpAuthorizer');
  return async (event, context) => {
    // Redis or keyring trouble throws out of decide(): the HTTP API answers 500. Never an allow.
    const decision = await decide(authorizationHeader(event.headers), context?.awsRequestId);
    // A refusal is 403 Forbidden. (A request without the header never gets here: the identity source is
    // required, and API Gateway answers 401 Unauthorized itself.) The routes read the context at
    // requestContext.authorizer.lambda.
    return decision.allowed ? { isAuthorized: true, context: authorizerContext(decision.token) } : { isAuthorized: false };
  };
}

/**
 * The Authorization header's value. The HTTP API lowercases header names in payload 2.0 and joins repeated
 * headers with commas; serverless offline passes names as the client spelt them, so match any case, and join
 * as AWS does (parseBearer refuses a joined value).
 */
function authorizationHeader(headers: Record<string, string | undefined> | undefined): string | undefined {
  const values = Object.entries(headers ?? {})
    .filter(([name, value]) => name.toLowerCase() === 'authorization' && value !== undefined)
    .map(([, value]) => value);
  return values.length === 0 ? undefined : values.join(',');
}
