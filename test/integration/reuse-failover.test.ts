// A used refresh token presented again ends its session. That is a revocation, and like every other under
// REDIS_WAIT_REPLICAS it is answered (401) only once the replicas hold it, so a failover right after keeps the
// session dead. A replica that cannot confirm it within REDIS_TIMEOUT_MS makes the answer a 503, which the client retries.
import { expect } from '@jest/globals';
import { recordKey } from '../../shared/sessions/keys';
import { coldStart, type Container } from '../../testkit/cold-start';
import { startHoldingProxy, type HoldingProxy } from '../../testkit/holding-proxy';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { REFRESH_REFUSED, SessionClient, sleep, type Pair, type Signed } from '../../testkit/session-client';

jest.setTimeout(30_000);
const SECRET = 'reuse-failover-secret-0123456789abcdefghij';
const TIMEOUT_MS = 1000;

/** The replication offset a server's INFO reports under `field`. */
async function offset(server: RedisServer, field: 'master_repl_offset' | 'slave_repl_offset'): Promise<number> {
  const info = await (await server.admin()).info('replication');
  return Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
}

/** Resolves once `replica` is linked to its primary and holds everything the primary has written. */
async function caughtUp(primary: RedisServer, replica: RedisServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const linked = /master_link_status:up/.test(await (await replica.admin()).info('replication'));
    if (linked && (await offset(replica, 'slave_repl_offset')) >= (await offset(primary, 'master_repl_offset'))) return;
    await sleep(20);
  }
  throw new Error('the replica did not catch up within 10 s');
}

describe('reuse detection with REDIS_WAIT_REPLICAS=1, and a failover to the replica', () => {
  let primary: RedisServer;
  let replica: RedisServer;
  // The replication link runs through it: hold() is a replica that lags (a slow link, a busy replica).
  let link: HoldingProxy;
  const built: Container[] = [];
  const client = (server: RedisServer) => {
    const container = coldStart({
      REDIS_URL: server.url,
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'silent',
      REDIS_WAIT_REPLICAS: '1',
      REFRESH_REUSE_GRACE: '0',
      REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    built.push(container);
    return new SessionClient(() => container);
  };

  beforeEach(async () => {
    // Replicas sync at once, not after the default 5 s of waiting for more of them.
    primary = await startRedisServer(['--repl-diskless-sync-delay', '0']);
    link = await startHoldingProxy(primary.port);
    replica = await startRedisServer(['--replicaof', '127.0.0.1', String(link.port)]);
    await caughtUp(primary, replica);
  });
  afterEach(async () => {
    await Promise.all(built.splice(0).map((container) => container.close()));
    await link.close();
    await replica.stop();
    await primary.stop();
  });

  /** A session whose refresh token the client has rotated; the thief holds the used one. The replica has it all. */
  async function stolen(api: SessionClient): Promise<{ signed: Signed; victim: Pair }> {
    const signed = await api.signIn('victim');
    const victim = await api.rotate(signed.refreshToken);
    await caughtUp(primary, replica);
    return { signed, victim };
  }

  /** Fails over: the primary dies with whatever its replica does not hold yet, and the replica is promoted. */
  async function failOver(): Promise<SessionClient> {
    await primary.kill();
    await link.close();
    await (await replica.admin()).sendCommand(['REPLICAOF', 'NO', 'ONE']);
    return client(replica);
  }

  /** Every token of the session is refused by `api`: its access tokens, the client's refresh token, the used one. */
  async function expectDead(api: SessionClient, { signed, victim }: { signed: Signed; victim: Pair }): Promise<void> {
    expect({ first: await api.decide(signed.token), second: await api.decide(victim.token) }).toEqual({ first: 'deny', second: 'deny' });
    expect(await api.refresh(victim.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    expect(await api.refresh(signed.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
  }

  it('with a replica that lags past REDIS_TIMEOUT_MS: 503, not 401; once it has caught up, the retry is 401, and after a failover the session stays dead', async () => {
    const api = client(primary);
    const session = await stolen(api);
    link.hold();
    const started = Date.now();
    expect((await api.refresh(session.signed.refreshToken)).status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS / 2);
    // Ended on the primary; the replica does not hold that yet.
    expect(await (await primary.admin()).exists(recordKey(session.signed.sid))).toBe(0);
    expect(await (await replica.admin()).exists(recordKey(session.signed.sid))).toBe(1);

    link.release();
    await caughtUp(primary, replica);
    expect(await (await replica.admin()).exists(recordKey(session.signed.sid))).toBe(0);
    expect(await api.refresh(session.signed.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    await expectDead(await failOver(), session);
  });

  it('with a replica that lags past REDIS_TIMEOUT_MS and a failover before it caught up: the retry of the 503 ends the session on the promoted replica', async () => {
    const api = client(primary);
    const session = await stolen(api);
    link.hold();
    expect((await api.refresh(session.signed.refreshToken)).status).toBe(503);
    const promoted = await failOver();
    // The promoted replica never held the end. The retry is reuse again; it has no replica of its own to confirm it.
    expect((await promoted.refresh(session.signed.refreshToken)).status).toBe(503);
    await expectDead(promoted, session);
  });

  it('with a healthy replica: 401 only once the replica holds the end, so a failover right after keeps the session dead', async () => {
    const api = client(primary);
    const session = await stolen(api);
    // A replica a little behind, well within REDIS_TIMEOUT_MS.
    link.hold();
    let answered = false;
    const reuse = api.refresh(session.signed.refreshToken).then((answer) => {
      answered = true;
      return answer;
    });
    await sleep(150);
    expect(answered).toBe(false);
    link.release();
    expect(await reuse).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    await expectDead(await failOver(), session);
  });
});
