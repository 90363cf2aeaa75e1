// @ts-check
// What `npm start` puts on PORT in front of serverless offline: API Gateway's CORS rules, which offline gets
// wrong (it echoes any Origin, with credentials, on every response, and overrides the handlers' headers).
// Everything else passes through untouched and streamed: status, headers, body.
//
//   - a request whose Host is not this gateway's own loopback address (localhost, 127.0.0.1 or [::1], with the port
//     it listens on) is answered 421 and goes no further: a web page whose name an attacker rebinds to 127.0.0.1
//     (DNS rebinding) would otherwise share this origin, and call the API and the demo login and read the answers;
//   - every Access-Control-* header offline added is dropped;
//   - the request header sls-offline-authorizer-override is dropped: offline would put its JSON in place of
//     the authorizer's context, so one valid token plus that header would act as any user;
//   - with CORS_ORIGINS set, on the browser routes only (deploy/cors.js), under /<stage> (REST API) and at
//     the root (HTTP API): a preflight from an allowed origin is answered here, as API Gateway would, and
//     a response gets Access-Control-Allow-Origin for an allowed origin, and `Vary: Origin`;
//   - GET and HEAD of a static file's path (the demo page, scripts/demo-page.js) are answered here: the page
//     then shares the HTTP API's origin, and calls it without CORS.
'use strict';
const { createServer, request, Agent } = require('node:http');
const { pipeline } = require('node:stream');
const { BROWSER_ROUTES, ALLOWED_HEADERS } = require('../deploy/cors.js');

/** Connection-level headers: each hop sets its own. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);
/** Offline's switch to replace the authorizer's context with the header's JSON (src/events/http). */
const AUTHORIZER_OVERRIDE = 'sls-offline-authorizer-override';
/**
 * The static files' headers. The page and its script come from here alone, and it calls this origin alone: a
 * script injected into it could neither load code nor call anything elsewhere.
 */
const STATIC_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/**
 * The names the gateway answers to, each with its port, as a browser, curl and Node write them in Host. A browser
 * sends the name of the URL it calls: a page whose name was rebound to 127.0.0.1 sends its own
 * (evil.example.com:3000) and is refused; no other site's page is served under these names.
 */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** @typedef {{ type: string, body: Buffer }} StaticFile */

/**
 * @param {{ upstreamPort: number, stage: string, origins: readonly string[], files?: ReadonlyMap<string, StaticFile> }} options
 *   upstreamPort: serverless offline's HTTP port; stage: the REST API's; origins: CORS_ORIGINS, parsed;
 *   files: what to serve at these exact paths instead of passing the request on (GET and HEAD only)
 * @returns {import('node:http').Server} not yet listening
 */
function createLocalGateway({ upstreamPort, stage, origins, files = new Map() }) {
  const agent = new Agent({ keepAlive: true });
  return createServer((req, res) => {
    const port = req.socket.localPort ?? 0;
    if (!isOwnHost(req.headers.host, port)) {
      res.writeHead(421, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(
        JSON.stringify({
          error: 'MISDIRECTED_REQUEST',
          message: `npm start answers requests for ${LOOPBACK_NAMES.map((name) => `${name}:${port}`).join(', ')} only`,
        }),
      );
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const file = req.method === 'GET' || req.method === 'HEAD' ? files.get(pathname) : undefined;
    if (file !== undefined) {
      res.writeHead(200, { ...STATIC_HEADERS, 'Content-Type': file.type, 'Content-Length': file.body.length });
      res.end(req.method === 'HEAD' ? undefined : file.body);
      return;
    }
    const origin = req.headers.origin;
    const methods = browserMethods(pathname, stage);
    const cors = origins.length > 0 && methods.length > 0;
    const allowed = cors && origin !== undefined && origins.includes(origin);

    if (cors && req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      // Only an allowed origin hears which methods and headers it may use; any other is refused by its browser.
      res.writeHead(204, {
        Vary: 'Origin',
        ...(allowed && {
          'Access-Control-Allow-Origin': origin,
          'Access-Control-Allow-Methods': ['OPTIONS', ...methods].join(','),
          'Access-Control-Allow-Headers': ALLOWED_HEADERS.join(','),
        }),
      });
      res.end();
      return;
    }

    // Node has already lowercased the names and merged repeats into one entry: this drops every spelling and copy.
    const { [AUTHORIZER_OVERRIDE]: _override, ...headers } = req.headers;
    const upstream = request({ host: 'localhost', port: upstreamPort, method: req.method, path: req.url, headers, agent }, (answer) => {
      /** @type {string[]} */
      const headers = [];
      const raw = answer.rawHeaders;
      for (let index = 0; index < raw.length; index += 2) {
        const name = String(raw[index]);
        const lower = name.toLowerCase();
        if (HOP_BY_HOP.has(lower) || lower.startsWith('access-control-')) continue;
        headers.push(name, String(raw[index + 1]));
      }
      if (cors) headers.push('Vary', 'Origin');
      if (allowed && origin !== undefined) headers.push('Access-Control-Allow-Origin', origin);
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      pipeline(answer, res, () => undefined);
    });
    upstream.on('error', (error) => {
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      res.writeHead(502, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ error: 'BAD_GATEWAY', message: `serverless offline did not answer: ${error.message}` }));
    });
    req.pipe(upstream);
    // A client that goes away takes its request to offline with it.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  });
}

/**
 * Whether the Host header names this gateway: a loopback name with the port it listens on, or with none when that
 * is 80 (as a browser and curl leave out the default port). Names are case-insensitive; nothing else is accepted.
 * @param {string | undefined} host
 * @param {number} port the port the request came in on
 */
function isOwnHost(host, port) {
  if (host === undefined) return false;
  const name = host.toLowerCase();
  return LOOPBACK_NAMES.some((loopback) => name === `${loopback}:${port}` || (port === 80 && name === loopback));
}

/**
 * The methods of the browser routes at this path, REST API (under the stage) or HTTP API (at the root); none
 * when it is no browser route's. A `{name}` segment matches any one segment, as in API Gateway.
 * @param {string} pathname
 * @param {string} stage
 * @returns {string[]}
 */
function browserMethods(pathname, stage) {
  const segments = pathname.split('/');
  const routePath = segments[1] === stage ? segments.slice(0, 1).concat(segments.slice(2)) : segments;
  return BROWSER_ROUTES.filter(({ path }) => matches(path.split('/'), routePath)).map(({ method }) => method);
}

/** @param {string[]} template @param {string[]} segments */
function matches(template, segments) {
  return template.length === segments.length && template.every((part, index) => (part.startsWith('{') ? segments[index] !== '' : part === segments[index]));
}

module.exports = { createLocalGateway, browserMethods, isOwnHost };
