// A Lambda container inside a jest worker: the handler modules loaded afresh (their own services, their own
// Redis connection) with a given environment, as a cold start with that configuration would.
import type { Services } from '../shared/services';
import { CONFIG_VARIABLES } from './config-variables';

export interface Container {
  sign: typeof import('../functions/sign').handler;
  authorizer: typeof import('../functions/authorizer').handler;
  httpAuthorizer: typeof import('../functions/http-authorizer').handler;
  me: typeof import('../functions/me').handler;
  logout: typeof import('../functions/logout').handler;
  logoutAll: typeof import('../functions/logout-all').handler;
  listSessions: typeof import('../functions/list-sessions').handler;
  endSession: typeof import('../functions/end-session').handler;
  revoke: typeof import('../functions/revoke').handler;
  revokeAll: typeof import('../functions/revoke-all').handler;
  services: () => Services;
  resetServices: typeof import('../shared/services').resetServices;
}

/** Loads the handlers as a new container would with `env`. Throws what the cold start throws. */
export function coldStart(env: Record<string, string>): Container {
  let loaded: Container | undefined;
  const saved = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete process.env[name];
  Object.assign(process.env, env);
  try {
    jest.isolateModules(() => {
      const services = require('../shared/services') as typeof import('../shared/services');
      loaded = {
        sign: require('../functions/sign').handler,
        authorizer: require('../functions/authorizer').handler,
        httpAuthorizer: require('../functions/http-authorizer').handler,
        me: require('../functions/me').handler,
        logout: require('../functions/logout').handler,
        logoutAll: require('../functions/logout-all').handler,
        listSessions: require('../functions/list-sessions').handler,
        endSession: require('../functions/end-session').handler,
        revoke: require('../functions/revoke').handler,
        revokeAll: require('../functions/revoke-all').handler,
        services: services.getServices,
        resetServices: services.resetServices,
      };
    });
  } finally {
    process.env = saved;
  }
  if (loaded === undefined) throw new Error('handlers did not load');
  return loaded;
}
