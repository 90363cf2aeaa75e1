// The Lambda freeze: the container is suspended between invocations, the server drops its connection
// meanwhile, and the drop is only noticed as the process thaws, with the next invocation already queued.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Invocation, InvocationResult } from '../../testkit/handler-host';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

describe('Lambda container frozen while Redis drops its connection', () => {
  let server: RedisServer;
  let host: ChildProcess;
  let buildDir: string;
  let nextId = 0;
  const pending = new Map<number, (result: InvocationResult) => void>();

  function send(handler: string, event: unknown): Promise<InvocationResult> {
    const id = (nextId += 1);
    return new Promise((resolve) => {
      pending.set(id, resolve);
      const message: Invocation = { id, handler, event };
      host.send(message);
    });
  }

  async function freezeDropAndThaw(handler: string, event: unknown): Promise<InvocationResult> {
    host.kill('SIGSTOP');
    const killed = await (await server.admin()).sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
    expect(killed).toBe(1);
    const answer = send(handler, event);
    // Let the kernel deliver both the FIN and the invocation before the process runs again.
    await new Promise((resolve) => setTimeout(resolve, 50));
    host.kill('SIGCONT');
    return answer;
  }

  beforeAll(async () => {
    server = await startRedisServer();
    buildDir = mkdtempSync(join(tmpdir(), 'handler-host-'));
    buildSync({
      entryPoints: [join(__dirname, '../../testkit/handler-host.ts')],
      outfile: join(buildDir, 'host.js'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
    });
    host = fork(join(buildDir, 'host.js'), {
      env: { ...process.env, REDIS_URL: server.url, JWT_SECRET: 'frozen-container-secret-0123456789abcdef', LOG_LEVEL: 'silent', REDIS_TIMEOUT_MS: '1000' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve) => {
      host.on('message', (message: InvocationResult | { ready: true }) => {
        if ('ready' in message) resolve();
        else pending.get(message.id)?.(message);
      });
    });
  });

  afterAll(async () => {
    host?.kill('SIGKILL');
    await server?.stop();
    rmSync(buildDir, { recursive: true, force: true });
  });

  it('answers every invocation after a thaw correctly, on a fresh connection', async () => {
    const signed = await send('sign', proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'frozen-user' }) }));
    expect(signed.ok).toBe(true);
    const { token, jti, sid } = JSON.parse((signed as { result: APIGatewayProxyResult }).result.body) as { token: string; jti: string; sid: string };

    for (let round = 1; round <= 5; round += 1) {
      const decision = await freezeDropAndThaw('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
      expect(decision).toMatchObject({ ok: true, result: { principalId: 'frozen-user', context: { jti } } });
      expect(decision.connectCount).toBe(round + 1);
    }

    const loggedOut = await freezeDropAndThaw(
      'logout',
      proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: { sub: 'frozen-user', jti, sid, iat: 0, exp: 0, customClaims: '{}' } }),
    );
    expect(loggedOut).toMatchObject({ ok: true, result: { statusCode: 204 } });

    const refused = await freezeDropAndThaw('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
    expect(refused).toMatchObject({ ok: false, error: { message: 'Unauthorized' } });
  });
});
