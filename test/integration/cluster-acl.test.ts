// REDIS_CLUSTER=true through the real handlers, cold-started in their own process, against a cluster that
// serves TLS only and requires a login on every node (no default user): the application's ACL user, with the
// rules docs/operations.md gives it, on every node the container reaches. Discovered nodes inherit nothing
// from the configuration endpoint's URL, so a connection that dropped the credentials or TLS would fail
// there, on the slots it does not own.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { createCluster } from '@redis/client';
import { labelKey, newId } from '../../shared/sessions/keys';
import { aclRulesFromDocs } from '../../testkit/docs';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import type { InvocationResult } from '../../testkit/handler-host';
import { bundleHandlerHost, startHost, type HostBundle, type HostProcess } from '../../testkit/host-process';
import { startRedisCluster, type RedisCluster } from '../../testkit/redis-cluster';
import { createThrowawayPki, type ThrowawayCa, type ThrowawayPki } from '../../testkit/tls';

jest.setTimeout(60_000);

const ADMIN = { username: 'admin', password: `admin-pw-${randomBytes(12).toString('hex')}` };
const APP_USER = 'jwt';
/** The same rules but the cluster's. */
const PLAIN_USER = 'jwt-plain';
// Distinctive, so that a log line echoing one would be caught.
const APP_PASSWORD = `cluster-app-pw-${randomBytes(12).toString('hex')}`;
const JWT_SECRET = 'cluster-acl-test-secret-0123456789abcdefg';
/** Enough labels that no primary's SCAN (1000 keys a page) can cover its share in one page. */
const BULK_LABELS = 6000;

type ProxyOutcome = InvocationResult & { ok: true; result: APIGatewayProxyResult };

