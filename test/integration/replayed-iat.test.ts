// A retry within the grace window gets the pair its rotation made, read back from the session's replay key: that
// key, and the record, are in Redis, where a writer could put any iat. Refresh signs only an iat within the grace
// window of now (give or take MAX_CLOCK_SKEW_SECONDS), so the grant's ttl bounds every access token from now on.
import { expect } from '@jest/globals';
import { labelKey, newIdInSlot, recordKey, REPLAY_PREFIX } from '../../shared/sessions/keys';
import { hashSecret, newSecret, parseRefreshToken, sealNextSecret } from '../../shared/sessions/refresh-token';
import { useContainers, useLogLines, useRedisServer } from '../../testkit/fixtures';
import { claimsOf, REFRESH_REFUSED, SessionClient } from '../../testkit/session-client';

const SECRET = 'replayed-iat-secret-0123456789abcdefghijkl';

describe("a replayed rotation's iat", () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  const logLines = useLogLines();

  it("is refused (401) when a Redis writer sets it near the session's end: no access token outlives now + the grant's ttl", async () => {
    const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'info' });
    const client = new SessionClient(() => container);
    const admin = await server().admin();
    const signed = await client.signIn('mallory', { ttl: 60 });
    const presented = parseRefreshToken(signed.refreshToken);
    if (presented === undefined) throw new Error('sign gave a malformed refresh token');
    const record = recordKey(signed.sid);
    const grant = claimsOf((await admin.hGet(record, 'grant')) as string) as { exp: number; ttl: number };

    // Redis writes only, with a refresh token of the session: its secret made the one just used, and the replay
    // key says the access token was issued one ttl before the session's end, 30 days from now.
    const iat = grant.exp - grant.ttl;
    const jti = newIdInSlot(presented.tag);
    const sealed = sealNextSecret(presented, newSecret());
    await admin.hSet(record, { rt: 'x', prev: hashSecret(presented.secret) });
    await admin.set(`${REPLAY_PREFIX}${signed.sid}`, `${sealed} ${jti} ${iat} ${grant.exp} ${grant.exp}`, { PX: 60_000 });
    await admin.set(labelKey(jti), '1', { PX: 60_000 });

    expect(await client.refresh(signed.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    const refused = logLines()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.message === 'refresh');
    expect(refused).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'grant', sid: signed.sid })]);
  });
});
