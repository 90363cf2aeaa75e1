// REDIS_CLUSTER=true against a real local cluster (three primaries, a replica each), failover included.
import { RefreshTokenInvalidError, StoreUnavailableError, TokenRevokedError } from '../../shared/errors';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { labelKey } from '../../shared/sessions/keys';
import { TokenService } from '../../shared/auth/tokens';
import { startRedisCluster, type RedisCluster } from '../../testkit/redis-cluster';
import type { RedisServer } from '../../testkit/redis-server';

jest.setTimeout(60_000);

/** The failover test's container: its REDIS_TIMEOUT_MS. */
const CONTAINER_TIMEOUT_MS = 1000;
/**
 * How long one answer may take while the primary fails over. The whole call, retry included, runs within
 * CONTAINER_TIMEOUT_MS; four times that leaves a loaded 2-core machine room, and still fails a call that
 * ignores its bound long before a hang would reach the loop's 20 s or jest's 60 s.
 */
const ANSWER_BOUND_MS = 4 * CONTAINER_TIMEOUT_MS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a call came to: 'allow' or 'done', 'unavailable' (fail closed), 'revoked', or any other error as text. */
function outcomeOf(error: unknown): string {
  if (error instanceof StoreUnavailableError) return 'unavailable';
  return error instanceof TokenRevokedError ? 'revoked' : String(error);
}

/**
 * Waits until `primary`'s replica holds every write the primary has taken so far, and returns that replica.
 * WAIT counts the writes made on the connection it is sent on, so the admin connection first writes a key of
 * its own in the slot of `key` (its hash tag): after the writes to wait for, so their offset is below it.
 */
async function replicaHoldingAllOf(cluster: RedisCluster, primary: RedisServer, key: string): Promise<RedisServer> {
  const admin = await primary.admin();
  const hashTag = /\{[^}]+\}/.exec(key)?.[0];
  if (hashTag === undefined) throw new Error(`${key} has no hash tag`);
  await admin.sendCommand(['SET', `replication-marker:${hashTag}`, '1', 'PX', '60000']);
  expect(Number(await admin.sendCommand(['WAIT', '1', '10000']))).toBe(1);
  const port = Number(/^slave0:.*\bport=(\d+)/m.exec(await admin.info('replication'))?.[1]);
  const replica = cluster.nodes.find((node) => node.port === port);
  if (replica === undefined) throw new Error(`no replica of the primary on port ${primary.port}`);
  return replica;
}

const tokenConfig = {
  keys: [{ kid: 'k', secret: 'cluster-test-secret-0123456789abcdefgh' }],
  issuer: 'i',
  audience: 'a',
  defaultTtlSeconds: 600,
  maxTtlSeconds: 600,
};

