// @ts-check
// CORS for browser apps, from CORS_ORIGINS (shared/config.ts: loadCorsOrigins). serverless.yml reads these
// exports as `${file(./deploy/cors.js):name}` at package time; scripts/local-gateway.js applies the same
// rules under `npm start`. Unset or empty, every export is "none", and the template holds no CORS at all.
//
// CORS applies to the browser routes alone: the Bearer routes, which a browser app calls with its user's token,
// POST /auth/refresh, which it calls with its refresh token, the public keys (GET /.well-known/jwks.json), and on the
// local target the demo page's POST /demo/login. The trusted
// routes (POST /auth/token, /auth/revoke and /auth/introspect) are called server to server with a secret a browser must never
// hold: they get no preflight, so no browser can send them their API key.
'use strict';

/**
 * The browser routes, as the HTTP API serves them (the REST API under /<stage>). test/e2e/cors-template.test.ts
 * checks this list against the local target's packaged template: exactly the routes behind an authorizer, refresh,
 * the JWKS and the demo login.
 * @type {ReadonlyArray<{ method: 'GET' | 'POST' | 'DELETE', path: string }>}
 */
const BROWSER_ROUTES = [
  { method: 'GET', path: '/me' },
  { method: 'POST', path: '/auth/logout' },
  { method: 'POST', path: '/auth/logout-all' },
  { method: 'GET', path: '/auth/sessions' },
  { method: 'DELETE', path: '/auth/sessions/{sid}' },
  { method: 'POST', path: '/auth/refresh' },
  { method: 'GET', path: '/.well-known/jwks.json' },
  // The local target's only (deploy/local.yml): elsewhere nothing is served at this path.
  { method: 'POST', path: '/demo/login' },
];

/** What a browser app sends: its token, and a JSON body. */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type'];

/**
 * The allowed origins, validated by the functions' own code, so that packaging, `npm start` and a cold
 * start accept exactly the same values. shared/config.ts is TypeScript: tsx (a development dependency, as
 * serverless is) loads it, and only when a value is to be read.
 * @param {string | undefined} raw the value of CORS_ORIGINS
 * @returns {string[]}
 */
function parseOrigins(raw) {
  /** @type {typeof import('../shared/config')} */
  const config = require('tsx/cjs/api').require('../shared/config.ts', __filename);
  return config.loadCorsOrigins({ CORS_ORIGINS: raw });
}

/**
 * @typedef {{ resolveVariable: (variable: string) => Promise<unknown> }} Resolver
 * @param {Resolver} resolver
 */
async function configuredOrigins({ resolveVariable }) {
  const raw = await resolveVariable("env:CORS_ORIGINS, ''");
  return parseOrigins(typeof raw === 'string' ? raw : undefined);
}

/**
 * `cors` of each browser route's `http` event: an OPTIONS method answering the preflight (a MOCK
 * integration). The responses themselves get their header from the Lambda (shared/http/cors.ts).
 * @param {Resolver} resolver
 */
async function restCors(resolver) {
  const origins = await configuredOrigins(resolver);
  return origins.length === 0 ? false : { origins, headers: ALLOWED_HEADERS, allowCredentials: false };
}

/** `provider.httpApi.cors`: the HTTP API answers preflights and sets the headers itself. @param {Resolver} resolver */
async function httpApiCors(resolver) {
  const origins = await configuredOrigins(resolver);
  return origins.length === 0 ? false : { allowedOrigins: origins, allowedHeaders: ALLOWED_HEADERS, allowCredentials: false };
}

/**
 * Merged into serverless.yml's gateway responses, so that a browser can read the REST API's own errors (a
 * refused token above all). A gateway response is one per API, for every route and origin: with one origin
 * it names that origin; with several it can only echo the request's Origin, whichever it is. Those bodies
 * hold nothing secret (error type and message), and no credentials mode is allowed, so echoing gives any
 * page no more than a request from outside a browser would. A wrong API key has its own response, without
 * CORS, in serverless.yml.
 * @param {Resolver} resolver
 */
async function gatewayResponses(resolver) {
  const origins = await configuredOrigins(resolver);
  // Nothing to merge (serverless takes a null here for a value it could not find).
  if (origins.length === 0) return {};
  const ResponseParameters =
    origins.length === 1
      ? { 'gatewayresponse.header.Access-Control-Allow-Origin': `'${origins[0]}'` }
      : {
          'gatewayresponse.header.Access-Control-Allow-Origin': 'method.request.header.Origin',
          'gatewayresponse.header.Vary': "'Origin'",
        };
  // Not ACCESS_DENIED: the TOKEN authorizer refuses with 401 (UNAUTHORIZED), never with a Deny policy, so a
  // 403 ACCESS_DENIED only ever answers IAM on the trusted routes, which no browser may call.
  const names = ['UnauthorizedGatewayResponse', 'Default4xxGatewayResponse', 'Default5xxGatewayResponse'];
  return { Resources: Object.fromEntries(names.map((name) => [name, { Properties: { ResponseParameters: { ...ResponseParameters } } }])) };
}

module.exports = { BROWSER_ROUTES, ALLOWED_HEADERS, parseOrigins, restCors, httpApiCors, gatewayResponses };
