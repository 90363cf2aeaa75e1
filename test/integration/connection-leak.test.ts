// A connection the container gave up on must not stay open behind its back: no server-side client may outlive
// the container's knowledge of it.
//
// The case: a connect deadline fires while node-redis is still creating the socket (`await #createSocket()` in
// RedisSocket#connect), so discard() finds no socket yet to destroy; the socket then connects, sends HELLO and
// becomes ready for a client nobody references. shared/redis/connection.ts remembers discarded targets and
// closes such a client as soon as it connects. It takes a connect given very little time (a retry after a
// dropped socket near the end of the bound, on a busy event loop); this test makes that happen deterministically.
import { setLogLevel } from '../../shared/telemetry/log';
import { idempotent, RedisConnection } from '../../shared/redis/connection';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // The event loop is held, as on a loaded machine.
  }
};

describe('Class: RedisConnection, a connect given up on at its deadline', () => {
  let server: RedisServer;

  beforeAll(async () => {
    setLogLevel('silent');
    server = await startRedisServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  async function serverSideClients(): Promise<string[]> {
    const list = await (await server.admin()).sendCommand<string>(['CLIENT', 'LIST', 'TYPE', 'normal']);
    return list.split('\n').filter((line) => line.trim() !== '' && !line.includes('cmd=client|list'));
  }

  test('leaves no connection open behind the container, even when the socket completes after the deadline', async () => {
    const timeoutMs = 300;
    const redis = new RedisConnection({ url: server.url, timeoutMs });
    // Connected first (retried: a busy machine may take longer than the bound to open it).
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      const connected = await redis.run(idempotent('PING', { key: 'k' }, (client) => client.ping())).then(
        () => true,
        () => attempt === 10,
      );
      if (connected) break;
    }
    // Repeated until the timing lands (the retry's connect deadline fires first): a few tries when the machine
    // is idle, more under load; each takes a bound (300 ms) at most.
    let triggered = false;
    for (let round = 0; round < 30 && !triggered; round += 1) {
      let attempts = 0;
      const outcome = await redis
        .run(
          idempotent('GET', { key: 'k' }, async (client, remainingMs) => {
            attempts += 1;
            if (attempts > 1) return client.get('k');
            // The socket under the first attempt turns out dead just before the deadline, so the retry opens a
            // new connection with almost no time left; the event loop is then held past the deadline, so the
            // connect deadline fires before the new socket's 'connect' event is handled.
            busy(remainingMs - 4);
            setImmediate(() => busy(20));
            throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
          }),
        )
        .then(
          () => 'answered',
          (error: Error) => error.message,
        );
      triggered = /connect took longer than/.test(outcome);
    }
    expect(triggered).toBe(true);
    await redis.close();
    await sleep(500);
    // The container holds nothing now: every connection it opened must be closed.
    expect((await serverSideClients()).map((line) => line.replace(/^.*\b(age=\S+ idle=\S+)\b.*\b(cmd=\S+).*$/, '$1 $2'))).toEqual([]);
  });
});
