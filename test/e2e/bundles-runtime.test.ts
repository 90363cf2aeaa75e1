// The packaged bundles under the Lambda runtime's Node.js (serverless.yml's provider.runtime), not the Node that
// runs jest: each function's zip is unpacked and loaded in a process of its own, as a Lambda container would
// (no node_modules anywhere above it), with the environment the template gives it, against a real redis-server.
// The binary is this machine's architecture: the bundles are pure JavaScript, the same code on arm64.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { expect } from '@jest/globals';
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { buildSync } from 'esbuild';
import type { BundleHostReady, BundleInvocation, BundleInvocationResult } from '../../testkit/bundle-host';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { httpAuthorizerEvent, proxyEventV2 } from '../../testkit/events-v2';
import { assertMatchesContract, type Api } from '../../testkit/openapi';
import { packageService, readZip, resourcesOfType, type Packaged } from '../../testkit/package-service';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { runtimeNode, serviceRuntimeMajor } from '../../testkit/runtime-node';
import { apiEnvironment } from './start-api';

const SECRET = 'bundles-runtime-test-secret-0123456789abcdef';
const MAJOR = serviceRuntimeMajor();

interface Container {
  /** process.versions.node inside the container. */
  readonly node: string;
  /** The handler's result; a thrown error is rethrown here with its message. */
  invoke(event: unknown): Promise<unknown>;
  stop(): void;
}

let server: RedisServer;
let packaged: Packaged;
let workDir: string;
/** By serverless function name (sign, logout, …). */
const containers = new Map<string, Container>();
/** Every AWS::Lambda::Function's Runtime, by function name. */
const runtimes = new Map<string, unknown>();

/** Node echoes the offending source line, and a minified bundle is one line of hundreds of kilobytes. */
function clip(output: string): string {
  return output.replace(/^(.{300}).+$/gm, '$1…');
}

async function startContainer(node: string, host: string, bundle: string, exportName: string, env: Record<string, string>): Promise<Container> {
  // Exactly the function's environment, and none of jest's Node flags, which another Node may not know.
  const child = fork(host, [String(MAJOR), bundle, exportName], { execPath: node, execArgv: [], env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const pending = new Map<number, (result: BundleInvocationResult) => void>();
  const ready = await new Promise<BundleHostReady>((resolve, reject) => {
    // 'close', not 'exit': by then everything the process wrote has been read.
    child.once('close', (code, signal) => reject(new Error(`${bundle} did not load under ${node} (exit ${code ?? signal}):\n${clip(output)}`)));
    child.on('message', (message: BundleHostReady | BundleInvocationResult) => {
      if ('ready' in message) resolve(message);
      else pending.get(message.id)?.(message);
    });
  });
  child.removeAllListeners('close');
  let nextId = 0;
  return {
    node: ready.node,
    invoke(event) {
      const id = (nextId += 1);
      return new Promise((resolve, reject) => {
        pending.set(id, (outcome) => {
          pending.delete(id);
          if (outcome.ok) resolve(outcome.result);
          else reject(Object.assign(new Error(outcome.error.message), { name: outcome.error.name }));
        });
        const message: BundleInvocation = { id, event };
        child.send(message, (error) => {
          if (error !== null) reject(error);
        });
      });
    },
    stop: () => child.kill('SIGKILL'),
  };
}

beforeAll(async () => {
  server = await startRedisServer();
  let node: string;
  // The local target writes REDIS_URL from the packaging shell into every function's environment, and JWT_SECRET into
  // those that hold keys.
  [node, packaged] = await Promise.all([runtimeNode(MAJOR), packageService(apiEnvironment({ REDIS_URL: server.url, JWT_SECRET: SECRET }))]);
  workDir = mkdtempSync(join(tmpdir(), 'bundles-runtime-'));
  const host = join(workDir, 'bundle-host.js');
  buildSync({
    entryPoints: [join(__dirname, '..', '..', 'testkit', 'bundle-host.ts')],
    outfile: host,
    format: 'cjs',
    platform: 'node',
    target: `node${MAJOR}`,
    logLevel: 'silent',
  });

  const functions = resourcesOfType(packaged.template, 'AWS::Lambda::Function').map(([, resource]) => {
    const properties = resource.Properties as {
      Handler: string;
      Runtime: unknown;
      Code: { S3Key: string };
      Environment: { Variables: Record<string, string> };
    };
    const name = basename(properties.Code.S3Key, '.zip');
    runtimes.set(name, properties.Runtime);
    // As the runtime reads it: `functions/sign.handler` is the export `handler` of the module functions/sign.
    const split = properties.Handler.lastIndexOf('.');
    const dir = join(workDir, name);
    for (const entry of readZip(join(packaged.dir, `${name}.zip`))) {
      mkdirSync(dirname(join(dir, entry.name)), { recursive: true });
      writeFileSync(join(dir, entry.name), entry.content);
    }
    return {
      name,
      module: join(dir, properties.Handler.slice(0, split)),
      exportName: properties.Handler.slice(split + 1),
      env: properties.Environment.Variables,
    };
  });
  const started = await Promise.allSettled(functions.map(({ module, exportName, env }) => startContainer(node, host, module, exportName, env)));
  started.forEach((result, index) => {
    if (result.status === 'fulfilled') containers.set((functions[index] as { name: string }).name, result.value);
  });
  const failures = started.flatMap((result) => (result.status === 'rejected' ? [(result.reason as Error).message] : []));
  if (failures.length > 0) throw new Error(failures.join('\n\n'));
}, 420_000);

afterAll(async () => {
  for (const container of containers.values()) container.stop();
  packaged?.remove();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  await server?.stop();
});

function call(name: string, event: unknown): Promise<unknown> {
  const container = containers.get(name);
  if (container === undefined) throw new Error(`no function ${name} in the template`);
  return container.invoke(event);
}

/** A route's answer, once docs/openapi.yaml is found to document it, as every answer over `npm start` is (request()). */
function documented(api: Api, method: string, path: string, answer: unknown): APIGatewayProxyResult {
  const { statusCode, headers, body } = answer as APIGatewayProxyResult;
  const text = Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]));
  assertMatchesContract({ api, method, path, status: statusCode, headers: text, body });
  return answer as APIGatewayProxyResult;
}

