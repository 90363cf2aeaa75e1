// Every function the service deploys, once: its name (the key in serverless.yml, the `Function` metric
// dimension), its entry file, and how to build its handler from a container's services. serverless.yml's
// function list is checked against this table (test/unit/one-source.test.ts); tests, the bench and the
// soak build their containers from it.
import type { Services } from '../services';
import { authorizerHandler } from './authorizer';
import { demoLoginHandler } from './demo-login';
import { endSessionHandler } from './end-session';
import { httpAuthorizerHandler } from './http-authorizer';
import { introspectHandler } from './introspect';
import { jwksHandler } from './jwks';
import { listSessionsHandler } from './list-sessions';
import { logoutHandler } from './logout';
import { logoutAllHandler } from './logout-all';
import { meHandler } from './me';
import { refreshHandler } from './refresh';
import { revokeHandler } from './revoke';
import { revokeAllHandler } from './revoke-all';
import { signHandler } from './sign';

/**
 * `keys`, the key material each function holds: the signing keys (`signing`: it signs), the verifying keys only
 * (`verifying`: the public keys of an ES256 or EdDSA ring; with HS256 the secret, which is both), the public keys
 * only (`public`: those of an ES256 or EdDSA ring, to publish; with HS256 nothing, as there is none), or none.
 * `target`, where it is deployed: `local` for a development aid that must never reach AWS (serverless.yml takes
 * its definition from deploy/local.yml); every target when unset.
 */
export const FUNCTIONS = {
  sign: { entry: 'functions/sign.ts', keys: 'signing', create: signHandler },
  refresh: { entry: 'functions/refresh.ts', keys: 'signing', create: refreshHandler },
  logout: { entry: 'functions/logout.ts', keys: 'none', create: logoutHandler },
  me: { entry: 'functions/me.ts', keys: 'none', create: (services: Services) => meHandler({ corsOrigins: services.config.corsOrigins, log: services.log }) },
  logoutAll: { entry: 'functions/logout-all.ts', keys: 'none', create: logoutAllHandler },
  listSessions: { entry: 'functions/list-sessions.ts', keys: 'none', create: listSessionsHandler },
  endSession: { entry: 'functions/end-session.ts', keys: 'none', create: endSessionHandler },
  revoke: { entry: 'functions/revoke.ts', keys: 'none', create: revokeHandler },
  introspect: { entry: 'functions/introspect.ts', keys: 'verifying', create: introspectHandler },
  jwks: { entry: 'functions/jwks.ts', keys: 'public', create: jwksHandler },
  authorizer: { entry: 'functions/authorizer.ts', keys: 'verifying', create: authorizerHandler },
  httpAuthorizer: { entry: 'functions/http-authorizer.ts', keys: 'verifying', create: httpAuthorizerHandler },
  revokeAll: { entry: 'functions/revoke-all.ts', keys: 'none', create: revokeAllHandler },
  // Signs a demo user in without a password: npm start's demo page.
  demoLogin: { entry: 'functions/demo-login.ts', keys: 'signing', target: 'local', create: demoLoginHandler },
} as const;

export type FunctionName = keyof typeof FUNCTIONS;

/** serverless.yml's `target` param: deploy/<target>.yml. */
export type Target = 'local' | 'aws';

/** The functions deployed on `target`. */
export function functionsOn(target: Target): FunctionName[] {
  return (Object.keys(FUNCTIONS) as FunctionName[]).filter((name) => {
    const row = FUNCTIONS[name];
    return !('target' in row) || row.target === target;
  });
}

/** Every handler of one container, built on `services`. */
export type Handlers = { [Name in FunctionName]: ReturnType<(typeof FUNCTIONS)[Name]['create']> };

export function createHandlers(services: Services): Handlers {
  const handlers: Partial<Record<FunctionName, unknown>> = {};
  for (const [name, { create }] of Object.entries(FUNCTIONS) as Array<[FunctionName, { create: (services: Services) => unknown }]>) {
    handlers[name] = create(services);
  }
  return handlers as Handlers;
}
