// Provisioned concurrency freezes a container right after init, maybe in the middle of the connect that init
// began; a CPU-starved first invocation can stall the event loop just as long. Either way the connect's own
// timer (node-redis's connectTimeout, begun at init) runs out meanwhile. An invocation that starts afterwards
// has its whole REDIS_TIMEOUT_MS left, and must succeed on a fresh connection: its bound is its own.
//
// The connect here is a TLS handshake (as to ElastiCache with in-transit encryption), held back by a proxy so
// that it is under way, deterministically, when the container stops; the server behind it is healthy.
// Two orders of events on resume: after SIGSTOP at rest, node runs the expired timer before it reads any
// socket (epoll_wait returns EINTR), so the connect is given up before the invocation arrives; after a stall
// in the middle of a callback, the invocation is already waiting on that connect when the timer fires.
import type { APIGatewayProxyResult } from 'aws-lambda';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import type { HandlerName, InvocationResult } from '../../testkit/handler-host';
import { startHoldingProxy, type HoldingProxy } from '../../testkit/holding-proxy';
import { bundleHandlerHost, startHost, type HostBundle, type HostProcess } from '../../testkit/host-process';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { createThrowawayPki, type ThrowawayCa, type ThrowawayPki } from '../../testkit/tls';

const TIMEOUT_MS = 1000;
/** How long the container stays frozen or stalled: well past the connect's timer. */
const FROZEN_MS = 2500;
const JWT_SECRET = 'frozen-connect-test-secret-0123456789abcdef';
const SUBJECT = 'thawed-user';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('A container frozen or stalled in the middle of its init-time connect', () => {
  let pki: ThrowawayPki;
  let ca: ThrowawayCa;
  let server: RedisServer;
  let proxy: HoldingProxy;
  let bundle: HostBundle;
  let token: string;
  const hosts: HostProcess[] = [];

  const env = () => ({
    REDIS_URL: `rediss://127.0.0.1:${proxy.port}`,
    NODE_EXTRA_CA_CERTS: ca.caFile,
    JWT_SECRET,
    REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
    LOG_LEVEL: 'info',
  });

  beforeAll(async () => {
    pki = createThrowawayPki();
    ca = pki.createCa('ca');
    server = await startRedisServer([], { tls: { ...ca.issue('redis', ['IP:127.0.0.1']), caFile: ca.caFile } });
    proxy = await startHoldingProxy(server.port);
    bundle = bundleHandlerHost();
    // The authorizer's cases present a live token, issued by another container.
    const signer = await startHost(bundle, env());
    try {
      const signed = (await signer.invoke('sign', signEvent())) as InvocationResult & { ok: true; result: APIGatewayProxyResult };
      expect(signed.result.statusCode).toBe(201);
      token = (JSON.parse(signed.result.body) as { token: string }).token;
    } finally {
      signer.stop();
    }
  });

  afterEach(() => {
    proxy.release();
    for (const host of hosts.splice(0)) host.stop();
  });

  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
    bundle?.cleanup();
    pki?.cleanup();
  });

  /** A new container whose init-time connect is under way: its TLS handshake waits on the server's answer. */
  async function containerMidConnect(): Promise<HostProcess> {
    proxy.hold();
    const host = await startHost(bundle, env());
    hosts.push(host);
    await proxy.holding();
    return host;
  }

  const firstInvocations: Array<[HandlerName, () => unknown, (result: InvocationResult) => void]> = [
    ['sign', () => signEvent(), (result) => expect(result).toMatchObject({ ok: true, result: { statusCode: 201 } })],
    [
      'authorizer',
      () => tokenAuthorizerEvent(`Bearer ${token}`),
      (result) => expect(result).toMatchObject({ ok: true, result: { principalId: SUBJECT, policyDocument: { Statement: [{ Effect: 'Allow' }] } } }),
    ],
  ];

  /** Once connected, a decision is still one Redis call, on the one connection the container opened. */
  async function expectSteadyState(host: HostProcess): Promise<void> {
    const decision = await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
    expect(decision).toMatchObject({ ok: true, result: { principalId: SUBJECT } });
    expect(decision.connectCount).toBe(1);
    await host.flush();
    const decisions = host.logEntries().filter((entry) => entry.message === 'authorize');
    expect(decisions.at(-1)).toMatchObject({ outcome: 'allow', RedisCalls: 1 });
  }

  it.each(firstInvocations)(
    'frozen (SIGSTOP) at rest past its connect timer: the first invocation, queued as it thaws, succeeds (%s)',
    async (handler, event, succeeded) => {
      const host = await containerMidConnect();
      host.signal('SIGSTOP');
      await sleep(FROZEN_MS);
      proxy.release();
      const answer = host.invoke(handler, event());
      // The invocation is in the container's pipe before it runs again, as Lambda hands it over on thaw.
      await sleep(50);
      host.signal('SIGCONT');

      succeeded(await answer);
      await expectSteadyState(host);
    },
  );

  it.each(firstInvocations)(
    'stalled (a blocked event loop) past its connect timer as the first invocation begins: it succeeds (%s)',
    async (handler, event, succeeded) => {
      const host = await containerMidConnect();
      // The server's answer reaches the container's socket during the stall, unread until the stall ends.
      const answer = host.invoke(handler, event(), { stallMs: FROZEN_MS, onStall: () => void sleep(FROZEN_MS / 2).then(() => proxy.release()) });

      succeeded(await answer);
      await host.flush();
      expect(host.logEntries().map((entry) => entry.message)).toContain('redis connect begun before this command timed out, retrying once on a new connection');
      await expectSteadyState(host);
    },
  );

  it.each(firstInvocations)(
    'frozen (SIGSTOP) while stalled at the start of the first invocation: it succeeds on thaw (%s)',
    async (handler, event, succeeded) => {
      const host = await containerMidConnect();
      let stopped: () => void = () => undefined;
      const stalling = new Promise<void>((resolve) => {
        stopped = resolve;
      });
      const answer = host.invoke(handler, event(), {
        stallMs: 500,
        onStall: () => {
          host.signal('SIGSTOP');
          stopped();
        },
      });
      await stalling;
      await sleep(FROZEN_MS);
      proxy.release();
      host.signal('SIGCONT');

      succeeded(await answer);
      await expectSteadyState(host);
    },
  );
});

function signEvent() {
  return proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: SUBJECT }) });
}
