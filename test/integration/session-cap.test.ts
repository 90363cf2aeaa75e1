// MAX_SESSIONS caps a subject's live sessions inside sign's script, so racing signs cannot overshoot it: by
// default the oldest sessions end; with SESSION_LIMIT=refuse sign answers 409 and stores nothing.
import { counterKey, INDEX_PREFIX, LABEL_PREFIX, RECORD_PREFIX, recordKey, subjectTag } from '../../shared/sessions/keys';
import type { Container } from '../../testkit/cold-start';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';

jest.setTimeout(60_000);

const SECRET = 'session-cap-test-secret-0123456789abcdefgh';
const indexOf = (sub: string) => `${INDEX_PREFIX}{${subjectTag(sub)}}`;
/** A subject's index size, session records and labels, read in one atomic step (a script), so no sign lands between them. */
const SAMPLE = `return { redis.call('ZCARD', KEYS[1]), #redis.call('KEYS', ARGV[1]), #redis.call('KEYS', ARGV[2]) }`;

type Issued = { token: string; jti: string; sid: string };

describe('MAX_SESSIONS (real redis-server)', () => {
  const container = useContainers();
  const server = useRedisServer({ flushEachTest: true });

  const start = (extra: Record<string, string>) =>
    container({ REDIS_URL: server().url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '5000', LOG_LEVEL: 'silent', ...extra });
  const signEvent = (sub: string, ttl?: number) =>
    proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(ttl === undefined ? { sub } : { sub, ttl }) });
  const sign = async (via: Container, sub: string, ttl?: number): Promise<Issued> => {
    const response = await via.sign(signEvent(sub, ttl));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as Issued;
  };
  const isAlive = (via: Container, token: string) =>
    via.authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
      () => true,
      (error: Error) => (error.message === 'Unauthorized' ? false : Promise.reject(error)),
    );
  /** [entries in the index, session records, labels of the subject], at one instant. */
  const sample = async (sub: string): Promise<[number, number, number]> =>
    (await (
      await server().admin()
    ).eval(SAMPLE, {
      keys: [indexOf(sub)],
      arguments: [`${RECORD_PREFIX}{${subjectTag(sub)}}*`, `${LABEL_PREFIX}{${subjectTag(sub)}}*`],
    })) as [number, number, number];

  it('is never exceeded by 200 racing signs from two containers; the sessions ended are refused', async () => {
    const [a, b] = [start({ MAX_SESSIONS: '10' }), start({ MAX_SESSIONS: '10' })];
    const sub = 'racing-cap';
    let signing = true;
    const samples: Array<[number, number, number]> = [];
    // Several at once, pipelined on the admin connection: samples land between the signs' scripts.
    const samplers = Array.from({ length: 8 }, async () => {
      while (signing) samples.push(await sample(sub));
    });
    let issued: Issued[];
    try {
      issued = await Promise.all(Array.from({ length: 200 }, (_, i) => sign(i % 2 === 0 ? a : b, sub)));
    } finally {
      signing = false;
      await Promise.all(samplers);
    }
    samples.push(await sample(sub));

    expect(samples.length).toBeGreaterThan(20);
    expect(samples.filter((counts) => counts.some((count) => count > 10))).toEqual([]);
    expect(samples.at(-1)).toEqual([10, 10, 10]);
    const alive = await Promise.all(issued.map(({ token }) => isAlive(a, token)));
    expect(alive.filter(Boolean)).toHaveLength(10);
  });

  it.each([
    ['a subject never revoked', false],
    ['a subject revoked before (its labels carry a generation)', true],
  ])('ends the oldest sessions by when they were signed, not by when they expire: %s', async (_, revokedBefore) => {
    const container = start({ MAX_SESSIONS: '3' });
    if (revokedBefore)
      expect((await container.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: '{"sub":"oldest-first"}' }))).statusCode).toBe(200);
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
    const oldest = await sign(container, 'oldest-first', 900);
    await pause();
    const soonest = await sign(container, 'oldest-first', 60);
    await pause();
    const third = await sign(container, 'oldest-first', 300);
    await pause();
    const newest = await sign(container, 'oldest-first', 600);

    expect(await Promise.all([oldest, soonest, third, newest].map(({ token }) => isAlive(container, token)))).toEqual([false, true, true, true]);
    expect(await sample('oldest-first')).toEqual([3, 3, 3]);
  });

  it('counts only live sessions: one whose record was lost or one below the counter is dropped, not a live one ended', async () => {
    const container = start({ MAX_SESSIONS: '3' });
    const admin = await server().admin();
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
    const kept1 = await sign(container, 'dead-entries');
    await pause();
    // Not the oldest: ending the oldest to make room would end a live session.
    const lost = await sign(container, 'dead-entries');
    await pause();
    const kept2 = await sign(container, 'dead-entries');
    await admin.del(recordKey(lost.sid));
    const fourth = await sign(container, 'dead-entries');
    expect(await Promise.all([kept1, kept2, fourth].map(({ token }) => isAlive(container, token)))).toEqual([true, true, true]);
    expect((await admin.zRange(indexOf('dead-entries'), 0, -1)).sort()).toEqual([kept1.sid, kept2.sid, fourth.sid].sort());

    // The counter raised by hand over all three: none of them is live, so none needs ending to make room.
    await admin.set(counterKey(subjectTag('dead-entries')), '1', { PX: 60_000 });
    const fresh = await sign(container, 'dead-entries');
    expect(await admin.zRange(indexOf('dead-entries'), 0, -1)).toEqual([fresh.sid]);
    expect(await isAlive(container, fresh.token)).toBe(true);
  });

  describe('SESSION_LIMIT=refuse', () => {
    it('answers 409 at the cap and stores nothing; once a session ends, sign works again', async () => {
      const container = start({ MAX_SESSIONS: '2', SESSION_LIMIT: 'refuse' });
      const admin = await server().admin();
      const first = await sign(container, 'refused');
      const second = await sign(container, 'refused');
      const snapshot = async () => Promise.all((await admin.keys('*')).sort().map(async (key) => [key, await admin.dump(key)]));
      const before = await snapshot();

      const refused = await container.sign(signEvent('refused'));
      expect(refused.statusCode).toBe(409);
      expect(JSON.parse(refused.body)).toEqual({
        error: 'SESSION_LIMIT_REACHED',
        message: 'the subject already has 2 live sessions (MAX_SESSIONS); end one first',
      });
      expect(await snapshot()).toEqual(before);
      expect(await Promise.all([first, second].map(({ token }) => isAlive(container, token)))).toEqual([true, true]);

      const context = (await container.authorizer(tokenAuthorizerEvent(`Bearer ${first.token}`))).context as Record<string, unknown>;
      expect((await container.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context }))).statusCode).toBe(204);
      await sign(container, 'refused');
    });

    it('racing signs: exactly MAX_SESSIONS are issued, every other one answers 409', async () => {
      const container = start({ MAX_SESSIONS: '10', SESSION_LIMIT: 'refuse' });
      const statuses = (await Promise.all(Array.from({ length: 50 }, () => container.sign(signEvent('refused-race'))))).map((response) => response.statusCode);
      expect({ issued: statuses.filter((status) => status === 201).length, refused: statuses.filter((status) => status === 409).length }).toEqual({
        issued: 10,
        refused: 40,
      });
      expect(await sample('refused-race')).toEqual([10, 10, 10]);
    });
  });
});
