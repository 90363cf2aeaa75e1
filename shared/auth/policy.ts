// What the authorizers hand to the routes behind them: the REST API's IAM policy, the context both
// authorizers pass on, and reading that context back under either payload version.
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import type { CustomClaims, VerifiedToken } from './tokens';

/**
 * What both authorizers pass on: the REST API `TOKEN` authorizer in its policy's `context`, the HTTP API
 * authorizer in its simple response's `context`. API Gateway allows only flat string/number/boolean values.
 */
export interface AuthorizerContext {
  sub: string;
  jti: string;
  /** The token's session; empty for a token signed before sessions existed. */
  sid: string;
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

/** The identity of a verified token, as both authorizers pass it on. */
export function authorizerContext(token: VerifiedToken): AuthorizerContext {
  return {
    sub: token.sub,
    jti: token.jti,
    sid: token.sid ?? '',
    iat: token.iat,
    exp: token.exp,
    customClaims: JSON.stringify(token.claims),
  };
}

export function allowPolicy(token: VerifiedToken, methodArn: string): APIGatewayAuthorizerResult {
  return {
    principalId: token.sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWideResource(methodArn) }],
    },
    context: { ...authorizerContext(token) },
  };
}

export interface CallerIdentity {
  sub: string;
  jti: string;
  sid?: string;
  iat: number;
  exp: number;
  claims: CustomClaims;
}

/**
 * Where a proxy event carries the authorizer's context: at `requestContext.authorizer` under payload 1.0
 * (REST API), at `requestContext.authorizer.lambda` under payload 2.0 (HTTP API, `version: "2.0"`).
 */
export interface AuthorizedEvent {
  version?: string;
  requestContext?: { authorizer?: unknown } | null;
}

/**
 * The identity the authorizer established, read back on a protected route. API Gateway delivers context
 * values as strings on AWS and as given under serverless-offline, so both are accepted. Returns undefined
 * when the route was reached without the authorizer: a deployment error, which callers must refuse.
 */
export function callerIdentity(event: AuthorizedEvent): CallerIdentity | undefined {
  const authorizer = event.requestContext?.authorizer;
  const context = event.version === '2.0' ? (isRecord(authorizer) ? authorizer.lambda : undefined) : authorizer;
  if (!isRecord(context)) return undefined;
  const { sub, jti, sid } = context;
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
  if (!isRecord(claims) || Array.isArray(claims)) return undefined;
  return { sub, jti, ...(typeof sid === 'string' && sid !== '' ? { sid } : {}), iat, exp, claims };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