interface Issued {
  token: string;
  jti: string;
  sid: string;
  refreshToken?: string;
}

async function sign(sub: string, extra: Record<string, unknown> = {}): Promise<Issued> {
  const response = documented(
    'rest',
    'POST',
    '/auth/token',
    await call('sign', proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub, claims: { role: 'tester' }, ...extra }) })),
  );
  expect(response.statusCode).toBe(201);
  return JSON.parse(response.body) as Issued;
}

/** POST /auth/refresh as the REST API (payload 1.0) or the HTTP API (payload 2.0) delivers it: no authorizer context. */
async function refresh(refreshToken: string, payload: '1.0' | '2.0'): Promise<{ statusCode: number; body: Issued & { error?: string } }> {
  const body = JSON.stringify({ refreshToken });
  const event = payload === '1.0' ? proxyEvent({ method: 'POST', path: '/auth/refresh', body }) : proxyEventV2({ method: 'POST', path: '/auth/refresh', body });
  const response = documented(payload === '1.0' ? 'rest' : 'http', 'POST', '/auth/refresh', await call('refresh', event));
  return { statusCode: response.statusCode, body: JSON.parse(response.body) as Issued & { error?: string } };
}

/** The REST API TOKEN authorizer's policy for a Bearer token. */
function authorize(token: string): Promise<APIGatewayAuthorizerResult> {
  return call('authorizer', tokenAuthorizerEvent(`Bearer ${token}`)) as Promise<APIGatewayAuthorizerResult>;
}

/** A REST API request behind the authorizer, with the context it passed on. */
async function restRequest(name: string, method: string, path: string, token: string, pathParameters?: Record<string, string>): Promise<APIGatewayProxyResult> {
  const { context } = await authorize(token);
  return documented(
    'rest',
    method,
    path,
    await call(name, proxyEvent({ method, path, authorizer: context ?? {}, ...(pathParameters === undefined ? {} : { pathParameters }) })),
  );
}

