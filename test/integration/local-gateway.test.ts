// scripts/local-gateway.js, what `npm start` puts in front of serverless offline, against a stand-in for
// offline that misbehaves as offline does: it answers every request with CORS headers for any origin.
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { expect } from '@jest/globals';
import { createLocalGateway, isOwnHost, type StaticFile } from '../../scripts/local-gateway';

const APP = 'http://localhost:5173';
const OTHER = 'https://evil.example.com';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let upstream: Server;
let upstreamPort: number;
const seen: Seen[] = [];
/** Resolves the upstream's pending streamed answer, for the streaming test. */
let finishStream: (() => void) | undefined;
const gateways: Server[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      // As serverless offline's onPreResponse hook does, whatever the route and origin.
      const offlineCors = {
        'access-control-allow-origin': req.headers.origin ?? '*',
        'access-control-allow-credentials': 'true',
        'Access-Control-Expose-Headers': 'content-type',
      };
      if (req.url === '/dev/stream') {
        res.writeHead(200, { 'content-type': 'text/plain', ...offlineCors });
        res.write('first;');
        finishStream = () => res.end('last');
        return;
      }
      res.writeHead(
        418,
        'Teapot',
        [['content-type', 'application/json'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x-upstream', 'yes'], ...Object.entries(offlineCors)].flat(),
      );
      res.end(JSON.stringify({ echoed: body }));
    });
  });
  upstream.listen(0, 'localhost');
  await once(upstream, 'listening');
  upstreamPort = (upstream.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const gateway of gateways) gateway.closeAllConnections();
  await Promise.all([...gateways, upstream].map((server) => new Promise((resolve) => server.close(resolve))));
});

beforeEach(() => {
  seen.length = 0;
});

async function gateway(origins: string[], port = upstreamPort, files?: ReadonlyMap<string, StaticFile>): Promise<string> {
  const server = createLocalGateway({ upstreamPort: port, stage: 'dev', origins, ...(files === undefined ? {} : { files }) });
  gateways.push(server);
  server.listen(0, 'localhost');
  await once(server, 'listening');
  return `http://localhost:${(server.address() as AddressInfo).port}`;
}

interface Answer {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: string;
}

