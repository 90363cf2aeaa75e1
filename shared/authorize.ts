// The decision both authorizers make (REST TOKEN and HTTP API): signature, claims and the Redis label must
// all hold. One log line per decision, which also carries its CloudWatch metrics.
import { AuthError, TokenRevokedError } from './errors';
import { parseBearer } from './http';
import { currentScope, describeError, elapsedMs, inRequestScope, log, type Fields } from './log';
import { decisionMetrics } from './metrics';
import { getServices } from './services';
import type { VerifiedToken } from './tokens';

export type Decision = { allowed: true; token: VerifiedToken } | { allowed: false; reason: string };

/**
 * Allows or refuses the Authorization header's token. Throws only when it cannot decide (Redis or the
 * keyring unavailable, or a bug): the caller must then fail, never allow.
 */
export function decide(functionName: string, authorization: string | undefined, requestId: string | undefined): Promise<Decision> {
  return inRequestScope(functionName, requestId, async () => {
    const started = performance.now();
    try {
      const token = await getServices().tokens.verify(parseBearer(authorization));
      writeDecision('info', 'allow', undefined, { jti: token.jti, sub: token.sub }, started);
      return { allowed: true, token };
    } catch (error) {
      if (error instanceof AuthError) {
        const identity = error instanceof TokenRevokedError ? error.identity : {};
        writeDecision('info', 'deny', error.code, { detail: error.message, ...identity }, started);
        return { allowed: false, reason: error.code };
      }
      const code = (error as { code?: unknown }).code;
      writeDecision('error', 'error', typeof code === 'string' ? code : 'INTERNAL', { detail: describeError(error) }, started);
      throw error;
    }
  });
}

function writeDecision(level: 'info' | 'error', outcome: string, reason: string | undefined, fields: Fields, started: number): void {
  const latencyMs = elapsedMs(started);
  const scope = currentScope();
  const emf = scope === undefined ? undefined : decisionMetrics(scope, outcome, reason, latencyMs);
  log.metrics(level, 'authorize', { outcome, reason, ...fields, latencyMs }, emf);
}