describe('Redis Cluster over TLS with a login on every node (REDIS_CLUSTER=true, an ACL user), cold-started through the real handlers', () => {
  let pki: ThrowawayPki;
  let ca: ThrowawayCa;
  let cluster: RedisCluster;
  let bundle: HostBundle;
  let host: HostProcess;

  const containerEnv = (user: string) => ({
    REDIS_URL: `rediss://${user}:${APP_PASSWORD}@127.0.0.1:${cluster.nodes[0]?.port ?? 0}`,
    REDIS_CLUSTER: 'true',
    NODE_EXTRA_CA_CERTS: ca.caFile,
    JWT_SECRET,
    LOG_LEVEL: 'info',
    // Generous: this test is about credentials, not bounds, and a cold cluster connect discovers first.
    REDIS_TIMEOUT_MS: '3000',
  });

  beforeAll(async () => {
    const { rules, clusterRule } = aclRulesFromDocs();
    pki = createThrowawayPki();
    ca = pki.createCa('ca');
    cluster = await startRedisCluster({
      tls: { ...ca.issue('redis', ['IP:127.0.0.1']), caFile: ca.caFile },
      acl: {
        admin: ADMIN,
        users: [
          'user default off',
          `user ${ADMIN.username} on >${ADMIN.password} ~* &* +@all`,
          `user ${APP_USER} on >${APP_PASSWORD} ${[...rules, clusterRule].join(' ')}`,
          `user ${PLAIN_USER} on >${APP_PASSWORD} ${rules.join(' ')}`,
        ],
      },
    });
    bundle = bundleHandlerHost();
    host = await startHost(bundle, containerEnv(APP_USER));
  });

  afterAll(async () => {
    host?.stop();
    await cluster?.stop();
    bundle?.cleanup();
    pki?.cleanup();
  });

  type Pair = { token: string; jti: string; sid: string; refreshToken: string };

  async function sign(sub: string): Promise<Pair> {
    const body = JSON.stringify({ sub, refresh: true });
    const signed = (await host.invoke('sign', proxyEvent({ method: 'POST', path: '/auth/token', body }))) as ProxyOutcome;
    expect({ sub, status: signed.result?.statusCode, body: signed.result?.body }).toMatchObject({ sub, status: 201 });
    return JSON.parse(signed.result.body) as Pair;
  }

  /** POST /auth/refresh's answer. */
  async function refresh(refreshToken: string): Promise<APIGatewayProxyResult> {
    const body = JSON.stringify({ refreshToken });
    return ((await host.invoke('refresh', proxyEvent({ method: 'POST', path: '/auth/refresh', body }))) as ProxyOutcome).result;
  }

  /** Written as an attacker with Redis access (or many sessions) would leave them, routed by slot. */
  async function insertLabels(keys: string[]): Promise<void> {
    const socket = { reconnectStrategy: false as const, tls: true as const, ca: readFileSync(ca.caFile) };
    const client = createCluster({ rootNodes: [{ url: cluster.url, socket }], defaults: { ...ADMIN, socket } });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await Promise.all(keys.map((key) => client.set(key, '1', { EX: 600 })));
    } finally {
      client.destroy();
    }
  }

  async function primariesNow() {
    const roles = await Promise.all(cluster.nodes.map(async (node) => String(await (await node.admin()).info('replication')).includes('role:master')));
    return cluster.nodes.filter((_, i) => roles[i]);
  }

  const decision = async (token: string) => {
    const answer = await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
    return answer.ok ? 'allow' : answer.error.message;
  };

  it('runs every feature on every primary as the ACL user, and the kill switch reaches every label', async () => {
    // Subjects whose keys fall on each of the three primaries.
    const subjects = Array.from({ length: 9 }, (_, i) => `cluster-user-${i}`);
    const issued = await Promise.all(subjects.map(async (sub) => ({ sub, ...(await sign(sub)) })));
    const primaries = new Set(await Promise.all(issued.map(async ({ jti }) => (await cluster.primaryFor(labelKey(jti))).port)));
    expect(primaries.size).toBe(3);
    for (const { token } of issued) expect(await decision(token)).toBe('allow');
    // A refresh on every primary: a second access token of each session, and its next refresh token.
    const refreshed = await Promise.all(
      issued.map(async ({ refreshToken }) => {
        const answer = await refresh(refreshToken);
        expect(answer.statusCode).toBe(200);
        return JSON.parse(answer.body) as Pair;
      }),
    );
    expect(refreshed.map(({ sid }) => sid)).toEqual(issued.map(({ sid }) => sid));
    for (const { token } of refreshed) expect(await decision(token)).toBe('allow');

    const [first, second] = issued as [(typeof issued)[0], (typeof issued)[0]];
    const context = (entry: (typeof issued)[0]) => ({ sub: entry.sub, jti: entry.jti, sid: entry.sid, iat: 0, exp: 0, customClaims: '{}' });
    expect(await host.invoke('logout', proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context(first) }))).toMatchObject({
      ok: true,
      result: { statusCode: 204 },
    });
    // Its whole session: both access tokens, and the refresh token.
    expect([await decision(first.token), await decision(refreshed[0]!.token)]).toEqual(['Unauthorized', 'Unauthorized']);
    expect((await refresh(refreshed[0]!.refreshToken)).statusCode).toBe(401);
    const listed = (await host.invoke('listSessions', proxyEvent({ method: 'GET', path: '/auth/sessions', authorizer: context(second) }))) as ProxyOutcome;
    expect(listed.result.statusCode).toBe(200);
    expect(JSON.parse(listed.result.body)).toEqual({ sessions: [expect.objectContaining({ sid: second.sid, current: true })] });
    expect(await host.invoke('logoutAll', proxyEvent({ method: 'POST', path: '/auth/logout-all', authorizer: context(second) }))).toMatchObject({
      ok: true,
      result: { statusCode: 204 },
    });
    expect([await decision(second.token), await decision(refreshed[1]!.token)]).toEqual(['Unauthorized', 'Unauthorized']);

    // Labels on every primary, several SCAN pages each, then the kill switch.
    await insertLabels(Array.from({ length: BULK_LABELS }, (_, i) => labelKey(newId(`bulk-${i % 300}`))));
    const primaryNodes = await primariesNow();
    expect(primaryNodes).toHaveLength(3);
    for (const node of primaryNodes) expect((await (await node.admin()).keys('jwt_label:*')).length).toBeGreaterThan(1000);
    // Two access tokens a session, but the two sessions ended.
    const live = 2 * (issued.length - 2);
    const killed = await host.invoke('revokeAll', { confirm: 'revoke-all' });
    expect(killed).toMatchObject({ ok: true, result: { revoked: BULK_LABELS + live } });
    for (const { token } of [...issued, ...refreshed]) expect(await decision(token)).toBe('Unauthorized');
    for (const { refreshToken } of refreshed) expect((await refresh(refreshToken)).statusCode).toBe(401);
    for (const node of primaryNodes) expect(await (await node.admin()).keys('jwt_label:*')).toEqual([]);
    for (const node of primaryNodes) expect(await (await node.admin()).keys('jwt_session:*')).toEqual([]);

    // Nothing was denied to the user on any node, and the password was never written out.
    for (const node of cluster.nodes) expect(await (await node.admin()).aclLog()).toEqual([]);
    await host.flush();
    expect(host.lines().join('\n')).not.toContain(APP_PASSWORD);
  });

  it("without the docs' cluster rule, fails closed (503), and the log says the ACL refused the slot map", async () => {
    const plain = await startHost(bundle, containerEnv(PLAIN_USER));
    try {
      const signed = (await plain.invoke(
        'sign',
        proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'cluster-user-0' }) }),
      )) as ProxyOutcome;
      expect(signed.result.statusCode).toBe(503);
      await plain.flush();
      expect(
        plain
          .logEntries()
          .filter((entry) => entry.message === 'redis client error')
          .map((entry) => entry.reason),
      ).toContainEqual(expect.stringMatching(/NOPERM .*'cluster\|slots'/));
      expect(plain.lines().join('\n')).not.toContain(APP_PASSWORD);
    } finally {
      plain.stop();
    }
  });
});
