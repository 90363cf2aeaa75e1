// The frame every HTTP handler shares: timing, one log line per request, and errors mapped to responses.
import type { APIGatewayProxyEvent, APIGatewayProxyEventPathParameters, APIGatewayProxyEventV2WithLambdaAuthorizer, APIGatewayProxyResult } from 'aws-lambda';
import { StoreUnavailableError, ValidationError } from './errors';
import { errorBody } from './http';
import { describeError, elapsedMs, log } from './log';
import { callerIdentity, type CallerIdentity } from './policy';

type LogFields = Record<string, string | number | boolean | undefined>;

/** What a route answers, and what its log line says about it (jti, sub, outcome: never a token). */
export interface RouteResult {
  response: APIGatewayProxyResult;
  log: LogFields;
}

/** A REST API (payload 1.0) route: the trusted routes, which only the REST API serves (they need an API key). */
export type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/**
 * What a route behind an authorizer receives: a REST API event (payload 1.0), or an HTTP API event
 * (payload 2.0) whose Lambda authorizer's context is unchecked until callerIdentity has read it. Both
 * gateways take the same `{ statusCode, headers, body }` answer.
 */
export type AuthorizedProxyEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2WithLambdaAuthorizer<unknown>;
export type AuthorizedProxyHandler = (event: AuthorizedProxyEvent) => Promise<APIGatewayProxyResult>;

/**
 * The request as a route behind an authorizer sees it, the same under both payload versions (2.0 leaves
 * out `body` and `pathParameters` when there are none, where 1.0 has null).
 */
export interface RouteRequest {
  body: string | null;
  isBase64Encoded: boolean;
  pathParameters: APIGatewayProxyEventPathParameters | null;
}

export function route(name: string, run: (event: APIGatewayProxyEvent) => Promise<RouteResult>): ProxyHandler {
  return frame(name, run);
}

/**
 * A route behind an authorizer, served by the REST API, the HTTP API or both: it runs only with the
 * identity the authorizer established.
 */
export function authorizedRoute(name: string, run: (caller: CallerIdentity, request: RouteRequest) => Promise<RouteResult>): AuthorizedProxyHandler {
  return frame(name, async (event: AuthorizedProxyEvent) => {
    const caller = callerIdentity(event);
    // Reached without the authorizer: a deployment error. Refuse, and say so in the log.
    if (caller === undefined) throw new Error('no authorizer context: is the route behind the authorizer?');
    return run(caller, { body: event.body ?? null, isBase64Encoded: event.isBase64Encoded, pathParameters: event.pathParameters ?? null });
  });
}

function frame<E>(name: string, run: (event: E) => Promise<RouteResult>): (event: E) => Promise<APIGatewayProxyResult> {
  return async (event) => {
    const started = performance.now();
    try {
      const result = await run(event);
      log.info(name, { ...result.log, status: result.response.statusCode, latencyMs: elapsedMs(started) });
      return result.response;
    } catch (error) {
      return failure(name, error, started);
    }
  };
}

function failure(name: string, error: unknown, started: number): APIGatewayProxyResult {
  if (error instanceof ValidationError) {
    log.info(name, { outcome: 'rejected', reason: error.message, status: 400, latencyMs: elapsedMs(started) });
    return errorBody(400, error.code, error.message);
  }
  if (error instanceof StoreUnavailableError) {
    log.error(name, { outcome: 'error', reason: describeError(error), status: 503, latencyMs: elapsedMs(started) });
    return errorBody(503, error.code, 'token store unavailable, try again', { 'Retry-After': '1' });
  }
  log.error(name, { outcome: 'error', reason: describeError(error), status: 500, latencyMs: elapsedMs(started) });
  return errorBody(500, 'INTERNAL', 'internal error');
}
