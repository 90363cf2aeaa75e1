// A rotation whose script ran on Redis but whose reply was lost (the connection dropped) or came back after
// REDIS_TIMEOUT_MS. rotateRefresh is never sent twice: the client gets 503 and retries with the same refresh token.
// Within the grace window the retry gets the pair the lost reply held, one chain; with REFRESH_REUSE_GRACE=0 it is
// reuse, and the session ends whole. No log line holds a secret either way.
import { expect } from '@jest/globals';
import { hashSecret } from '../../shared/sessions/refresh-token';
import { eventually, useContainers, useLogLines, useRedisServer } from '../../testkit/fixtures';
import { startHoldingProxy } from '../../testkit/holding-proxy';
import { startTcpProxy, type TcpProxy } from '../../testkit/tcp-proxy';
import { SessionClient, sleep } from '../../testkit/session-client';

jest.setTimeout(30_000);
const SECRET = 'lost-rotation-secret-0123456789abcdefghijk';
/** A script call in RESP, as node-redis writes it. */
const SCRIPT_CALL = /\r\n(EVALSHA|EVAL)\r\n/i;

describe('a rotation whose reply is lost or late', () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  const logLines = useLogLines();

  /** A proxy that, once armed, lets the next script call run, then drops its reply and closes the connection. */
  async function startReplyDropper(): Promise<{ proxy: TcpProxy; arm: () => void }> {
    let armed = false;
    const proxy = await startTcpProxy(server().port, (client, upstream) => {
      let dropping = false;
      client.on('data', (chunk: Buffer) => {
        if (armed && SCRIPT_CALL.test(chunk.toString('latin1'))) {
          armed = false;
          dropping = true;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        // NOSCRIPT: the script did not run; node-redis sends it again with EVAL, on this connection.
        if (!dropping || chunk.toString('latin1').startsWith('-NOSCRIPT')) return void client.write(chunk);
        client.destroy();
        upstream.destroy();
      });
    });
    return {
      proxy,
      arm: () => {
        armed = true;
      },
    };
  }

  it.each([
    ['10', 'gets the same pair on its retry, which goes on as the one chain'],
    ['0', 'ends the session on its retry: nothing of it stays alive'],
  ])('lost with its connection, REFRESH_REUSE_GRACE=%s: answered 503, and %s', async (grace) => {
    const { proxy, arm } = await startReplyDropper();
    try {
      const env = { JWT_SECRET: SECRET, LOG_LEVEL: 'info', REFRESH_REUSE_GRACE: grace, REDIS_TIMEOUT_MS: '1000' };
      const dropped = containers({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
      const direct = containers({ ...env, REDIS_URL: server().url });
      const [api, other] = [new SessionClient(() => dropped), new SessionClient(() => direct)];
      const signed = await api.signIn('lost', { ttl: 600 });
      const pair = await api.rotate((await api.rotate(signed.refreshToken)).refreshToken);
      arm();
      expect((await api.refresh(pair.refreshToken)).status).toBe(503);
      // A grace of 0 s is a 1 ms replay key: the retry comes after it.
      await sleep(5);
      const retry = await other.refresh(pair.refreshToken);
      if (grace === '10') {
        expect(retry.status).toBe(200);
        expect((await other.refresh(pair.refreshToken)).body).toEqual(retry.body);
        expect(await other.decide(retry.body.token as string)).toBe('allow');
        await expect(other.rotate(retry.body.refreshToken as string)).resolves.toMatchObject({ sid: signed.sid });
      } else {
        expect(retry.status).toBe(401);
        expect(await other.decide(pair.token)).toBe('deny');
        expect(await other.decide(signed.token)).toBe('deny');
      }
      const [, , family, secret] = pair.refreshToken.split('.') as [string, string, string, string];
      const forbidden = [pair.refreshToken, family, secret, hashSecret(family), hashSecret(secret), SECRET];
      expect(forbidden.filter((value) => logLines().some((line) => line.includes(value)))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('late (beyond REDIS_TIMEOUT_MS): answered 503, and its retry gets the same pair', async () => {
    const holding = await startHoldingProxy(server().port);
    try {
      const container = containers({ JWT_SECRET: SECRET, LOG_LEVEL: 'silent', REDIS_TIMEOUT_MS: '300', REDIS_URL: `redis://127.0.0.1:${holding.port}` });
      await eventually(() => container.services.redis.primaryCount());
      const api = new SessionClient(() => container);
      const signed = await api.signIn('late', { ttl: 600 });
      const first = await api.rotate(signed.refreshToken);
      holding.hold();
      const late = await api.refresh(first.refreshToken);
      holding.release();
      expect(late.status).toBe(503);
      const retry = await api.refresh(first.refreshToken);
      expect(retry.status).toBe(200);
      expect((await api.refresh(first.refreshToken)).body).toEqual(retry.body);
      expect(await api.decide(retry.body.token as string)).toBe('allow');
    } finally {
      await holding.close();
    }
  });
});
