// The decision both authorizers make (REST TOKEN and HTTP API): signature, claims and the Redis label must
// all hold. One log line per decision, which also carries its CloudWatch metrics.
import { AuthError, TokenRevokedError } from '../errors';
import { parseBearer } from '../http/messages';
import { describeError, newRequestScope, type Logger } from '../telemetry/log';
import { writeRequestLine } from '../telemetry/metrics';
import type { TokenService, VerifiedToken } from './tokens';

export type Decision = { allowed: true; token: VerifiedToken } | { allowed: false; reason: string };

/**
 * Allows or refuses an Authorization header's token, as `functionName`'s decision. Throws only when it
 * cannot decide (Redis or the keyring unavailable, or a bug): the caller must then fail, never allow.
 */
export type Decide = (authorization: string | undefined, requestId: string | undefined) => Promise<Decision>;

export function decider(tokens: TokenService, log: Logger, functionName: string): Decide {
  return async (authorization, requestId) => {
    const scope = newRequestScope(log, functionName, requestId);
    const started = performance.now();
    try {
      const token = await tokens.verify(parseBearer(authorization), scope);
      writeRequestLine(
        'info',
        { message: 'authorize', outcome: 'allow', fields: { outcome: 'allow', jti: token.jti, sid: token.sid, sub: token.sub } },
        started,
        scope,
      );
      return { allowed: true, token };
    } catch (error) {
      if (error instanceof AuthError) {
        const identity = error instanceof TokenRevokedError ? error.identity : {};
        writeRequestLine(
          'info',
          { message: 'authorize', outcome: 'deny', reason: error.code, fields: { outcome: 'deny', reason: error.code, detail: error.message, ...identity } },
          started,
          scope,
        );
        return { allowed: false, reason: error.code };
      }
      const code = (error as { code?: unknown }).code;
      const reason = typeof code === 'string' ? code : 'INTERNAL';
      writeRequestLine(
        'error',
        { message: 'authorize', outcome: 'error', reason, fields: { outcome: 'error', reason, detail: describeError(error) } },
        started,
        scope,
      );
      throw error;
    }
  };
}
