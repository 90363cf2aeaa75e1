// The decision both authorizers make (REST TOKEN and HTTP API): signature, claims and the Redis label must
// all hold. One log line per decision, which also carries its CloudWatch metrics.
import { AuthError, TokenRevokedError } from './errors';
import { parseBearer } from './http';
import { describeError, newRequestScope } from './log';
import { logDecision } from './metrics';
import { getServices } from './services';
import type { VerifiedToken } from './tokens';

export type Decision = { allowed: true; token: VerifiedToken } | { allowed: false; reason: string };

/**
 * Allows or refuses the Authorization header's token. Throws only when it cannot decide (Redis or the
 * keyring unavailable, or a bug): the caller must then fail, never allow.
 */
export async function decide(functionName: string, authorization: string | undefined, requestId: string | undefined): Promise<Decision> {
  const scope = newRequestScope(functionName, requestId);
  const started = performance.now();
  try {
    const token = await getServices().tokens.verify(parseBearer(authorization), scope);
    logDecision('info', 'authorize', 'allow', undefined, { outcome: 'allow', jti: token.jti, sub: token.sub }, started, scope);
    return { allowed: true, token };
  } catch (error) {
    if (error instanceof AuthError) {
      const identity = error instanceof TokenRevokedError ? error.identity : {};
      logDecision('info', 'authorize', 'deny', error.code, { outcome: 'deny', reason: error.code, detail: error.message, ...identity }, started, scope);
      return { allowed: false, reason: error.code };
    }
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'string' ? code : 'INTERNAL';
    logDecision('error', 'authorize', 'error', reason, { outcome: 'error', reason, detail: describeError(error) }, started, scope);
    throw error;
  }
}
