// Realistic API Gateway HTTP API (payload 2.0) events for calling handlers directly: lowercased header
// names, no `body` or `pathParameters` when there are none, the Lambda authorizer's context under `lambda`.
import type { APIGatewayEventRequestContextV2, APIGatewayProxyEventV2WithLambdaAuthorizer, APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';

export const ROUTE_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/GET/me';

function requestContext(method: string, path: string): APIGatewayEventRequestContextV2 {
  return {
    accountId: '123456789012',
    apiId: 'abc123',
    domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
    domainPrefix: 'abc123',
    http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'test' },
    requestId: 'test-request',
    routeKey: `${method} ${path}`,
    stage: '$default',
    time: '01/Jan/2026:00:00:00 +0000',
    timeEpoch: Date.now(),
  };
}

/** What the HTTP API sends the authorizer; `headers` as given (API Gateway itself lowercases their names). */
export function httpAuthorizerEvent(headers: Record<string, string> = {}): APIGatewayRequestAuthorizerEventV2 {
  const authorization = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: ROUTE_ARN,
    identitySource: authorization === undefined ? [] : [authorization],
    routeKey: 'GET /me',
    rawPath: '/me',
    rawQueryString: '',
    cookies: [],
    headers,
    requestContext: requestContext('GET', '/me'),
  };
}

export function proxyEventV2(options: {
  method: string;
  path: string;
  /** The authorizer's context, delivered under requestContext.authorizer.lambda; omit for a route reached without it. */
  lambda?: unknown;
  body?: string;
  isBase64Encoded?: boolean;
  pathParameters?: Record<string, string>;
}): APIGatewayProxyEventV2WithLambdaAuthorizer<unknown> {
  const event = {
    version: '2.0',
    routeKey: `${options.method} ${options.path}`,
    rawPath: options.path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', authorization: 'Bearer (not read by the routes)' },
    requestContext: {
      ...requestContext(options.method, options.path),
      ...(options.lambda === undefined ? {} : { authorizer: { lambda: options.lambda } }),
    },
    isBase64Encoded: options.isBase64Encoded ?? false,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.pathParameters === undefined ? {} : { pathParameters: options.pathParameters }),
  };
  // Without `lambda` this is a route reached without the authorizer, which the type does not allow for.
  return event as APIGatewayProxyEventV2WithLambdaAuthorizer<unknown>;
}