describe('Redis Cluster (REDIS_CLUSTER=true)', () => {
  let cluster: RedisCluster;
  let redis: RedisConnection;
  let sessions: SessionStore;
  let tokens: TokenService;
  const issue = (sub: string) => tokens.issue({ sub, claims: {}, ttlSeconds: 600 });
  const isAlive = (token: string) =>
    tokens.verify(token).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    setLogLevel('silent');
    cluster = await startRedisCluster();
    // Generous: this test is about features, not bounds, and a cold cluster connect does discovery first.
    redis = new RedisConnection({ url: cluster.url, timeoutMs: 3000, cluster: true });
    sessions = new SessionStore(redis, 1);
    tokens = new TokenService(redis, sessions, tokenConfig);
  });

  afterAll(async () => {
    await redis?.close();
    await cluster?.stop();
  });

  it('spreads subjects over the primaries and runs every feature on them', async () => {
    const subjects = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const issued = await Promise.all(subjects.flatMap((sub) => [issue(sub), issue(sub)]));
    const primaries = new Set(await Promise.all(issued.map(async ({ jti }) => (await cluster.primaryFor(labelKey(jti))).port)));
    expect(primaries.size).toBe(3);

    for (const { token } of issued) expect(await isAlive(token)).toBe(true);
    const [first, second] = issued as [(typeof issued)[0], (typeof issued)[0]];
    expect((await sessions.list('user-0', 0)).map((session) => session.sid).sort()).toEqual([first.sid, second.sid].sort());
    await expect(sessions.end(first.sid)).resolves.toBe(true);
    expect(await isAlive(first.token)).toBe(false);
    expect(await isAlive(second.token)).toBe(true);
    await expect(sessions.endAll('user-1')).resolves.toBe(2);
    await expect(sessions.endOwn('user-2', (issued[4] as (typeof issued)[0]).sid)).resolves.toBe(true);
    // A refresh writes the keys its session's record names (labels, the replay key): all in the subject's slot.
    const signed = await tokens.issue({ sub: 'user-3', claims: {}, ttlSeconds: 600, refresh: true });
    const refreshed = await tokens.refresh(signed.refresh?.token as string);
    expect([await isAlive(signed.token), await isAlive(refreshed.token)]).toEqual([true, true]);
    await expect(sessions.endToken(refreshed.jti)).resolves.toBe(true);
    await expect(sessions.endOthers('user-3', signed.sid)).resolves.toBe(2);
    expect([await isAlive(signed.token), await isAlive(refreshed.token), await isAlive((issued[6] as (typeof issued)[0]).token)]).toEqual([true, false, false]);

    // The kill switch visits every primary: the labels left are the issued tokens not ended above, and the signed one.
    const live = issued.length - 1 - 2 - 1 - 2 + 1;
    await expect(sessions.endEverything()).resolves.toBe(live);
    for (const { token } of [...issued, signed]) expect(await isAlive(token)).toBe(false);
    await expect(tokens.refresh(refreshed.refresh.token)).rejects.toThrow(RefreshTokenInvalidError);
  });

  it('fails closed while a primary fails over, never allows a token revoked before or during it, and recovers on its own once its replica took over', async () => {
    // One subject, so one hash tag: the three labels share a slot and so a primary, the one killed below.
    const [live, revokedBefore, revokedDuring] = [await issue('failover-user'), await issue('failover-user'), await issue('failover-user')];
    const primary = await cluster.primaryFor(labelKey(live.jti));
    for (const { jti } of [revokedBefore, revokedDuring]) expect((await cluster.primaryFor(labelKey(jti))).port).toBe(primary.port);
    await expect(sessions.end(revokedBefore.sid)).resolves.toBe(true);

    // The replica must hold the live label and the revocation before the kill: it is what will answer after it.
    const replica = await replicaHoldingAllOf(cluster, primary, labelKey(live.jti));
    const onReplica = await replica.admin();
    await onReplica.sendCommand(['READONLY']);
    expect(await onReplica.sendCommand(['EXISTS', labelKey(live.jti), labelKey(revokedDuring.jti)])).toBe(2);
    expect(await onReplica.sendCommand(['EXISTS', labelKey(revokedBefore.jti)])).toBe(0);

    const survivor = cluster.nodes.find((node) => node !== primary) ?? cluster.nodes[0]!;
    // The configuration endpoint must outlive the primary: point a fresh container at a survivor.
    const container = new RedisConnection({ url: survivor.url, timeoutMs: CONTAINER_TIMEOUT_MS, cluster: true });
    const containerSessions = new SessionStore(container);
    const containerTokens = new TokenService(container, containerSessions, tokenConfig);
    const answers: Array<{ what: string; outcome: string; ms: number }> = [];
    const timed = async (what: string, call: () => Promise<unknown>, success: string): Promise<string> => {
      const started = performance.now();
      const outcome = await call().then(() => success, outcomeOf);
      answers.push({ what, outcome, ms: Math.round(performance.now() - started) });
      return outcome;
    };
    const verify = (what: string, token: string) => timed(what, () => containerTokens.verify(token), 'allow');
    try {
      await expect(containerTokens.verify(live.token)).resolves.toMatchObject({ sub: 'failover-user' });
      await expect(containerTokens.verify(revokedBefore.token)).rejects.toThrow(TokenRevokedError);
      await primary.kill();

      // During the switch: every answer is a refusal within the bound, never an allow of a revoked token; a
      // revocation asked for meanwhile fails closed until the replica took over, and is retried until it holds.
      const liveOutcomes: string[] = [];
      const lateRevocation: string[] = [];
      const deadline = Date.now() + 20_000;
      for (;;) {
        // The revocation first: its first try comes right after the kill, well before any replica can take over.
        if (lateRevocation.at(-1) !== 'done') lateRevocation.push(await timed('revocation', () => containerSessions.end(revokedDuring.sid), 'done'));
        const outcome = await verify('live', live.token);
        liveOutcomes.push(outcome);
        await verify('revoked before', revokedBefore.token);
        if (outcome === 'allow' || Date.now() > deadline) break;
        await sleep(100);
      }
      while (lateRevocation.at(-1) !== 'done' && Date.now() < deadline) {
        lateRevocation.push(await timed('revocation', () => containerSessions.end(revokedDuring.sid), 'done'));
        await sleep(100);
      }

      // Every answer came within its bound, refusals included: failing closed must not mean hanging.
      expect(answers.filter(({ ms }) => ms >= ANSWER_BOUND_MS)).toEqual([]);
      // The live label was replicated before the kill, so the promoted replica still allows the live token.
      expect(liveOutcomes.at(-1)).toBe('allow');
      expect(liveOutcomes.slice(0, -1).every((outcome) => outcome === 'unavailable')).toBe(true);
      expect(liveOutcomes.length).toBeGreaterThan(1);
      // The revoked token: refused throughout, as unavailable or as revoked, never allowed.
      expect(answers.filter(({ what, outcome }) => what === 'revoked before' && outcome !== 'unavailable' && outcome !== 'revoked')).toEqual([]);
      // The revocation during the switch: refused (fail closed) while no primary served the slot, then done.
      expect(lateRevocation[0]).toBe('unavailable');
      expect(lateRevocation.at(-1)).toBe('done');
      expect(lateRevocation.slice(0, -1).every((outcome) => outcome === 'unavailable')).toBe(true);

      // Afterwards, on the new primary: both revoked tokens are refused as revoked, the live one still allowed.
      await expect(containerTokens.verify(revokedBefore.token)).rejects.toThrow(TokenRevokedError);
      await expect(containerTokens.verify(revokedDuring.token)).rejects.toThrow(TokenRevokedError);
      await expect(containerTokens.verify(live.token)).resolves.toMatchObject({ jti: live.jti });

      // And writes work again on the new primary.
      const fresh = await containerTokens.issue({ sub: 'failover-user', claims: {}, ttlSeconds: 60 });
      await expect(containerTokens.verify(fresh.token)).resolves.toMatchObject({ jti: fresh.jti });
    } finally {
      await container.close();
    }
  });
});
