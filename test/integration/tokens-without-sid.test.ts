// Access tokens signed before sessions existed carry no sid: the authorizer allows them while their label lives,
// and logout treats each as a session of its own that holds only that token.
import { expect } from '@jest/globals';
import { labelKey, newId } from '../../shared/sessions/keys';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { forgeJws } from '../../testkit/jws';
import { SessionClient } from '../../testkit/session-client';

const SECRET = 'tokens-without-sid-secret-0123456789abcdef';

describe('an access token without a sid (signed before sessions existed)', () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');

  it('ends only itself on logout; logout {scope: others} ends every session of its subject; DELETE /auth/sessions/{sid} still refuses another subject', async () => {
    const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
    const api = new SessionClient(() => container);
    const now = Math.floor(Date.now() / 1000);
    const jti = newId('legacy');
    const legacy = forgeJws({
      header: { alg: 'HS256', typ: 'JWT', kid: 'default' },
      payload: { sub: 'legacy', jti, iat: now, exp: now + 600, aud: 'revocable-jwt-api', iss: 'revocable-jwt' },
      secret: SECRET,
    });
    await (await server().admin()).set(labelKey(jti), String(Date.now()), { PX: 600_000 });
    expect(await api.decide(legacy)).toBe('allow');
    const session = await api.signIn('legacy', { ttl: 600 });
    const other = await api.signIn('someone', { ttl: 600 });

    expect((await api.endSession(legacy, other.sid)).status).toBe(404);
    expect((await api.logout(legacy, JSON.stringify({ scope: 'others' }))).status).toBe(204);
    expect(await api.decide(session.token)).toBe('deny');
    expect((await api.refresh(session.refreshToken)).status).toBe(401);
    expect(await api.decide(legacy)).toBe('allow');
    expect(await api.decide(other.token)).toBe('allow');

    const next = await api.signIn('legacy', { ttl: 600 });
    expect((await api.logout(legacy)).status).toBe(204);
    expect(await api.decide(legacy)).toBe('deny');
    expect(await api.decide(next.token)).toBe('allow');
  });
});
