// The kill switch (npm run revoke-all) walks the keyspace in passes: records, labels, replay keys, indexes, then
// every record signed meanwhile, ended whole. Signs and refreshes that run during those passes leave nothing
// alive once it has answered.
import { expect } from '@jest/globals';
import { RedisConnection, type RedisCommand } from '../../shared/redis/connection';
import type { RequestScope } from '../../shared/telemetry/log';
import { SessionStore } from '../../shared/sessions/store';
import { useContainerOnServer, useContainers } from '../../testkit/fixtures';
import { SessionClient, sleep, type Signed } from '../../testkit/session-client';

jest.setTimeout(30_000);
const SECRET = 'kill-switch-race-secret-0123456789abcdefgh';

/** Runs `between` once, right after the first SCAN pass (the records') has finished. */
class AfterFirstPass extends RedisConnection {
  #passes = 0;
  #ran = false;
  constructor(
    url: string,
    private readonly between: () => Promise<void>,
  ) {
    super({ url, timeoutMs: 2000 });
  }
  override async run<T>(command: RedisCommand<T>, scope?: RequestScope): Promise<T> {
    if (command.operation === 'SCAN' && this.#passes === 1 && !this.#ran) {
      this.#ran = true;
      await this.between();
    }
    const result = await super.run(command, scope);
    if (command.operation === 'SCAN' && (result as { cursor: string }).cursor === '0') this.#passes += 1;
    return result;
  }
}

describe('the kill switch racing signs and refreshes', () => {
  const suite = useContainerOnServer({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
  const containers = useContainers('test');
  const client = new SessionClient(() => suite.handlers());

  it('ends a session signed between its passes: its access token is refused, and its refresh token mints nothing', async () => {
    const before = await client.signIn('grace');
    let during: Signed | undefined;
    const redis = new AfterFirstPass(suite.server().url, async () => {
      during = await client.signIn('heidi');
    });
    try {
      await new SessionStore(redis).endEverything();
    } finally {
      await redis.close();
    }
    expect(await client.decide(before.token)).toBe('deny');
    expect(during).toBeDefined();
    const signed = during as Signed;
    expect(await client.decide(signed.token)).toBe('deny');
    expect((await client.refresh(signed.refreshToken)).status).toBe(401);
  });

  it('leaves nothing alive of a session refreshed in a tight loop on two containers while it runs, once it has answered', async () => {
    const env = { REDIS_URL: suite.server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent', REDIS_TIMEOUT_MS: '3000', REFRESH_REUSE_GRACE: '1' };
    const one = containers(env);
    const two = containers(env);
    const [a, b] = [new SessionClient(() => one), new SessionClient(() => two)];
    for (let round = 0; round < 15; round += 1) {
      const signed = await a.signIn('racer', { ttl: 600 });
      let current: Signed = await a.rotate(signed.refreshToken);
      const issued: Signed[] = [signed, current];
      let stop = false;
      const refresher = (async () => {
        for (let i = 0; i < 30 && !stop; i += 1) {
          const next = await (i % 2 === 0 ? a : b).refresh(current.refreshToken);
          if (next.status !== 200) break;
          current = next.body as unknown as Signed;
          issued.push(current);
        }
      })();
      await sleep(round % 5);
      await b.revokeAll();
      // Answered: from here on, every token of the session is refused, any a racing refresh minted included.
      stop = true;
      await refresher;
      for (const { token, refreshToken } of issued) {
        expect({ round, decision: await a.decide(token) }).toEqual({ round, decision: 'deny' });
        expect({ round, refresh: (await a.refresh(refreshToken)).status }).toEqual({ round, refresh: 401 });
      }
    }
  });
});
