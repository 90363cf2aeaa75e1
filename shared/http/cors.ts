// CORS headers on the browser routes' answers (the Bearer routes and POST /auth/refresh). The REST API passes a Lambda proxy response through as it is,
// so there the Lambda must say which origin may read it; the HTTP API replaces these with its own
// CorsConfiguration (serverless.yml), which allows the same origins.
import type { APIGatewayProxyResult } from 'aws-lambda';

type Headers = Readonly<Record<string, string | undefined>> | null | undefined;

/** The request's Origin header: REST API events keep the client's spelling, HTTP API events lowercase it. */
export function requestOrigin(headers: Headers): string | undefined {
  if (headers === null || headers === undefined) return undefined;
  const name = Object.keys(headers).find((key) => key.toLowerCase() === 'origin');
  return name === undefined ? undefined : headers[name];
}

/**
 * The response, readable by the browser at `origin` when that origin is allowed. With any origin allowed,
 * the answer depends on Origin: `Vary: Origin` tells caches so, whether this one was allowed or not.
 */
export function withCors(response: APIGatewayProxyResult, allowedOrigins: readonly string[], origin: string | undefined): APIGatewayProxyResult {
  if (allowedOrigins.length === 0) return response;
  const headers: Record<string, string | number | boolean> = { ...response.headers, Vary: 'Origin' };
  if (origin !== undefined && allowedOrigins.includes(origin)) headers['Access-Control-Allow-Origin'] = origin;
  return { ...response, headers };
}