function call(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const corsHeaders = (headers: IncomingHttpHeaders) => Object.keys(headers).filter((name) => name.startsWith('access-control-'));

describe('Local gateway: API Gateway CORS in front of serverless offline', () => {
  test('passes a request and its answer through: method, path, query, headers, body, status, repeated headers', async () => {
    const base = await gateway([APP]);
    const answer = await call(`${base}/dev/auth/token?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
      body: '{"sub":"alice"}',
    });
    expect(seen).toEqual([
      expect.objectContaining({
        method: 'POST',
        url: '/dev/auth/token?x=1',
        body: '{"sub":"alice"}',
        headers: expect.objectContaining({ 'x-api-key': 'k', host: new URL(base).host }),
      }),
    ]);
    expect(answer).toMatchObject({ status: 418, statusMessage: 'Teapot', body: JSON.stringify({ echoed: '{"sub":"alice"}' }) });
    expect(answer.headers).toMatchObject({ 'content-type': 'application/json', 'x-upstream': 'yes', 'set-cookie': ['a=1', 'b=2'] });
  });

  test.each([
    ['a Bearer route of the REST API', 'GET', '/dev/me'],
    ['a Bearer route of the HTTP API', 'GET', '/me'],
    ['a Bearer route with a path parameter', 'DELETE', '/dev/auth/sessions/%7Babc%7Ddef'],
    ['POST /auth/refresh (its credential is the refresh token in the body)', 'POST', '/dev/auth/refresh'],
  ])('on %s, an allowed origin may read the answer, with no credentials mode', async (_case, method, path) => {
    const answer = await call(`${await gateway([APP])}${path}`, { method, headers: { origin: APP } });
    expect(answer.status).toBe(418);
    expect(answer.headers['access-control-allow-origin']).toBe(APP);
    expect(corsHeaders(answer.headers)).toEqual(['access-control-allow-origin']);
    expect(answer.headers.vary).toBe('Origin');
  });

  test('on a Bearer route, another origin gets none of the CORS headers offline added', async () => {
    const answer = await call(`${await gateway([APP])}/dev/me`, { headers: { origin: OTHER } });
    expect(corsHeaders(answer.headers)).toEqual([]);
    expect(answer.headers.vary).toBe('Origin');
  });

  test.each([
    ['POST', '/dev/auth/token'],
    ['POST', '/dev/auth/revoke'],
    ['GET', '/dev/unknown'],
    ['GET', '/dev/me/extra'],
  ])('%s %s is no browser route: no CORS, even for an allowed origin', async (method, path) => {
    const answer = await call(`${await gateway([APP])}${path}`, { method, headers: { origin: APP } });
    expect(answer.status).toBe(418);
    expect(corsHeaders(answer.headers)).toEqual([]);
  });

  test('with CORS_ORIGINS unset, no route has CORS, and a preflight goes to offline', async () => {
    const base = await gateway([]);
    const answer = await call(`${base}/me`, { headers: { origin: APP } });
    expect(corsHeaders(answer.headers)).toEqual([]);
    expect(answer.headers).not.toHaveProperty('vary');
    const preflight = await call(`${base}/me`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
    expect(corsHeaders(preflight.headers)).toEqual([]);
    expect(seen.map(({ method }) => method)).toEqual(['GET', 'OPTIONS']);
  });

  test.each([
    ['/dev/auth/sessions/x', 'OPTIONS,DELETE'],
    ['/auth/logout', 'OPTIONS,POST'],
    ['/dev/auth/refresh', 'OPTIONS,POST'],
  ])('answers the preflight of an allowed origin for %s itself: %s, Authorization and Content-Type', async (path, methods) => {
    const answer = await call(`${await gateway([OTHER, APP])}${path}`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-api-key' },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': methods,
      'access-control-allow-headers': 'Authorization,Content-Type',
      vary: 'Origin',
    });
    expect(answer.headers).not.toHaveProperty('access-control-allow-credentials');
    expect(seen).toEqual([]);
  });

  test('refuses the preflight of another origin: no CORS header, so its browser sends nothing', async () => {
    const answer = await call(`${await gateway([APP])}/dev/me`, { method: 'OPTIONS', headers: { origin: OTHER, 'access-control-request-method': 'GET' } });
    expect(answer.status).toBe(204);
    expect(corsHeaders(answer.headers)).toEqual([]);
    expect(seen).toEqual([]);
  });

  test('never answers a preflight for an API-key route: it goes to offline, stripped', async () => {
    const answer = await call(`${await gateway([APP])}/dev/auth/token`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST' },
    });
    expect(seen.map(({ method, url }) => `${method} ${url}`)).toEqual(['OPTIONS /dev/auth/token']);
    expect(corsHeaders(answer.headers)).toEqual([]);
  });

  test('drops sls-offline-authorizer-override, in any case and every copy, so no header can change who the caller is', async () => {
    const base = new URL(await gateway([APP]));
    // Raw bytes: an HTTP client would merge or normalise the copies before the gateway saw them.
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    await once(socket, 'connect');
    // write, not end: a client that half-closes is one that went away, and the gateway drops its request.
    socket.write(
      [
        'GET /dev/auth/sessions HTTP/1.1',
        `Host: ${base.host}`,
        'Authorization: Bearer token-of-alice',
        'sls-offline-authorizer-override: {"principalId":"bob","sub":"bob"}',
        'SLS-Offline-Authorizer-Override: {"principalId":"carol","sub":"carol"}',
        'sLs-OfFlInE-aUtHoRiZeR-oVeRrIdE: {"principalId":"dave","sub":"dave"}',
        'X-Other: kept',
        'Connection: close',
        '',
        '',
      ].join('\r\n'),
    );
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 418 /);
    expect(seen).toHaveLength(1);
    const { headers } = seen[0] as Seen;
    expect(Object.keys(headers).filter((name) => name.includes('authorizer'))).toEqual([]);
    expect(headers).toMatchObject({ authorization: 'Bearer token-of-alice', 'x-other': 'kept' });
  });

  test('streams the answer: the first bytes arrive before offline has finished', async () => {
    const base = await gateway([APP]);
    const first = await new Promise<{ chunk: string; rest: Promise<string> }>((resolve, reject) => {
      httpRequest(`${base}/dev/stream`, (res) => {
        res.setEncoding('utf8');
        res.once('data', (chunk: string) => {
          let rest = '';
          res.on('data', (more: string) => (rest += more));
          resolve({ chunk, rest: once(res, 'end').then(() => rest) });
        });
      })
        .on('error', reject)
        .end();
    });
    expect(first.chunk).toBe('first;');
    finishStream?.();
    expect(await first.rest).toBe('last');
  });

  test("answers 502 in the handlers' error shape when offline is not there", async () => {
    const closed = createServer();
    closed.listen(0, 'localhost');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const answer = await call(`${await gateway([APP], port)}/dev/me`);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'BAD_GATEWAY' });
  });
});

describe('Local gateway: static files (the demo page)', () => {
  const page = { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><title>demo</title>') };
  const files = new Map([['/demo/', page]]);

  test("answers GET and HEAD of a file's exact path itself, with no caching, no sniffing, and its own origin only", async () => {
    const base = await gateway([APP], upstreamPort, files);
    const got = await call(`${base}/demo/?from=banner`);
    expect(got).toMatchObject({ status: 200, body: page.body.toString() });
    expect(got.headers).toMatchObject({
      'content-type': page.type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': expect.stringContaining("default-src 'none'; script-src 'self'"),
    });
    expect(await call(`${base}/demo/`, { method: 'HEAD' })).toMatchObject({ status: 200, body: '' });
    expect(seen).toEqual([]);
  });

  test.each([
    ['another method at its path', 'POST', '/demo/'],
    ['another path', 'GET', '/demo/other'],
  ])('passes %s on to offline', async (_case, method, path) => {
    const answer = await call(`${await gateway([APP], upstreamPort, files)}${path}`, { method });
    expect(answer.status).toBe(418);
    expect(seen).toEqual([expect.objectContaining({ method, url: path })]);
  });
});

describe('Local gateway: the Host it answers to (DNS rebinding)', () => {
  const files = new Map([['/demo/', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html><title>demo</title>') }]]);

  // A page on evil.example.com whose name now resolves to 127.0.0.1 shares an origin with the gateway: its browser
  // calls it with no CORS, and sends the page's name as Host. So does any other name that is not the gateway's own.
  test.each([
    ['a rebound name, with the port', (port: number) => `evil.example.com:${port}`],
    ['a rebound name, without a port', () => 'evil.example.com'],
    ['a name that starts as a loopback one', (port: number) => `localhost.evil.example.com:${port}`],
    ['another loopback address', (port: number) => `127.0.0.2:${port}`],
    ['a loopback name with another port', (port: number) => `localhost:${port + 1}`],
    ['a loopback name without the port, which is not 80', () => 'localhost'],
  ])('refuses %s: a 421 of its own, nothing reaches offline, no static file is served', async (_case, host) => {
    const base = new URL(await gateway([APP], upstreamPort, files));
    const headers = { host: host(Number(base.port)), 'content-type': 'application/json' };
    const answers = [
      await call(`${base.origin}/demo/login`, { method: 'POST', headers, body: '{"username":"alice"}' }),
      await call(`${base.origin}/dev/auth/sessions`, { headers: { ...headers, authorization: 'Bearer token-of-alice' } }),
      await call(`${base.origin}/demo/`, { headers }),
      await call(`${base.origin}/me`, { method: 'OPTIONS', headers: { ...headers, origin: APP, 'access-control-request-method': 'GET' } }),
    ];
    expect(seen).toEqual([]);
    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 421, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
      expect(corsHeaders(answer.headers)).toEqual([]);
      expect(JSON.parse(answer.body)).toEqual({ error: 'MISDIRECTED_REQUEST', message: expect.stringContaining(`localhost:${base.port}`) });
    }
  });

  test('refuses a request with no Host at all (HTTP/1.0)', async () => {
    const base = new URL(await gateway([APP]));
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    await once(socket, 'connect');
    socket.write('GET /dev/me HTTP/1.0\r\n\r\n');
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 421 /);
    expect(seen).toEqual([]);
  });

  test.each([
    ['localhost', (port: number) => `localhost:${port}`],
    ['127.0.0.1', (port: number) => `127.0.0.1:${port}`],
    ['[::1]', (port: number) => `[::1]:${port}`],
    ['LocalHost (a name in any case)', (port: number) => `LocalHost:${port}`],
  ])('accepts %s with its port: the request reaches offline with that Host, and a static file is served', async (_case, host) => {
    const base = new URL(await gateway([APP], upstreamPort, files));
    const headers = { host: host(Number(base.port)) };
    expect(await call(`${base.origin}/dev/me`, { headers })).toMatchObject({ status: 418 });
    expect(seen).toEqual([expect.objectContaining({ url: '/dev/me', headers: expect.objectContaining({ host: headers.host }) })]);
    expect(await call(`${base.origin}/demo/`, { headers })).toMatchObject({ status: 200 });
  });

  test('accepts a loopback name without a port only when the port is 80, as a browser sends it there', () => {
    for (const name of ['localhost', '127.0.0.1', '[::1]']) {
      expect(isOwnHost(name, 80)).toBe(true);
      expect(isOwnHost(`${name}:80`, 80)).toBe(true);
      expect(isOwnHost(name, 3000)).toBe(false);
      expect(isOwnHost(`${name}:80`, 3000)).toBe(false);
    }
    expect(isOwnHost('evil.example.com', 80)).toBe(false);
    expect(isOwnHost(undefined, 80)).toBe(false);
  });
});
