// Realistic API Gateway REST (v1) events for calling handlers directly.
import type { APIGatewayProxyEvent, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import type { AuthorizerContext } from '../shared/auth/policy';

export const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/me';

export function tokenAuthorizerEvent(authorizationToken: string | undefined): APIGatewayTokenAuthorizerEvent {
  return { type: 'TOKEN', methodArn: METHOD_ARN, authorizationToken: authorizationToken as string };
}

export function proxyEvent(options: {
  method: string;
  path: string;
  body?: string | null;
  authorizer?: AuthorizerContext | Record<string, unknown>;
  isBase64Encoded?: boolean;
  pathParameters?: Record<string, string>;
}): APIGatewayProxyEvent {
  return {
    body: options.body ?? null,
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    httpMethod: options.method,
    isBase64Encoded: options.isBase64Encoded ?? false,
    path: options.path,
    pathParameters: options.pathParameters ?? null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    resource: options.path,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: options.authorizer === undefined ? undefined : { principalId: options.authorizer.sub, ...options.authorizer },
      protocol: 'HTTP/1.1',
      httpMethod: options.method,
      identity: {} as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/dev${options.path}`,
      stage: 'dev',
      requestId: 'test-request',
      requestTimeEpoch: Date.now(),
      resourceId: 'res',
      resourcePath: options.path,
    },
  };
}