describe(`the bundles under the Lambda runtime's Node.js (nodejs${MAJOR}.x)`, () => {
  test(`every function runs nodejs${MAJOR}.x, and its bundle loads and answers under Node.js ${MAJOR}`, () => {
    expect(containers.size).toBeGreaterThan(0);
    expect([...containers.keys()].sort()).toEqual([...runtimes.keys()].sort());
    for (const [name, container] of containers) {
      expect([name, runtimes.get(name)]).toEqual([name, `nodejs${MAJOR}.x`]);
      expect([name, Number(container.node.split('.')[0])]).toEqual([name, MAJOR]);
    }
  });

  test('a token: sign, both authorizers allow it, /me on both APIs, logout, then both authorizers refuse it', async () => {
    const { token, jti, sid } = await sign('bundle-user');

    const policy = await authorize(token);
    expect(policy.policyDocument.Statement).toEqual([expect.objectContaining({ Effect: 'Allow', Action: 'execute-api:Invoke' })]);
    expect(policy.context).toMatchObject({ sub: 'bundle-user', jti, sid });
    const simple = (await call('httpAuthorizer', httpAuthorizerEvent({ authorization: `Bearer ${token}` }))) as { isAuthorized: boolean; context?: unknown };
    expect(simple).toMatchObject({ isAuthorized: true, context: { sub: 'bundle-user', jti, sid } });

    const me = await restRequest('me', 'GET', '/me', token);
    expect(me.statusCode).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ sub: 'bundle-user', jti, sid, claims: { role: 'tester' } });
    const meV2 = documented('http', 'GET', '/me', await call('me', proxyEventV2({ method: 'GET', path: '/me', lambda: simple.context })));
    expect([meV2.statusCode, JSON.parse(meV2.body)]).toEqual([200, expect.objectContaining({ sub: 'bundle-user', jti })]);

    expect((await restRequest('logout', 'POST', '/auth/logout', token)).statusCode).toBe(204);
    await expect(authorize(token)).rejects.toThrow(/^Unauthorized$/);
    await expect(call('httpAuthorizer', httpAuthorizerEvent({ authorization: `Bearer ${token}` }))).resolves.toEqual({ isAuthorized: false });
  });

  test('sessions: listed, one ended, all ended; the trusted revoke by jti, by sid and by subject; the kill switch', async () => {
    const first = await sign('bundle-sessions');
    const second = await sign('bundle-sessions');
    const listed = await restRequest('listSessions', 'GET', '/auth/sessions', first.token);
    expect(listed.statusCode).toBe(200);
    const sessions = (JSON.parse(listed.body) as { sessions: { sid: string; current: boolean }[] }).sessions;
    expect(sessions.map(({ sid, current }) => [sid, current]).sort()).toEqual(
      [
        [first.sid, true],
        [second.sid, false],
      ].sort(),
    );

    expect((await restRequest('endSession', 'DELETE', `/auth/sessions/${second.sid}`, first.token, { sid: second.sid })).statusCode).toBe(204);
    await expect(authorize(second.token)).rejects.toThrow(/^Unauthorized$/);
    expect((await restRequest('logoutAll', 'POST', '/auth/logout-all', first.token)).statusCode).toBe(204);
    await expect(authorize(first.token)).rejects.toThrow(/^Unauthorized$/);

    const byJti = await sign('bundle-revoked');
    const bySid = await sign('bundle-revoked');
    const bySubject = await sign('bundle-revoked');
    const revoke = async (body: unknown) =>
      JSON.parse(
        documented('rest', 'POST', '/auth/revoke', await call('revoke', proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify(body) }))).body,
      ) as unknown;
    await expect(revoke({ jti: byJti.jti })).resolves.toEqual({ revoked: 1 });
    await expect(authorize(byJti.token)).rejects.toThrow(/^Unauthorized$/);
    await expect(revoke({ sid: bySid.sid })).resolves.toEqual({ revoked: 1 });
    await expect(authorize(bySid.token)).rejects.toThrow(/^Unauthorized$/);
    // byJti's session lives on without its one access token: the subject still has two.
    await expect(revoke({ sub: 'bundle-revoked' })).resolves.toEqual({ revoked: 2 });
    await expect(authorize(bySubject.token)).rejects.toThrow(/^Unauthorized$/);

    const last = await sign('bundle-last');
    const { revoked } = (await call('revokeAll', { confirm: 'revoke-all' })) as { revoked: number };
    expect(revoked).toBeGreaterThanOrEqual(1);
    await expect(authorize(last.token)).rejects.toThrow(/^Unauthorized$/);
  });

  test('refresh: sign with a refresh token, rotate it as each API delivers it, a retry gets the same pair; a used one presented again ends the session', async () => {
    const signed = await sign('bundle-refresh', { refresh: true, session: { device: 'bundle test', ip: '192.0.2.1' } });
    expect(signed.refreshToken).toEqual(expect.any(String));

    const viaRest = await refresh(signed.refreshToken as string, '1.0');
    expect(viaRest).toMatchObject({ statusCode: 200, body: { tokenType: 'Bearer', sid: signed.sid, refreshToken: expect.any(String) } });
    const viaHttp = await refresh(viaRest.body.refreshToken as string, '2.0');
    expect(viaHttp).toMatchObject({ statusCode: 200, body: { sid: signed.sid } });
    // Within REFRESH_REUSE_GRACE (10 s in the template) the token just rotated gets the same pair back.
    const retried = await refresh(viaRest.body.refreshToken as string, '2.0');
    expect(retried).toMatchObject({ statusCode: 200, body: { jti: viaHttp.body.jti, refreshToken: viaHttp.body.refreshToken } });
    const tokens = [signed.token, viaRest.body.token, viaHttp.body.token];
    for (const token of tokens) await expect(authorize(token)).resolves.toMatchObject({ context: { sub: 'bundle-refresh', sid: signed.sid } });

    // The first refresh token, used two rotations ago: theft. Refused, and the session ends with every access token it issued.
    const reused = await refresh(signed.refreshToken as string, '1.0');
    expect(reused).toMatchObject({ statusCode: 401, body: { error: 'REFRESH_TOKEN_INVALID' } });
    for (const token of tokens) {
      await expect(authorize(token)).rejects.toThrow(/^Unauthorized$/);
      await expect(call('httpAuthorizer', httpAuthorizerEvent({ authorization: `Bearer ${token}` }))).resolves.toEqual({ isAuthorized: false });
    }
    expect(await refresh(viaHttp.body.refreshToken as string, '2.0')).toMatchObject({ statusCode: 401, body: { error: 'REFRESH_TOKEN_INVALID' } });
  });
});
