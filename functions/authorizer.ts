// REST API TOKEN authorizer: signature, claims and the Redis label must all hold.
import type { APIGatewayAuthorizerResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { AuthError, TokenRevokedError } from '../shared/errors';
import { parseBearer } from '../shared/http';
import { describeError, elapsedMs, log } from '../shared/log';
import { allowPolicy } from '../shared/policy';
import { getServices, initServices } from '../shared/services';

initServices();

export const handler = async (event: APIGatewayTokenAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const started = performance.now();
  const { tokens } = getServices();
  try {
    const verified = await tokens.verify(parseBearer(event.authorizationToken));
    log.info('authorize', { outcome: 'allow', jti: verified.jti, sub: verified.sub, latencyMs: elapsedMs(started) });
    return allowPolicy(verified, event.methodArn);
  } catch (error) {
    if (error instanceof AuthError) {
      const identity = error instanceof TokenRevokedError ? error.identity : {};
      log.info('authorize', { outcome: 'deny', reason: error.code, detail: error.message, ...identity, latencyMs: elapsedMs(started) });
      // ! API Gateway answers 401 only for this exact message; any other error becomes a 500.
      throw new Error('Unauthorized');
    }
    // Redis trouble or a bug: fail closed with a 500, never an Allow and never a misleading 401.
    log.error('authorize', { outcome: 'error', reason: describeError(error), latencyMs: elapsedMs(started) });
    throw error;
  }
};
