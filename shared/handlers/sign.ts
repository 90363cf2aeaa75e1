// POST /auth/token (trusted backends, API key or IAM): starts a session for a subject, with its first access
// token and, when asked, a refresh token.
import type { IssuedToken } from '../auth/tokens';
import { route, type ProxyHandler } from '../http/frame';
import { json, parseJsonBody } from '../http/messages';
import { parseSignRequest } from '../http/validation';
import type { Services } from '../services';
import type { Fields } from '../telemetry/log';

export function signHandler({ config, log, tokens }: Services): ProxyHandler {
  return route(
    'sign',
    async (event, scope) => {
      const issued = await tokens.issue(parseSignRequest(parseJsonBody(event), config.tokens), scope);
      return { response: json(201, signedBody(issued)), log: signedLog(issued) };
    },
    { log },
  );
}

/** The answer to a sign: the access token and, when one was issued, the refresh token. */
export function signedBody(issued: IssuedToken): Record<string, unknown> {
  const refresh = issued.refresh === undefined ? {} : { refreshToken: issued.refresh.token, refreshExpiresIn: issued.refresh.expiresIn };
  return { token: issued.token, tokenType: 'Bearer', expiresIn: issued.expiresIn, jti: issued.jti, sid: issued.sid, ...refresh };
}

/** What a sign's log line says: identities and lifetimes, never a token. */
export function signedLog(issued: IssuedToken): Fields {
  return {
    outcome: 'issued',
    jti: issued.jti,
    sid: issued.sid,
    sub: issued.sub,
    kid: issued.kid,
    ttl: issued.expiresIn,
    refresh: issued.refresh !== undefined,
  };
}
