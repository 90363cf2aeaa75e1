// Sessions with REDIS_CLUSTER=true against a real local cluster (three primaries, a replica each), through the
// real handlers: refresh chains, reuse detection, racing refreshes and logout scopes, for subjects spread over
// every primary. Every script touches keys it does not declare (a session's labels, records, replay key): they
// share the subject's hash tag, so they must lie in the declared keys' slot, or the cluster refuses the script.
import { expect } from '@jest/globals';
import type { Env } from '../../shared/config';
import { recordKey } from '../../shared/sessions/keys';
import { useContainers } from '../../testkit/fixtures';
import { startRedisCluster, type RedisCluster } from '../../testkit/redis-cluster';
import type { RedisServer } from '../../testkit/redis-server';
import { keyspace, REFRESH_REFUSED, SessionClient, sleep, type Signed } from '../../testkit/session-client';

jest.setTimeout(120_000);

const SECRET = 'refresh-cluster-secret-0123456789abcdefghij';

describe('Sessions on Redis Cluster (REDIS_CLUSTER=true)', () => {
  let cluster: RedisCluster;
  const containers = useContainers('test');

  beforeAll(async () => {
    cluster = await startRedisCluster();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  beforeEach(async () => {
    for (const node of await primaries()) await (await node.admin()).flushAll();
  });

  async function primaries(): Promise<RedisServer[]> {
    const roles = await Promise.all(
      cluster.nodes.map(async (node) => ((await (await node.admin()).sendCommand<unknown[]>(['ROLE']))[0] === 'master' ? node : undefined)),
    );
    return roles.filter((node): node is RedisServer => node !== undefined);
  }

  /** A container on the cluster; a generous bound, as a cold cluster connect discovers the nodes first. */
  const client = (env: Env = {}) => {
    const container = containers({ REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', JWT_SECRET: SECRET, LOG_LEVEL: 'silent', REDIS_TIMEOUT_MS: '3000', ...env });
    return new SessionClient(() => container);
  };
  const state = async () => keyspace(await primaries());

  it('rotates chains of subjects on every primary, each new access token allowed by another container', async () => {
    const api = client();
    const elsewhere = client();
    const subjects = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const signed = await Promise.all(subjects.map((sub) => api.signIn(sub, { claims: { n: sub } })));
    const ports = new Set(await Promise.all(signed.map(async ({ sid }) => (await cluster.primaryFor(recordKey(sid))).port)));
    expect(ports.size).toBe(3);
    const current = [...signed];
    for (let round = 0; round < 20; round += 1) {
      const pairs = await Promise.all(current.map((session) => api.rotate(session.refreshToken)));
      for (const [i, pair] of pairs.entries()) {
        expect(pair.sid).toBe(signed[i]?.sid);
        expect(await elsewhere.context(pair.token)).toMatchObject({ sub: subjects[i], sid: pair.sid, customClaims: JSON.stringify({ n: subjects[i] }) });
        // A retry within the grace window: the same pair.
        expect((await elsewhere.refresh((current[i] as Signed).refreshToken)).body).toEqual(pair);
      }
      current.splice(0, current.length, ...pairs);
    }
  });

  it('ends the whole session on reuse after the grace window: every access token and the refresh token refused, from another container', async () => {
    const api = client({ REFRESH_REUSE_GRACE: '1' });
    const elsewhere = client();
    const victims = await Promise.all(Array.from({ length: 6 }, (_, i) => api.signIn(`victim-${i}`)));
    const chains = await Promise.all(
      victims.map(async (signed) => {
        const first = await api.rotate(signed.refreshToken);
        const second = await api.rotate(first.refreshToken);
        return { signed, first, second, tokens: [signed.token, first.token, second.token] };
      }),
    );
    const bystander = await api.signIn('victim-0');
    for (const { tokens } of chains) for (const token of tokens) expect(await elsewhere.decide(token)).toBe('allow');
    await sleep(1100);
    for (const { first } of chains) expect(await api.refresh(first.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    for (const { signed, second, tokens } of chains) {
      for (const token of tokens) expect(await elsewhere.decide(token)).toBe('deny');
      expect((await elsewhere.refresh(second.refreshToken)).body).toEqual(REFRESH_REFUSED);
      expect(await (await cluster.primaryFor(recordKey(signed.sid))).admin().then((admin) => admin.exists(recordKey(signed.sid)))).toBe(0);
    }
    expect(await elsewhere.decide(bystander.token)).toBe('allow');
  });

  it('gives racing refreshes from two containers one pair, and one chain', async () => {
    const one = client();
    const two = client();
    const signed = await one.signIn('racer');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).refresh(signed.refreshToken)));
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect(new Set(answers.map((answer) => answer.body.refreshToken)).size).toBe(1);
    const pair = answers[0]?.body as unknown as Signed;
    await expect(two.rotate(pair.refreshToken)).resolves.toMatchObject({ sid: signed.sid });
  });

  it('refuses wrong and malformed refresh tokens without changing any primary', async () => {
    const api = client();
    const signed = await api.signIn('alice');
    const [tag, session, , secret] = signed.refreshToken.split('.') as [string, string, string, string];
    const before = await state();
    for (const wrong of [
      'x',
      `${signed.refreshToken}x`,
      [tag, session, 'A'.repeat(22), secret].join('.'),
      ['B'.repeat(22), session, 'A'.repeat(22), secret].join('.'),
    ]) {
      expect((await api.refresh(wrong)).body).toEqual(REFRESH_REFUSED);
    }
    expect(await state()).toEqual(before);
    await expect(api.rotate(signed.refreshToken)).resolves.toMatchObject({ sid: signed.sid });
  });

  it.each([
    ['local', '{"scope":"local"}', [false, true, true]],
    ['others', '{"scope":"others"}', [true, false, false]],
    ['global', '{"scope":"global"}', [false, false, false]],
  ])('logs out with scope %s: exactly the sessions it names end, access and refresh tokens alike', async (_, body, lives) => {
    const api = client();
    const elsewhere = client();
    const mine = await Promise.all([0, 1, 2].map(() => api.signIn('alice')));
    const bobs = await api.signIn('bob');
    expect((await api.logout((mine[0] as Signed).token, body)).status).toBe(204);
    for (const [i, session] of mine.entries()) {
      const expected = lives[i] ? 'allow' : 'deny';
      expect({ i, decision: await elsewhere.decide(session.token) }).toEqual({ i, decision: expected });
      expect({ i, refresh: (await elsewhere.refresh(session.refreshToken)).status }).toEqual({ i, refresh: lives[i] ? 200 : 401 });
    }
    expect(await elsewhere.decide(bobs.token)).toBe('allow');
  });

  it('lists sessions, ends one by DELETE and one by POST /auth/revoke {sid}, and the kill switch reaches every primary', async () => {
    const api = client();
    const [one, two, three] = (await Promise.all([0, 1, 2].map(() => api.signIn('alice')))) as [Signed, Signed, Signed];
    const others = await Promise.all(Array.from({ length: 9 }, (_, i) => api.signIn(`user-${i}`)));
    const listed = (await api.sessions(one.token)).body.sessions as Array<{ sid: string; current: boolean }>;
    expect(listed.map((session) => session.sid).sort()).toEqual([one.sid, two.sid, three.sid].sort());
    expect(listed.filter((session) => session.current).map((session) => session.sid)).toEqual([one.sid]);
    expect((await api.endSession(one.token, two.sid)).status).toBe(204);
    expect((await api.revoke({ sid: three.sid })).body).toEqual({ revoked: 1 });
    expect(((await api.sessions(one.token)).body.sessions as Array<{ sid: string }>).map((session) => session.sid)).toEqual([one.sid]);
    expect(await api.revokeAll()).toMatchObject({ revoked: 1 + others.length });
    for (const session of [one, ...others]) {
      expect(await api.decide(session.token)).toBe('deny');
      expect((await api.refresh(session.refreshToken)).body).toEqual(REFRESH_REFUSED);
    }
  });
});
