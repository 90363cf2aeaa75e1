// GET /me (behind the authorizer): returns the identity the authorizer established.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { errorBody, json } from '../shared/http';
import { log } from '../shared/log';
import { callerIdentity } from '../shared/policy';

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const caller = callerIdentity(event);
  if (caller === undefined) {
    log.error('me', { outcome: 'error', reason: 'no authorizer context: is the route behind the authorizer?' });
    return errorBody(500, 'INTERNAL', 'internal error');
  }
  return json(200, {
    sub: caller.sub,
    jti: caller.jti,
    issuedAt: caller.iat,
    expiresAt: caller.exp,
    claims: caller.claims,
  });
};
