// A session's terms (subject, claims, ttl, end) are a grant signed with the signing key, kept in its Redis record:
// refresh signs only what a grant of that session and family says. So write access to Redis, which can already
// bring back a revoked label, still mints no token through refresh; and a grant outlives the rotation of the key
// that signed it as long as its session refreshes while that key is in the ring.
import { expect } from '@jest/globals';
import { recordKey } from '../../shared/sessions/keys';
import { useContainerOnServer, useContainers } from '../../testkit/fixtures';
import { forgeJws } from '../../testkit/jws';
import { claimsOf, REFRESH_REFUSED, SessionClient, sleep } from '../../testkit/session-client';

const SECRET = 'session-grant-test-secret-0123456789abcdef';
const K1 = `k1:${'1'.repeat(40)}`;
const K2 = `k2:${'2'.repeat(40)}`;

const headerOf = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

describe('session grants (real redis-server)', () => {
  const suite = useContainerOnServer({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
  const client = new SessionClient(() => suite.handlers());
  const containers = useContainers('test');
  const withKeys = (keys: string) =>
    new SessionClient(() => containers({ REDIS_URL: suite.server().url, JWT_KEYS: keys, LOG_LEVEL: 'silent', REFRESH_REUSE_GRACE: '1' }));
  const admin = () => suite.server().admin();

  it("refuses a record holding another session's grant: its sid and family are not this one's", async () => {
    const mallory = await client.signIn('mallory', { claims: { role: 'user' } });
    const victim = await client.signIn('victim', { claims: { role: 'admin' } });
    const victimGrant = await (await admin()).hGet(recordKey(victim.sid), 'grant');
    await (await admin()).hSet(recordKey(mallory.sid), 'grant', victimGrant as string);
    expect(await client.refresh(mallory.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
  });

  it('refuses a grant not signed with a key of the ring, whatever it says', async () => {
    const mallory = await client.signIn('mallory', { claims: { role: 'user' } });
    const record = recordKey(mallory.sid);
    const grant = claimsOf((await (await admin()).hGet(record, 'grant')) as string);
    const forged = forgeJws({
      header: { alg: 'HS256', typ: 'session-grant+jwt', kid: 'default' },
      payload: { ...grant, claims: { role: 'admin' } },
      secret: 'a-key-that-is-not-in-the-ring-0123456789abc',
    });
    await (await admin()).hSet(record, 'grant', forged);
    expect(await client.refresh(mallory.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
  });

  it('signs within the grant: a record given a longer ttl or a later end gives no longer-lived token', async () => {
    const signed = await client.signIn('stretch', { ttl: 60 });
    await (await admin()).hSet(recordKey(signed.sid), { ttl: '86400', expires: String(Math.floor(Date.now() / 1000) + 10 * 86_400) });
    const pair = await client.rotate(signed.refreshToken);
    const { iat, exp } = claimsOf(pair.token) as { iat: number; exp: number };
    expect(exp - iat).toBe(60);
    expect(pair.expiresIn).toBe(60);
  });

  it('is never an access token, and an access token is never a grant', async () => {
    const signed = await client.signIn('types');
    const grant = (await (await admin()).hGet(recordKey(signed.sid), 'grant')) as string;
    expect(headerOf(grant).typ).toBe('session-grant+jwt');
    expect(await client.decide(grant)).toBe('deny');
    await (await admin()).hSet(recordKey(signed.sid), 'grant', signed.token);
    expect(await client.refresh(signed.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
  });

  it('is signed again with the current key at refresh, so the session outlives the key it began under', async () => {
    const underK1 = withKeys(K1);
    const kept = await underK1.signIn('rotating');
    const idle = await underK1.signIn('idle');
    // k2 added in front: the next refresh signs the grant again, with k2.
    const afterRotation = await withKeys(`${K2},${K1}`).rotate(kept.refreshToken);
    expect(headerOf((await (await admin()).hGet(recordKey(kept.sid), 'grant')) as string).kid).toBe('k2');
    expect(headerOf((await (await admin()).hGet(recordKey(idle.sid), 'grant')) as string).kid).toBe('k1');
    // k1 dropped: the session that refreshed meanwhile goes on; the one that did not ends with its key. A key the
    // container lacks could be one newer than its configuration: 503, retried; after the grace window the retry
    // is a used refresh token, and the session ends.
    const underK2 = withKeys(K2);
    expect((await underK2.refresh(afterRotation.refreshToken)).status).toBe(200);
    expect(await underK2.refresh(idle.refreshToken)).toMatchObject({ status: 503, body: { error: 'KEYRING_UNAVAILABLE' } });
    await sleep(1100);
    expect(await underK2.refresh(idle.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    expect(await (await admin()).exists(recordKey(idle.sid))).toBe(0);
  });
});
