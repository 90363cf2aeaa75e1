// A sign whose script ran on Redis but whose reply was lost with its connection. registerSession is not
// idempotent: run a second time it would store the session and its label again, so a revocation answered in
// between (by jti, by sid, or subject-wide) would be undone and the token handed out live. Sign must answer 503
// instead, and leave no live label, nor session, for the token and session it never handed out.
//
// A proxy between the sign container and redis-server forwards everything, except that the reply to the first
// script call (EVALSHA or EVAL) is dropped and the connection closed: deterministically, after the script ran.
import type { APIGatewayProxyResult } from 'aws-lambda';
import { coldStart, type Container } from '../../testkit/cold-start';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { startTcpProxy } from '../../testkit/tcp-proxy';
import { counterKey, labelKey, LABEL_PREFIX, RECORD_PREFIX, recordKey, tagOf } from '../../shared/sessions/keys';

const SECRET = 'lost-reply-test-secret-0123456789abcdefghij';
const SUBJECT = 'lost-reply-user';
const ID = /\{[A-Za-z0-9_-]{22}\}[A-Za-z0-9_-]{22}/;
/** The script's label and record keys name the token and the session it creates. */
const LABEL_KEY = new RegExp(`${LABEL_PREFIX}(${ID.source})`);
const RECORD_KEY = new RegExp(`${RECORD_PREFIX}(${ID.source})`);
/** A script call in RESP, as node-redis writes it. */
const SCRIPT_CALL = /\r\n(EVALSHA|EVAL)\r\n/i;

/** What a sign's script call created: its session and its first access token. */
type Created = { sid: string; jti: string };

interface ReplyDroppingProxy {
  readonly port: number;
  /**
   * The next script call's reply is dropped and its connection closed, once `between(created)` has settled.
   * Resolves, or rejects, as `between` does.
   */
  dropNextScriptReply(between?: (created: Created) => Promise<void>): Promise<void>;
  /** What the script calls whose reply was dropped created. */
  readonly dropped: Created[];
  close(): Promise<void>;
}

async function startReplyDroppingProxy(targetPort: number): Promise<ReplyDroppingProxy> {
  let armed: ((created: Created) => Promise<void>) | undefined;
  const dropped: Created[] = [];
  const proxy = await startTcpProxy(targetPort, (client, upstream) => {
    let dropping: ((created: Created) => Promise<void>) | undefined;
    let created: Created = { sid: '', jti: '' };
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (armed !== undefined && dropping === undefined && SCRIPT_CALL.test(text)) {
        dropping = armed;
        armed = undefined;
        created = { sid: RECORD_KEY.exec(text)?.[1] ?? '', jti: LABEL_KEY.exec(text)?.[1] ?? '' };
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      // NOSCRIPT: the script did not run; node-redis sends it again with EVAL, on this connection.
      if (dropping === undefined || chunk.toString('latin1').startsWith('-NOSCRIPT')) {
        client.write(chunk);
        return;
      }
      // The script has run: its reply goes nowhere, and the connection dies once `between` is done.
      const between = dropping;
      dropping = () => Promise.resolve();
      dropped.push(created);
      void between(created)
        .catch(() => undefined)
        .finally(() => {
          client.destroy();
          upstream.destroy();
        });
    });
  });
  return {
    port: proxy.port,
    dropped,
    dropNextScriptReply: (between = () => Promise.resolve()) =>
      new Promise<void>((resolve, reject) => {
        armed = (created) => {
          const done = between(created);
          done.then(resolve, reject);
          return done;
        };
      }),
    close: () => proxy.close(),
  };
}

