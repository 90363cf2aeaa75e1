// A subject's revocation counter at any size a revocation can give it (Redis's clock in ms, and beyond it, up to
// 2^53): sign and refresh stamp labels with it, a revocation raises it, and the generations compare exactly.
import { expect } from '@jest/globals';
import { counterKey, subjectTag } from '../../shared/sessions/keys';
import { useContainers, useRedisServer } from '../../testkit/fixtures';
import { SessionClient } from '../../testkit/session-client';

const SECRET = 'revocation-counter-secret-0123456789abcdef';

describe("a subject's revocation counter, up to 2^53", () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');

  it.each(['1799999999999', '1800000000001', '4503599627370495', '9007199254740000'])(
    'at %s: tokens signed and refreshed under it are allowed, refused once the subject is revoked, and those signed after allowed',
    async (start) => {
      const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
      const api = new SessionClient(() => container);
      const admin = await server().admin();
      const counter = counterKey(subjectTag('big'));
      await admin.set(counter, start, { PX: 600_000 });
      const before = await api.signIn('big', { ttl: 600 });
      expect(await api.decide(before.token)).toBe('allow');
      const rotated = await api.rotate(before.refreshToken);
      expect(await api.decide(rotated.token)).toBe('allow');

      expect((await api.revoke({ sub: 'big' })).status).toBe(200);
      // An integer, written out in full, above where it was.
      const raised = (await admin.get(counter)) as string;
      expect(raised).toMatch(/^\d+$/);
      expect(BigInt(raised) > BigInt(start)).toBe(true);
      expect(await api.decide(before.token)).toBe('deny');
      expect(await api.decide(rotated.token)).toBe('deny');
      expect((await api.refresh(rotated.refreshToken)).status).toBe(401);

      const after = await api.signIn('big', { ttl: 600 });
      expect(await api.decide(after.token)).toBe('allow');
      expect(await api.decide((await api.rotate(after.refreshToken)).token)).toBe('allow');
    },
  );
});
