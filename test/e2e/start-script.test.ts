// `npm start` without REDIS_URL or SIGN_API_KEY: it brings its own redis-server and key, and leaves nothing
// running once it is told to stop.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { freePort } from '../../testkit/redis-server';
import { apiEnvironment, groupAlive, request, runStartScript, startApi, type RunningApi } from './start-api';

jest.setTimeout(60_000);

let api: RunningApi | undefined;

afterAll(async () => {
  await api?.stop();
});

/** Resolves true when something accepts a TCP connection on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The script stops within its 250 ms orphan check; esbuild's service process a few ms after serverless. */
async function groupGoneWithin(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe('npm start without REDIS_URL', () => {
  test('starts its own redis-server and a key, serves the flow, and leaves nothing running after SIGTERM', async () => {
    const httpPort = await freePort();
    const lambdaPort = await freePort();
    api = await startApi({ PORT: String(httpPort), LAMBDA_PORT: String(lambdaPort) }, 'npm');
    const { baseUrl, apiKey, redisUrl } = api.banner;

    expect(api.output()).toContain('(generated for this run)');
    expect(apiKey).toMatch(/^[0-9a-f]{40}$/);
    const redisPort = Number(new URL(redisUrl).port);
    expect(redisPort).not.toBe(6379);

    const redis = createClient({ url: redisUrl, socket: { reconnectStrategy: false } });
    redis.on('error', () => undefined);
    await redis.connect();
    try {
      const signed = await request(`${baseUrl}/auth/token`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'alice' }),
      });
      expect(signed.status).toBe(201);
      const { token, jti, sid } = signed.body as { token: string; jti: string; sid: string };
      // The label and its session are in the Redis the script started, the label with the default TOKEN_TTL of 900 s.
      expect(await redis.ttl(`jwt_label:${jti}`)).toBeGreaterThan(890);
      expect(await redis.exists(`jwt_session:${sid}`)).toBe(1);

      const identity = await request(`${baseUrl}/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(identity.status).toBe(200);
      expect(identity.body).toMatchObject({ sub: 'alice', jti, sid });
    } finally {
      redis.destroy();
    }

    const pid = api.child.pid;
    if (pid === undefined) throw new Error('npm has no pid');
    // Only npm is signalled, as `kill <pid>` would. npm's `sh -c` dies without passing the signal on,
    // so this also shows the script stops offline and redis-server once it finds itself orphaned.
    process.kill(pid, 'SIGTERM');
    await api.exited; // how npm reports its own death is npm's business
    expect(await groupGoneWithin(pid, 5000)).toBe(true);

    expect(await accepts(redisPort)).toBe(false);
    expect(await accepts(httpPort)).toBe(false);
    expect(await accepts(lambdaPort)).toBe(false);
  });

  test('without redis-server on PATH it says what to install and exits non-zero', async () => {
    const emptyBin = mkdtempSync(join(tmpdir(), 'no-redis-bin-'));
    try {
      const { child, output } = runStartScript(apiEnvironment({ PORT: String(await freePort()), PATH: emptyBin }));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      expect(code).toBe(1);
      expect(output()).toContain('redis-server is not on PATH');
      expect(output()).toContain('apt-get install redis-server');
      expect(output()).toContain('brew install redis');
    } finally {
      rmSync(emptyBin, { recursive: true, force: true });
    }
  });
});

/** Holds a port on localhost, as another program would; resolves null if something else already does. */
async function occupy(port: number): Promise<Server | null> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(null) : reject(error)));
    server.listen(port, 'localhost', () => resolve(server));
  });
}

async function exitOf(child: ReturnType<typeof runStartScript>['child']): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('npm start: ports', () => {
  test("without LAMBDA_PORT, offline's Lambda endpoint takes a free port, not 3002, and the banner names both APIs", async () => {
    // Whoever holds 3002, this test or another program, it is taken.
    const held = await occupy(3002);
    const port = await freePort();
    let running: RunningApi | undefined;
    try {
      running = await startApi({ PORT: String(port) });
      expect(running.banner.baseUrl).toBe(`http://localhost:${port}/dev`);
      expect(running.banner.httpApiUrl).toBe(`http://localhost:${port}`);
      const lambdaPort = Number(/Offline \[http for lambda\] listening on http:\/\/localhost:(\d+)/.exec(running.output())?.[1]);
      expect(lambdaPort).toBeGreaterThan(0);
      expect(lambdaPort).not.toBe(3002);
      expect((await request(`${running.banner.httpApiUrl}/me`)).status).toBe(401);
    } finally {
      await running?.stop();
      await new Promise((resolve) => (held === null ? resolve(undefined) : held.close(resolve)));
    }
  });

  test.each(['PORT', 'LAMBDA_PORT'])('a %s in use stops it at once, in one line naming the variable, before offline starts', async (variable) => {
    const port = await freePort();
    const held = await occupy(port);
    if (held === null) throw new Error(`port ${port} was taken meanwhile`);
    try {
      const ports = { PORT: String(await freePort()), LAMBDA_PORT: String(await freePort()), [variable]: String(port) };
      const { child, output } = runStartScript(apiEnvironment(ports));
      expect(await exitOf(child)).toBe(1);
      expect(output().trim()).toBe(`npm start: ${variable} ${port} is in use; set ${variable} to a free port`);
    } finally {
      await new Promise((resolve) => held.close(resolve));
    }
  });

  test.each([
    ['PORT', 'abc'],
    ['PORT', '0'],
    ['LAMBDA_PORT', '70000'],
  ])('%s=%s stops it at once, in one line naming the variable', async (variable, value) => {
    const { child, output } = runStartScript(apiEnvironment({ [variable]: value }));
    expect(await exitOf(child)).toBe(1);
    expect(output().trim()).toBe(`npm start: ${variable} must be a port number from 1 to 65535, got "${value}"`);
  });

  test.each([
    [['--httpPort', '3921'], '--httpPort is not passed on to serverless offline: set PORT instead'],
    [['--lambdaPort=3922'], '--lambdaPort is not passed on to serverless offline: set LAMBDA_PORT instead'],
    [['--host', '0.0.0.0'], '--host is not passed on to serverless offline: npm start serves on localhost only'],
  ])("offline's own option %p, which would bypass the gateway, is refused", async (args, message) => {
    const { child, output } = runStartScript(apiEnvironment({}), 'script', args);
    expect(await exitOf(child)).toBe(1);
    expect(output().trim()).toBe(`npm start: ${message}`);
  });
});

