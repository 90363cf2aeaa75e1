// IAM policies returned by the authorizer, and the context it hands to the routes behind it.
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent } from 'aws-lambda';
import type { CustomClaims, VerifiedToken } from './tokens';

/** What the authorizer passes on. API Gateway allows only flat string/number/boolean values. */
export interface AuthorizerContext {
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  /**
   * Custom claims as a JSON object string. Not named `claims`: serverless offline overwrites
   * `requestContext.authorizer.claims` with the decoded JWT.
   */
  customClaims: string;
}

const EXECUTE_API_ARN = /^(arn:[^:]+:execute-api:[^:]+:[^:]+:[^/]+\/[^/]+)\//;

/**
 * The whole stage (`arn:…:apiId/stage/*`), not just the route being called: if result caching is turned
 * on, API Gateway reuses this policy for every route, and a policy naming one route would answer 403 on
 * all the others.
 */
export function stageWideResource(methodArn: string): string {
  const stage = EXECUTE_API_ARN.exec(methodArn)?.[1];
  if (stage === undefined) throw new Error(`methodArn is not an execute-api ARN: ${methodArn}`);
  return `${stage}/*`;
}

export function allowPolicy(token: VerifiedToken, methodArn: string): APIGatewayAuthorizerResult {
  const context: AuthorizerContext = {
    sub: token.sub,
    jti: token.jti,
    iat: token.iat,
    exp: token.exp,
    customClaims: JSON.stringify(token.claims),
  };
  return {
    principalId: token.sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWideResource(methodArn) }],
    },
    context: { ...context },
  };
}

export interface CallerIdentity {
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  claims: CustomClaims;
}

/**
 * The identity the authorizer established, read back on a protected route. API Gateway delivers context
 * values as strings on AWS and as given under serverless-offline, so both are accepted. Returns undefined
 * when the route was reached without the authorizer: a deployment error, which callers must refuse.
 */
export function callerIdentity(event: Pick<APIGatewayProxyEvent, 'requestContext'>): CallerIdentity | undefined {
  const context = event.requestContext?.authorizer as Record<string, unknown> | null | undefined;
  if (context === null || context === undefined) return undefined;
  const { sub, jti } = context;
  const iat = Number(context.iat);
  const exp = Number(context.exp);
  if (typeof sub !== 'string' || typeof jti !== 'string' || !Number.isFinite(iat) || !Number.isFinite(exp)) {
    return undefined;
  }
  let claims: unknown;
  try {
    claims = JSON.parse(typeof context.customClaims === 'string' ? context.customClaims : '{}');
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined;
  return { sub, jti, iat, exp, claims: claims as CustomClaims };
}
