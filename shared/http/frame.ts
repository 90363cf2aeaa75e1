// The frame every HTTP handler shares: timing, one log line per request, and errors mapped to responses.
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventPathParameters,
  APIGatewayProxyEventV2WithLambdaAuthorizer,
  APIGatewayProxyResult,
  Context,
} from 'aws-lambda';
import { requestOrigin, withCors } from './cors';
import { AuthError, KeyringUnavailableError, RefreshTokenInvalidError, SessionLimitError, StoreUnavailableError, ValidationError } from '../errors';
import { errorBody } from './messages';
import { describeError, newRequestScope, type Fields, type Logger, type RequestScope } from '../telemetry/log';
import { writeRequestLine } from '../telemetry/metrics';
import { callerIdentity, type CallerIdentity } from '../auth/policy';

/** What a route answers, and what its log line says about it (jti, sub, outcome: never a token). */
export interface RouteResult {
  response: APIGatewayProxyResult;
  log: Fields;
}

/** A REST API (payload 1.0) route: the trusted routes, which only the REST API serves (they need an API key). */
export type ProxyHandler = (event: APIGatewayProxyEvent, context?: Pick<Context, 'awsRequestId'>) => Promise<APIGatewayProxyResult>;

/**
 * What a route behind an authorizer receives: a REST API event (payload 1.0), or an HTTP API event
 * (payload 2.0) whose Lambda authorizer's context is unchecked until callerIdentity has read it. Both
 * gateways take the same `{ statusCode, headers, body }` answer.
 */
export type AuthorizedProxyEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2WithLambdaAuthorizer<unknown>;
export type AuthorizedProxyHandler = (event: AuthorizedProxyEvent, context?: Pick<Context, 'awsRequestId'>) => Promise<APIGatewayProxyResult>;

/**
 * The request as a route behind an authorizer sees it, the same under both payload versions (2.0 leaves
 * out `body` and `pathParameters` when there are none, where 1.0 has null).
 */
export interface RouteRequest {
  body: string | null;
  isBase64Encoded: boolean;
  pathParameters: APIGatewayProxyEventPathParameters | null;
}

export interface RouteOptions {
  /** The container's logger, which writes each request's line. */
  log: Logger;
}

/** `scope` is the invocation's: pass it to the services, so its Redis time shows in the request's metrics. */
export function route(name: string, run: (event: APIGatewayProxyEvent, scope: RequestScope) => Promise<RouteResult>, { log }: RouteOptions): ProxyHandler {
  return frame(name, log, run);
}

export interface AuthorizedRouteOptions extends RouteOptions {
  /** Browser origins that may read the answers (CORS_ORIGINS, as `Config.corsOrigins`). */
  corsOrigins: readonly string[];
}

/**
 * A route behind an authorizer, served by the REST API, the HTTP API or both: it runs only with the
 * identity the authorizer established. These are the routes a browser app calls, so their answers, errors
 * included, carry CORS headers for the allowed origins.
 */
export function authorizedRoute(
  name: string,
  run: (caller: CallerIdentity, request: RouteRequest, scope: RequestScope) => Promise<RouteResult>,
  { corsOrigins, log }: AuthorizedRouteOptions,
): AuthorizedProxyHandler {
  const handle = frame(name, log, async (event: AuthorizedProxyEvent, scope) => {
    const caller = callerIdentity(event);
    // Reached without the authorizer: a deployment error. Refuse, and say so in the log.
    if (caller === undefined) throw new Error('no authorizer context: is the route behind the authorizer?');
    return run(caller, { body: event.body ?? null, isBase64Encoded: event.isBase64Encoded, pathParameters: event.pathParameters ?? null }, scope);
  });
  return async (event, context) => withCors(await handle(event, context), corsOrigins, requestOrigin(event.headers));
}

/** Who sent a request, as the gateway saw it. Descriptive only: nothing may be decided on it. */
export interface RequestSource {
  ip: string | undefined;
  userAgent: string | undefined;
}

