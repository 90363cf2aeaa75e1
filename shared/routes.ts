// The frame every HTTP handler shares: timing, one log line per request, and errors mapped to responses.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
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

export type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export function route(name: string, run: (event: APIGatewayProxyEvent) => Promise<RouteResult>): ProxyHandler {
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

/** A route behind the authorizer: it runs only with the identity the authorizer established. */
export function authorizedRoute(name: string, run: (caller: CallerIdentity, event: APIGatewayProxyEvent) => Promise<RouteResult>): ProxyHandler {
  return route(name, async (event) => {
    const caller = callerIdentity(event);
    // Reached without the authorizer: a deployment error. Refuse, and say so in the log.
    if (caller === undefined) throw new Error('no authorizer context: is the route behind the authorizer?');
    return run(caller, event);
  });
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
