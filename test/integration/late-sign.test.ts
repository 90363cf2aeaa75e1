// A sign whose script ran on Redis but whose reply came back after REDIS_TIMEOUT_MS. registerSession is never sent
// twice: sign answers 503, the token is never handed out, and the session it may have stored is withdrawn, so it
// holds no slot under MAX_SESSIONS and the client's next sign gets one.
import { expect } from '@jest/globals';
import { RedisConnection, type RedisCommand } from '../../shared/redis/connection';
import { indexKey, RECORD_PREFIX, subjectTag } from '../../shared/sessions/keys';
import { Logger, type RequestScope } from '../../shared/telemetry/log';
import { eventually, useContainers, useRedisServer } from '../../testkit/fixtures';
import { startHoldingProxy, type HoldingProxy } from '../../testkit/holding-proxy';
import { SessionClient } from '../../testkit/session-client';

const SECRET = 'late-sign-test-secret-0123456789abcdefghij';
const TIMEOUT_MS = 300;

/** A container's connection that runs `beforeNext`, once, as it is handed its next command. */
class HookedConnection extends RedisConnection {
  beforeNext: (() => void) | undefined;
  override run<T>(command: RedisCommand<T>, scope?: RequestScope): Promise<T> {
    const hook = this.beforeNext;
    this.beforeNext = undefined;
    hook?.();
    return super.run(command, scope);
  }
}

describe('a sign whose reply comes back after REDIS_TIMEOUT_MS', () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  let proxy: HoldingProxy;
  beforeEach(async () => {
    proxy = await startHoldingProxy(server().port);
  });
  afterEach(async () => {
    await proxy.close();
  });

  it('is answered 503 and its session withdrawn once Redis answers again: under MAX_SESSIONS=1, SESSION_LIMIT=refuse the next sign succeeds', async () => {
    const env = { JWT_SECRET: SECRET, LOG_LEVEL: 'silent', REDIS_TIMEOUT_MS: String(TIMEOUT_MS), MAX_SESSIONS: '1', SESSION_LIMIT: 'refuse' };
    const url = `redis://127.0.0.1:${proxy.port}`;
    const redis = new HookedConnection({ url, timeoutMs: TIMEOUT_MS }, new Logger('silent'));
    const slow = containers({ ...env, REDIS_URL: url }, { redis });
    await eventually(() => redis.primaryCount());
    const api = new SessionClient(() => slow);
    // Another subject first: the script is loaded, so the held call is an EVALSHA that runs.
    expect((await api.sign({ sub: 'someone-else', refresh: true })).status).toBe(201);

    proxy.hold();
    const answered = api.sign({ sub: 'carol', refresh: true });
    // The script has run and its reply is held back: Redis answers again from the next command on, the withdrawal.
    await proxy.holding();
    redis.beforeNext = () => proxy.release();
    expect((await answered).status).toBe(503);

    const admin = await server().admin();
    expect(await admin.zRange(indexKey(subjectTag('carol')), 0, -1)).toEqual([]);
    const records = await admin.keys(`${RECORD_PREFIX}*`);
    expect(await Promise.all(records.map((record) => admin.hGet(record, 'sub')))).toEqual(['someone-else']);
    expect((await api.sign({ sub: 'carol', refresh: true })).status).toBe(201);
  });
});
