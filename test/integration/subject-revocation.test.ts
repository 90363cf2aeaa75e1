// Ending every session of a subject (logout-all, POST /auth/revoke {sub}) must hold for every token signed
// before it, whatever became of the session index, however many signs race it, and after its counter was
// lost; and the authorizer still decides with one Redis call.
import { expect } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { loadSessionConfig } from '../../shared/config';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { counterKey, INDEX_PREFIX, labelKey, subjectTag } from '../../shared/sessions/keys';
import { TokenService } from '../../shared/auth/tokens';
import { coldStart, type Container } from '../../testkit/cold-start';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { captureLogs } from '../../testkit/logs';
import type { AdminClient } from '../../testkit/redis-server';

jest.setTimeout(120_000);

const SECRET = 'subject-revocation-secret-0123456789abcdef';
const indexOf = (sub: string) => `${INDEX_PREFIX}{${subjectTag(sub)}}`;
const counterOf = (sub: string) => counterKey(subjectTag(sub));

type Issued = { token: string; jti: string; sid: string; refreshToken?: string };
type Revocation = (container: Container, sub: string) => Promise<APIGatewayProxyResult>;

describe('Subject-wide revocation (real redis-server)', () => {
  const containers = useContainers('suite');
  const server = useRedisServer({ flushEachTest: true });
  let container: Container;
  let other: Container;

  const sign = async (via: Container, sub: string, refresh = false): Promise<Issued> => {
    const response = await via.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(refresh ? { sub, refresh } : { sub }) }));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as Issued;
  };
  /** 'allow', 'deny' (a 401), or the error: never anything else. */
  const decide = (token: string, via = container) =>
    via.authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
      () => 'allow',
      (error: Error) => (error.message === 'Unauthorized' ? 'deny' : `error: ${error.message}`),
    );
  const contextOf = async (token: string) => (await container.authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).context as Record<string, unknown>;
  const refresh = async (via: Container, refreshToken: string) =>
    (await via.refresh(proxyEvent({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken }) }))).statusCode;
  /** What a trusted backend would configure: the defaults, with a cap of 100 and its own MAX_TTL. */
  const limits = (maxTtlSeconds: number) => ({ ...loadSessionConfig({ MAX_SESSIONS: '100' }), maxTtlSeconds });

  /** The two routes that end every session of a subject, as its own caller would and as a trusted backend would. */
  const logoutAll: Revocation = async (via, sub) => {
    const caller = await sign(via, sub);
    return via.logoutAll(proxyEvent({ method: 'POST', path: '/auth/logout-all', authorizer: await contextOf(caller.token) }));
  };
  const revokeSubject: Revocation = (via, sub) => via.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ sub }) }));
  const REVOCATIONS: Array<[string, Revocation, number]> = [
    ['logout-all', logoutAll, 204],
    ['POST /auth/revoke {sub}', revokeSubject, 200],
  ];

  beforeAll(() => {
    // A generous bound: under a storm of signs on two cores, a slow answer must not pass for a refusal.
    const env = { REDIS_URL: server().url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '5000', LOG_LEVEL: 'silent' };
    container = containers(env);
    other = containers(env);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe.each(REVOCATIONS)('%s', (_, revoke, status) => {
    it('ends every earlier token and refresh token with the index deleted by hand; a token signed after works', async () => {
      const sub = 'index-lost';
      const earlier = [await sign(container, sub, true), await sign(other, sub), await sign(container, sub)];
      const bystander = await sign(container, 'bystander');
      await (await server().admin()).del(indexOf(sub));

      expect((await revoke(container, sub)).statusCode).toBe(status);
      // With no index to say how long its labels live, the counter outlives the longest any may: MAX_TTL.
      expect(await (await server().admin()).pTTL(counterOf(sub))).toBeGreaterThan((86_400 - 60) * 1000);

      expect(await Promise.all(earlier.map(({ token }) => decide(token)))).toEqual(['deny', 'deny', 'deny']);
      expect(await Promise.all(earlier.map(({ token }) => decide(token, other)))).toEqual(['deny', 'deny', 'deny']);
      // Its session's record, which the revocation could not find, is below the counter: no refresh revives it.
      expect(await refresh(other, earlier[0]!.refreshToken as string)).toBe(401);
      expect(await decide(bystander.token)).toBe('allow');
      const after = await sign(other, sub);
      expect(await decide(after.token)).toBe('allow');
      // Its label and record carry the counter's generation, its record its creation time, which the listing reads.
      const listed = await container.listSessions(proxyEvent({ method: 'GET', path: '/auth/sessions', authorizer: await contextOf(after.token) }));
      const createdAt = Math.floor(Date.now() / 1000);
      expect(JSON.parse(listed.body)).toEqual({ sessions: [{ sid: after.sid, createdAt: expect.any(Number), expiresAt: expect.any(Number), current: true }] });
      expect(Math.abs((JSON.parse(listed.body) as { sessions: Array<{ createdAt: number }> }).sessions[0]!.createdAt - createdAt)).toBeLessThanOrEqual(2);
    });

    it.each([
      ['deleted', (admin: AdminClient, key: string) => admin.del(key)],
      ['expired', (admin: AdminClient, key: string) => admin.pExpire(key, 1)],
    ])('refuses, after a later revocation, a token stamped by a counter %s since', async (__, lose) => {
      const sub = 'counter-lost';
      const admin = await server().admin();
      await sign(container, sub);
      expect((await revoke(container, sub)).statusCode).toBe(status);
      const stamped = await sign(container, sub);
      expect((await admin.get(labelKey(stamped.jti)))?.split(':')[0]).toBe(await admin.get(counterOf(sub)));
      // Then the counter is gone, and the index that listed the token too: only the generation can end it.
      await lose(admin, counterOf(sub));
      await admin.del(indexOf(sub));
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await admin.exists(counterOf(sub))).toBe(0);
      // Nothing has revoked it since it was signed: it is live.
      expect(await decide(stamped.token)).toBe('allow');

      expect((await revoke(container, sub)).statusCode).toBe(status);
      expect(await decide(stamped.token)).toBe('deny');
    });
  });

  it('racing signs at full rate from two containers: every revocation answers, and ends every token signed before it began', async () => {
    const sub = 'racer';
    const SIGNS_IN_FLIGHT = 24;
    const ROUNDS = 12;
    // Tokens in the order their sign answered.
    const signed: Issued[] = [];
    let signing = true;
    let failedSigns = 0;
    const signers = Array.from({ length: SIGNS_IN_FLIGHT }, async (_, i) => {
      const via = i % 2 === 0 ? container : other;
      while (signing) {
        const response = await via.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub }) }));
        if (response.statusCode === 201) signed.push(JSON.parse(response.body) as Issued);
        else failedSigns += 1;
      }
    });
    const statuses: number[] = [];
    const survivors: string[] = [];
    let checked = 0;
    try {
      while (signed.length < 10) await new Promise((resolve) => setTimeout(resolve, 5));
      for (let round = 0; round < ROUNDS; round += 1) {
        const [, revoke, status] = REVOCATIONS[round % REVOCATIONS.length] as [string, Revocation, number];
        // Every sign that answered before the revocation began.
        const before = signed.slice();
        const response = await revoke(round % 3 === 0 ? other : container, sub);
        statuses.push(response.statusCode === status ? 200 : response.statusCode);
        const decisions = await Promise.all(before.map(({ token }) => decide(token, round % 2 === 0 ? container : other)));
        decisions.forEach((decision, i) => decision === 'deny' || survivors.push(`${before[i]?.jti}: ${decision}`));
        checked += before.length;
      }
    } finally {
      signing = false;
      await Promise.all(signers);
    }
    expect({ statuses, survivors: survivors.length, firstSurvivors: survivors.slice(0, 3), failedSigns }).toEqual({
      statuses: statuses.map(() => 200),
      survivors: 0,
      firstSurvivors: [],
      failedSigns: 0,
    });
    // A real race: many signs landed while revocations ran, and were checked after each.
    expect(checked).toBeGreaterThan(ROUNDS * 10);
    console.log(
      `revocation racing signs: ${ROUNDS} revocations, ${signed.length} signs with ${SIGNS_IN_FLIGHT} in flight, ${checked} earlier tokens checked after them, 0 allowed`,
    );
    expect(await decide((await sign(container, sub)).token)).toBe('allow');
  });

  it('keeps the counter alive as long as any label it revoked: MAX_TTL, the index, and its own TTL', async () => {
    setLogLevel('silent');
    const admin = await server().admin();
    const redis = new RedisConnection({ url: server().url, timeoutMs: 2000 });
    try {
      // MAX_TTL lowered to 60 s while a 600 s token lives: the index's TTL covers it.
      const store = new SessionStore(redis, 0, limits(60));
      const tokens = new TokenService(redis, store, {
        keys: [{ kid: 'k', secret: SECRET }],
        issuer: 'i',
        audience: 'a',
        defaultTtlSeconds: 60,
        maxTtlSeconds: 600,
      });
      await tokens.issue({ sub: 'long', claims: {}, ttlSeconds: 600 });
      await store.endAll('long');
      expect(await admin.pTTL(counterOf('long'))).toBeGreaterThan(590_000);

      // Without an index: MAX_TTL.
      await store.endAll('short');
      const ttl = await admin.pTTL(counterOf('short'));
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(60_000);

      // A revocation never shortens what an earlier one set.
      await admin.pExpire(counterOf('short'), 3_600_000);
      await store.endAll('short');
      expect(await admin.pTTL(counterOf('short'))).toBeGreaterThan(3_590_000);
    } finally {
      await redis.close();
    }
  });

  it("a revoking container with a smaller MAX_TTL than the signer's, and no index: the counter still outlives the label", async () => {
    setLogLevel('silent');
    const admin = await server().admin();
    const redis = new RedisConnection({ url: server().url, timeoutMs: 2000 });
    try {
      const signer = new SessionStore(redis, 0, limits(30));
      const tokens = new TokenService(redis, signer, {
        keys: [{ kid: 'k', secret: SECRET }],
        issuer: 'i',
        audience: 'a',
        defaultTtlSeconds: 30,
        maxTtlSeconds: 30,
      });
      const { token } = await tokens.issue({ sub: 'rollout', claims: {}, ttlSeconds: 30 });
      await admin.del(indexOf('rollout'));
      // A container of another deploy, MAX_TTL 1 s, ends every session of the subject.
      const revoker = new SessionStore(redis, 0, limits(1));
      await revoker.endAll('rollout');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await admin.pTTL(counterOf('rollout'))).toBeGreaterThan(25_000);
      await expect(tokens.verify(token)).rejects.toThrow('revoked');
    } finally {
      await redis.close();
    }
  });

  it("a revocation raises the counter even when it stands above Redis's clock (revocations within one ms, a clock set back)", async () => {
    const admin = await server().admin();
    const sub = 'above-the-clock';
    await sign(container, sub);
    // Ahead of the clock by a day, as after a clock step back or many revocations in one millisecond.
    await admin.set(counterOf(sub), String(Date.now() + 86_400_000), { PX: 600_000 });
    const stamped = await sign(container, sub);
    expect(await decide(stamped.token)).toBe('allow');
    await admin.del(indexOf(sub));
    expect((await revokeSubject(container, sub)).statusCode).toBe(200);
    expect(await decide(stamped.token)).toBe('deny');
  });

  it('a label stamped while its subject had no counter holds its issue time alone, and is live until the subject is revoked', async () => {
    const admin = await server().admin();
    const { token, jti, sid } = await sign(container, 'never-revoked');
    const issuedAtMs = await admin.get(labelKey(jti));
    expect(issuedAtMs).toMatch(/^\d+$/);
    expect(await decide(token)).toBe('allow');
    const listed = JSON.parse(
      (await container.listSessions(proxyEvent({ method: 'GET', path: '/auth/sessions', authorizer: await contextOf(token) }))).body,
    ) as {
      sessions: Array<{ sid: string; createdAt: number }>;
    };
    expect(listed.sessions).toEqual([expect.objectContaining({ sid, createdAt: Math.floor(Number(issuedAtMs) / 1000) })]);
    await admin.del(indexOf('never-revoked'));
    expect((await revokeSubject(container, 'never-revoked')).statusCode).toBe(200);
    expect(await decide(token)).toBe('deny');
  });

  it('listing and ending sessions treat a session and a label stamped below the counter as gone', async () => {
    const admin = await server().admin();
    const caller = await sign(container, 'stale');
    const stale = await sign(container, 'stale');
    const context = await contextOf(caller.token);
    // The counter raised without the labels' cleanup (a revocation whose index was out of step).
    await admin.set(counterOf('stale'), '1', { PX: 60_000 });

    const listed = await container.listSessions(proxyEvent({ method: 'GET', path: '/auth/sessions', authorizer: context }));
    expect(JSON.parse(listed.body)).toEqual({ sessions: [] });
    const ended = await container.endSession(
      proxyEvent({ method: 'DELETE', path: `/auth/sessions/${stale.sid}`, authorizer: context, pathParameters: { sid: stale.sid } }),
    );
    expect(ended.statusCode).toBe(404);
    for (const body of [{ jti: caller.jti }, { sid: caller.sid }]) {
      expect(await container.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify(body) }))).toMatchObject({ body: '{"revoked":0}' });
    }
    expect([await decide(caller.token), await decide(stale.token)]).toEqual(['deny', 'deny']);
  });

  it('the authorizer decides with one Redis call, an MGET, allowed or refused by the counter', async () => {
    const admin = await server().admin();
    const revoked = await sign(container, 'counted');
    expect((await revokeSubject(container, 'counted')).statusCode).toBe(200);
    const live = await sign(container, 'counted');
    const output = captureLogs();
    const logged = coldStart({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'info' });
    try {
      // Connected first, so that only the decisions are counted.
      await logged.services.redis.primaryCount();
      await admin.configResetStat();
      expect([await decide(live.token, logged), await decide(revoked.token, logged), await decide(live.token, logged)]).toEqual(['allow', 'deny', 'allow']);
      const stats = await admin.info('commandstats');
      const calls = Object.fromEntries([...stats.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)].map(([, command, count]) => [command!, Number(count)] as const));
      expect(calls).toEqual({ 'config|resetstat': 1, mget: 3 });
      const decisions = output.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.message === 'authorize');
      expect(decisions.map((line) => [line.outcome, line.RedisCalls])).toEqual([
        ['allow', 1],
        ['deny', 1],
        ['allow', 1],
      ]);
    } finally {
      await logged.close();
    }
  });
});