/** What a public route receives: the request, and where it came from. */
export interface PublicRouteRequest extends RouteRequest {
  source: RequestSource;
}

/**
 * A route that needs no authorizer and no API key, on both APIs, called by browsers: its body is its credential
 * (a refresh token). Its answers carry CORS headers as the Bearer routes' do.
 */
export function publicRoute(
  name: string,
  run: (request: PublicRouteRequest, scope: RequestScope) => Promise<RouteResult>,
  { corsOrigins, log }: AuthorizedRouteOptions,
): AuthorizedProxyHandler {
  const handle = frame(name, log, async (event: AuthorizedProxyEvent, scope) =>
    run(
      { body: event.body ?? null, isBase64Encoded: event.isBase64Encoded, pathParameters: event.pathParameters ?? null, source: requestSource(event) },
      scope,
    ),
  );
  return async (event, context) => withCors(await handle(event, context), corsOrigins, requestOrigin(event.headers));
}

/** Payload 2.0 says it in requestContext.http, 1.0 in requestContext.identity (which a test event may leave empty). */
function requestSource(event: AuthorizedProxyEvent): RequestSource {
  const said: { sourceIp?: unknown; userAgent?: unknown } | undefined =
    'http' in event.requestContext ? event.requestContext.http : event.requestContext.identity;
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  return { ip: text(said?.sourceIp), userAgent: text(said?.userAgent) };
}

function frame<E>(
  name: string,
  log: Logger,
  run: (event: E, scope: RequestScope) => Promise<RouteResult>,
): (event: E, context?: Pick<Context, 'awsRequestId'>) => Promise<APIGatewayProxyResult> {
  return async (event, context) => {
    const scope = newRequestScope(log, name, context?.awsRequestId);
    const started = performance.now();
    try {
      const result = await run(event, scope);
      const { statusCode } = result.response;
      writeRouteLine('info', name, { ...result.log, status: statusCode }, started, scope);
      return result.response;
    } catch (error) {
      return failure(name, error, started, scope);
    }
  };
}

/** The one line per request: what happened, and the same as CloudWatch metrics (by outcome and status). */
function writeRouteLine(level: 'info' | 'error', name: string, fields: Fields & { status: number }, started: number, scope: RequestScope): void {
  const outcome = typeof fields.outcome === 'string' ? fields.outcome : 'done';
  writeRequestLine(level, { message: name, outcome, reason: String(fields.status), fields }, started, scope);
}

function failure(name: string, error: unknown, started: number, scope: RequestScope): APIGatewayProxyResult {
  if (error instanceof ValidationError) {
    writeRouteLine('info', name, { outcome: 'rejected', reason: error.message, status: 400 }, started, scope);
    return errorBody(400, error.code, error.message);
  }
  if (error instanceof AuthError) {
    // The reason stays in the log: the answer is the same for every one of them.
    const identity = error instanceof RefreshTokenInvalidError ? { reason: error.reason, ...error.identity } : { reason: error.code };
    writeRouteLine('info', name, { outcome: 'refused', ...identity, status: 401 }, started, scope);
    return errorBody(401, error.code, error.message, { 'WWW-Authenticate': 'Bearer' });
  }
  if (error instanceof SessionLimitError) {
    writeRouteLine('info', name, { outcome: 'refused', reason: error.message, status: 409 }, started, scope);
    return errorBody(409, error.code, error.message);
  }
  if (error instanceof StoreUnavailableError || error instanceof KeyringUnavailableError) {
    writeRouteLine('error', name, { outcome: 'error', reason: describeError(error), status: 503 }, started, scope);
    const what = error instanceof StoreUnavailableError ? 'token store' : 'signing keys';
    return errorBody(503, error.code, `${what} unavailable, try again`, { 'Retry-After': '1' });
  }
  writeRouteLine('error', name, { outcome: 'error', reason: describeError(error), status: 500 }, started, scope);
  return errorBody(500, 'INTERNAL', 'internal error');
}
