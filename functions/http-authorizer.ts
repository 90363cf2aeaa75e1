// HTTP API Lambda authorizer (payload 2.0, simple responses): the same checks as the REST API's TOKEN
// authorizer (signature, claims and the Redis label), answered as `{ isAuthorized }`.
import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { AuthError, TokenRevokedError } from '../shared/errors';
import { parseBearer } from '../shared/http';
import { describeError, elapsedMs, log } from '../shared/log';
import { authorizerContext, type AuthorizerContext } from '../shared/policy';
import { getServices, initServices } from '../shared/services';

initServices();

export type HttpAuthorizerResult = { isAuthorized: false } | APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext>;

export const handler = async (event: APIGatewayRequestAuthorizerEventV2): Promise<HttpAuthorizerResult> => {
  const started = performance.now();
  const { tokens } = getServices();
  try {
    const verified = await tokens.verify(parseBearer(authorizationHeader(event.headers)));
    log.info('authorize', { api: 'http', outcome: 'allow', jti: verified.jti, sub: verified.sub, latencyMs: elapsedMs(started) });
    // The routes read this at requestContext.authorizer.lambda.
    return { isAuthorized: true, context: authorizerContext(verified) };
  } catch (error) {
    if (error instanceof AuthError) {
      const identity = error instanceof TokenRevokedError ? error.identity : {};
      log.info('authorize', { api: 'http', outcome: 'deny', reason: error.code, detail: error.message, ...identity, latencyMs: elapsedMs(started) });
      // The HTTP API answers 403 Forbidden. (A request without the header never gets here: the identity
      // source is required, and API Gateway answers 401 Unauthorized itself.)
      return { isAuthorized: false };
    }
    // Redis trouble or a bug: throw, and the HTTP API answers 500. Never an allow.
    log.error('authorize', { api: 'http', outcome: 'error', reason: describeError(error), latencyMs: elapsedMs(started) });
    throw error;
  }
};

/**
 * The Authorization header's value. The HTTP API lowercases header names in payload 2.0 and joins repeated
 * headers with commas; serverless offline passes names as the client spelt them, so match any case, and join
 * as AWS does (parseBearer refuses a joined value).
 */
function authorizationHeader(headers: Record<string, string | undefined> | undefined): string | undefined {
  const values = Object.entries(headers ?? {})
    .filter(([name, value]) => name.toLowerCase() === 'authorization' && value !== undefined)
    .map(([, value]) => value);
  return values.length === 0 ? undefined : values.join(',');
}
