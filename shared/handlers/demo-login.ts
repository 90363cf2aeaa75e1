// POST /demo/login, on the local target only (npm start's demo page): signs one of a few demo users in without a
// password, as POST /auth/token would with a refresh token, naming the session after the browser that asked.
import { ConfigError } from '../errors';
import { publicRoute, type AuthorizedProxyHandler } from '../http/frame';
import { json, parseJsonBody } from '../http/messages';
import { deviceLabel, isClientIp, parseDemoLoginRequest, parseSignRequest } from '../http/validation';
import type { Services } from '../services';
import { signedBody, signedLog } from './sign';

/** Who may sign in on the demo page. Their subjects are `demo:<name>`, so no real user can be signed in here. */
export const DEMO_USERS = ['alice', 'bob', 'carol'] as const;

export function demoLoginHandler({ config, log, tokens }: Services): AuthorizedProxyHandler {
  return publicRoute(
    'demoLogin',
    async (request, scope) => {
      // Only the local target defines this function. Should a local package reach AWS anyway, it signs no one in
      // (a 500, the log saying why) rather than hand out sessions without a password.
      if (!config.offline) throw new ConfigError('demoLogin runs only under serverless offline (npm start): it signs users in without a password');
      const username = parseDemoLoginRequest(parseJsonBody(request), DEMO_USERS);
      const { userAgent, ip } = request.source;
      const device = userAgent === undefined ? undefined : deviceLabel(userAgent);
      const session = { ...(device === undefined ? {} : { device }), ...(isClientIp(ip) ? { ip } : {}) };
      // Through sign's own parser: the demo's session is one POST /auth/token would have accepted.
      const issued = await tokens.issue(parseSignRequest({ sub: `demo:${username}`, refresh: true, session }, config.tokens), scope);
      return { response: json(201, signedBody(issued)), log: signedLog(issued) };
    },
    { corsOrigins: config.corsOrigins, log },
  );
}