describe('sign whose script ran but whose reply was lost with its connection', () => {
  let server: RedisServer;
  let proxy: ReplyDroppingProxy;
  /** Signs through the proxy. */
  let signer: Container;
  /** Another container, straight to Redis: revokes, authorizes. */
  let other: Container;

  beforeAll(async () => {
    server = await startRedisServer();
    proxy = await startReplyDroppingProxy(server.port);
    signer = coldStart({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '2000', LOG_LEVEL: 'silent' });
    other = coldStart({ REDIS_URL: server.url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '2000', LOG_LEVEL: 'silent' });
  });

  beforeEach(async () => {
    await (await server.admin()).flushAll();
    proxy.dropped.length = 0;
  });

  afterAll(async () => {
    await signer?.close();
    await other?.close();
    await proxy?.close();
    await server?.stop();
  });

  const sign = () => signer.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: SUBJECT }) }));

  /** Every jti with a live label: present and, when its subject has a counter, stamped at or above it. */
  async function liveJtis(): Promise<string[]> {
    const admin = await server.admin();
    const live: string[] = [];
    for (const key of await admin.keys(labelKey('*'))) {
      const jti = key.slice(labelKey('').length);
      const [label, counter] = await admin.mGet([key, counterKey(tagOf(jti) ?? '')]);
      const generation = label?.includes(':') === true ? Number(label.slice(0, label.indexOf(':'))) : 0;
      if (label !== null && label !== undefined && generation >= Number(counter ?? 0)) live.push(jti);
    }
    return live;
  }

  async function indexed(): Promise<string[]> {
    const admin = await server.admin();
    const index = (await admin.keys('jwt_sessions:*'))[0];
    return index === undefined ? [] : admin.zRange(index, 0, -1);
  }

  async function expectNothingLiveFor(answer: APIGatewayProxyResult): Promise<void> {
    expect(proxy.dropped).toHaveLength(1);
    expect(proxy.dropped[0]?.sid).toMatch(ID);
    expect(proxy.dropped[0]?.jti).toMatch(ID);
    // Not a 201 with a token the client could use: it signs again, with a new session.
    expect(answer.statusCode).toBe(503);
    expect(await liveJtis()).toEqual([]);
    // Nor does the session hold a slot under MAX_SESSIONS, or keep a record.
    expect(await indexed()).toEqual([]);
    expect(await (await server.admin()).keys(recordKey('*'))).toEqual([]);
    // The container carries on: the next sign works, on a fresh connection.
    const again = await sign();
    expect(again.statusCode).toBe(201);
    const { jti, sid, token } = JSON.parse(again.body) as { jti: string; sid: string; token: string };
    expect(await liveJtis()).toEqual([jti]);
    expect(await indexed()).toEqual([sid]);
    expect(await other.authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).toMatchObject({ principalId: SUBJECT, context: { jti, sid } });
  }

  it('answers 503, and leaves no live label nor session for the token and session it never handed out', async () => {
    const dropped = proxy.dropNextScriptReply(async ({ sid, jti }) => {
      // The script had run: only its reply is lost.
      expect(await (await server.admin()).exists([labelKey(jti), recordKey(sid)])).toBe(2);
    });
    const answer = await sign();
    await dropped;
    await expectNothingLiveFor(answer);
  });

  it.each(['jti', 'sid'] as const)('cannot revive a token or session revoked (POST /auth/revoke {%s}) between the script and the lost reply', async (field) => {
    const revocation = proxy.dropNextScriptReply(async (created) => {
      const revoked = await other.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ [field]: created[field] }) }));
      // The script had run: the token and its session were live, and the revocation is acknowledged.
      expect(revoked).toMatchObject({ statusCode: 200 });
      expect(JSON.parse(revoked.body)).toEqual({ revoked: 1 });
    });
    const answer = await sign();
    await revocation;
    await expectNothingLiveFor(answer);
  });

  it('cannot revive a session ended by a subject-wide revocation (POST /auth/revoke {sub}) in between', async () => {
    const revocation = proxy.dropNextScriptReply(async () => {
      const revoked = await other.revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ sub: SUBJECT }) }));
      expect(revoked).toMatchObject({ statusCode: 200 });
      expect(JSON.parse(revoked.body)).toEqual({ revoked: 1 });
    });
    const answer = await sign();
    await revocation;
    await expectNothingLiveFor(answer);
  });
});
