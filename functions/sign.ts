// POST /auth/token (API key required): issues a token for a subject and stores its label.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { StoreUnavailableError, ValidationError } from '../shared/errors';
import { errorBody, json, parseJsonBody } from '../shared/http';
import { describeError, elapsedMs, log } from '../shared/log';
import { getServices, initServices } from '../shared/services';
import { parseSignRequest } from '../shared/validation';

initServices();

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const started = performance.now();
  const { config, tokens } = getServices();
  try {
    const request = parseSignRequest(parseJsonBody(event), config.tokens);
    const issued = await tokens.issue(request);
    log.info('sign', { outcome: 'issued', jti: issued.jti, sub: issued.sub, ttl: issued.expiresIn, latencyMs: elapsedMs(started) });
    return json(201, { token: issued.token, tokenType: 'Bearer', expiresIn: issued.expiresIn, jti: issued.jti });
  } catch (error) {
    if (error instanceof ValidationError) {
      log.info('sign', { outcome: 'rejected', reason: error.message, latencyMs: elapsedMs(started) });
      return errorBody(400, error.code, error.message);
    }
    log.error('sign', { outcome: 'error', reason: describeError(error), latencyMs: elapsedMs(started) });
    if (error instanceof StoreUnavailableError) {
      return errorBody(503, error.code, 'token store unavailable, try again', { 'Retry-After': '1' });
    }
    return errorBody(500, 'INTERNAL', 'internal error');
  }
};
