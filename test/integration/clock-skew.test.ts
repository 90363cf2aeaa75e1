// Containers whose clocks differ. A label's TTL, its session record's and index entry's, and what the scripts
// prune as past are all reckoned from the clock of the container that writes them: each is held
// MAX_CLOCK_SKEW_SECONDS (5 s) past its end, so ending a session still finds every access token a container
// behind or ahead of the others gave it. A 3 s skew, within that bound, makes any shortfall visible.
import { expect } from '@jest/globals';
import type { Env } from '../../shared/config';
import { labelKey, recordKey } from '../../shared/sessions/keys';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { SessionClient, sleep } from '../../testkit/session-client';

jest.setTimeout(30_000);
const SECRET = 'clock-skew-test-secret-0123456789abcdefghij';

describe("a container whose clock is 3 s behind or ahead never leaves a token alive that its session's end should kill", () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  /** A container on the suite's server whose clock is `skewMs` off. */
  const client = (skewMs: number, env: Env = {}) => {
    const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent', ...env }, { now: () => Date.now() + skewMs });
    return new SessionClient(() => container);
  };

  it('behind: a session without a refresh token keeps its record as long as its access token, so logout ends that token', async () => {
    const behind = client(-3000);
    // Its record lives as long as its one token: by this container's clock, 1 s of real time without the margin.
    const signed = (await behind.sign({ sub: 'dave', ttl: 4 })).body as { token: string; sid: string; jti: string };
    const admin = await server().admin();
    expect(await admin.pTTL(recordKey(signed.sid))).toBeGreaterThanOrEqual(await admin.pTTL(labelKey(signed.jti)));
    await sleep(1500);
    expect(await admin.exists(recordKey(signed.sid))).toBe(1);
    expect((await behind.logout(signed.token)).status).toBe(204);
    expect(await behind.decide(signed.token)).toBe('deny');
  });

  it('ahead: a refresh keeps a token that is still live by the other clocks in its session, so reuse detection ends it', async () => {
    const normal = client(0, { REFRESH_REUSE_GRACE: '0' });
    const ahead = client(3000, { REFRESH_REUSE_GRACE: '0' });
    const signed = await normal.signIn('erin', { ttl: 3 });
    // By the clock ahead, the first access token has expired; by Redis's and the other container's, it has not.
    const pair = await ahead.rotate(signed.refreshToken);
    await sleep(20);
    expect((await normal.refresh(signed.refreshToken)).status).toBe(401);
    expect({ first: await normal.decide(signed.token), second: await normal.decide(pair.token) }).toEqual({ first: 'deny', second: 'deny' });
  });

  it('ahead: a sign keeps in the index a session that can still refresh, so logout {scope: others} ends it', async () => {
    const env = { REFRESH_IDLE_TTL: '4', TOKEN_TTL: '1' };
    const normal = client(0, env);
    const ahead = client(3000, env);
    const old = await normal.signIn('frank', { ttl: 1 });
    // The old session's refresh token has about 2.8 s left: by the clock ahead, it ended.
    await sleep(1200);
    const fresh = await ahead.signIn('frank', { ttl: 60 });
    expect((await normal.logout(fresh.token, JSON.stringify({ scope: 'others' }))).status).toBe(204);
    expect((await normal.refresh(old.refreshToken)).status).toBe(401);
    expect(await normal.decide(fresh.token)).toBe('allow');
  });
});
