// POST /auth/logout (behind the authorizer): destroys the presented token's label, so it is dead at once.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { StoreUnavailableError } from '../shared/errors';
import { errorBody, noContent } from '../shared/http';
import { describeError, elapsedMs, log } from '../shared/log';
import { callerIdentity } from '../shared/policy';
import { getServices, initServices } from '../shared/services';

initServices();

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const started = performance.now();
  const caller = callerIdentity(event);
  if (caller === undefined) {
    log.error('logout', { outcome: 'error', reason: 'no authorizer context: is the route behind the authorizer?' });
    return errorBody(500, 'INTERNAL', 'internal error');
  }
  try {
    const existed = await getServices().sessions.end(caller.jti);
    log.info('logout', { outcome: existed ? 'revoked' : 'already-gone', jti: caller.jti, sub: caller.sub, latencyMs: elapsedMs(started) });
    return noContent();
  } catch (error) {
    log.error('logout', { outcome: 'error', jti: caller.jti, sub: caller.sub, reason: describeError(error), latencyMs: elapsedMs(started) });
    if (error instanceof StoreUnavailableError) {
      return errorBody(503, error.code, 'token store unavailable, try again', { 'Retry-After': '1' });
    }
    return errorBody(500, 'INTERNAL', 'internal error');
  }
};