describe('npm start: secrets', () => {
  const run = () => randomBytes(6).toString('hex');

  // The reported crash: the URL parser's error, kept as the config error's cause, printed the whole URL.
  test.each([
    ['does not parse', (a: string, b: string) => `redis://app:pa#${a}/${b}@127.0.0.1:6379`],
    ['parses, cut at the #: 12345 as a port, the rest as a fragment', (a: string, b: string) => `redis://app:12345#${a}/${b}@127.0.0.1:6379`],
  ])('a REDIS_URL whose password has an unencoded # and / (it %s): no trace of it in the banner or the crash output', async (_case, url) => {
    const [a, b] = [`Frag${run()}`, `Frag${run()}`];
    const port = await freePort();
    const { child, output } = runStartScript(
      apiEnvironment({ PORT: String(port), LAMBDA_PORT: String(await freePort()), REDIS_URL: url(a, b), SIGN_API_KEY: run() }),
    );
    try {
      const deadline = Date.now() + 45_000;
      while (!output().includes('revocable-jwt is up') && child.exitCode === null && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(output()).toMatch(/^ +Redis +\(REDIS_URL is not (a )?valid/m);
      // Each function fails its cold start on the config error, and offline prints it, cause and all.
      const misconfigured = { outsideContract: 'a service whose every function fails its cold start: only its output is looked at' };
      expect((await request(`http://localhost:${port}/dev/me`, { headers: { authorization: 'Bearer a.b.c' } }, misconfigured)).status).toBe(401);
      expect((await request(`http://localhost:${port}/dev/auth/token`, { method: 'POST', body: '{}' }, misconfigured)).status).toBeGreaterThanOrEqual(400);
      const deadlineForCrash = Date.now() + 10_000;
      while (!/REDIS_URL (is not a valid URL|may hold only)/.test(output()) && Date.now() < deadlineForCrash)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(output()).toMatch(/REDIS_URL (is not a valid URL|may hold only)/);
      for (const fragment of [a, b]) expect({ fragment, shown: output().includes(fragment) }).toEqual({ fragment, shown: false });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve(undefined)));
    }
  });
});
