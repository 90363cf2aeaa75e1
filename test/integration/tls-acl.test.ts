// Redis over TLS (a throwaway CA) as an ACL user allowed only the commands and key patterns the project
// uses: every feature works through the real handlers, anything else is refused, and a wrong CA, password
// or hostname fails closed within REDIS_TIMEOUT_MS with a clear log line that never shows the password.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from '@jest/globals';
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { createClient } from '@redis/client';
import jsonwebtoken from 'jsonwebtoken';
import { newId } from '../../shared/sessions/keys';
import { aclRulesFromDocs } from '../../testkit/docs';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import type { HandlerName } from '../../testkit/handler-host';
import { bundleHandlerHost, startHost, type HostBundle, type HostProcess } from '../../testkit/host-process';
import type { InvocationResult } from '../../testkit/handler-host';
import { freePort, startRedisServer, type RedisServer } from '../../testkit/redis-server';
import { createThrowawayPki, type ThrowawayCa, type ThrowawayPki } from '../../testkit/tls';

/**
 * The ACL rules docs/operations.md gives the application's user, after `user jwt on >CHANGE-ME`, read from the
 * page as cluster-acl.test.ts reads them. Every `+command` and `~pattern` there is needed by some feature (the
 * minimality test removes each in turn); GET, SET, DEL, the Z* and H* commands, PTTL, PEXPIRE, PEXPIREAT and
 * TIME are called only from the Lua scripts, but ACLs check those calls too, the keys a script touches without
 * declaring them (labels, records, replay keys) included. INFO is called only at connect, to read the eviction
 * policy.
 */
const APP_RULES = aclRulesFromDocs().rules;
const APP_USER = 'jwt';
// Distinctive, so that a log line echoing one would be caught.
const APP_PASSWORD = `app-pw-${randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `wrong-pw-${randomBytes(12).toString('hex')}`;
const ADMIN = { username: 'admin', password: `admin-pw-${randomBytes(12).toString('hex')}` };
const REPLICATION = { username: 'replicator', password: `repl-pw-${randomBytes(12).toString('hex')}` };
/** How Redis words an ACL refusal: NOPERM for a command, ERR … for a call inside a script. */
const DENIED = /NOPERM|user executing the script can't/;
const JWT_SECRET = 'tls-acl-test-secret-0123456789abcdefghij';

const aclFile = () =>
  [
    'user default off',
    `user ${ADMIN.username} on >${ADMIN.password} ~* &* +@all`,
    `user ${REPLICATION.username} on >${REPLICATION.password} resetchannels -@all +psync +replconf +ping`,
    `user ${APP_USER} on >${APP_PASSWORD} ${APP_RULES.join(' ')}`,
    '',
  ].join('\n');

type ProxyOutcome = InvocationResult & { ok: true; result: APIGatewayProxyResult };

describe('Redis over TLS as a least-privilege ACL user', () => {
  let pki: ThrowawayPki;
  let ca: ThrowawayCa;
  let otherCa: ThrowawayCa;
  let primary: RedisServer;
  let replica: RedisServer;
  let wrongName: RedisServer;
  let plainPort: number;
  let bundle: HostBundle;

  const appUrl = (server: RedisServer, { password = APP_PASSWORD, scheme = 'rediss', port = server.port } = {}) =>
    `${scheme}://${APP_USER}:${password}@127.0.0.1:${port}`;

  /**
   * Lambda containers (each its own process, with this environment and nothing else), started at once:
   * starting Node is most of what they cost. Each is in `into` as soon as it is up, for afterAll to stop.
   */
  async function startContainers(into: Map<string, HostProcess>, envs: Array<[string, Record<string, string>]>): Promise<void> {
    const started = await Promise.allSettled(
      envs.map(async ([name, env]) => {
        into.set(name, await startHost(bundle, { JWT_SECRET, LOG_LEVEL: 'info', REDIS_TIMEOUT_MS: '1000', ...env }));
      }),
    );
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  beforeAll(async () => {
    pki = createThrowawayPki();
    ca = pki.createCa('ca');
    otherCa = pki.createCa('other-ca');
    const serverCert = ca.issue('redis', ['IP:127.0.0.1', 'DNS:localhost']);
    const acl = pki.writeFile('users.acl', aclFile());
    const tls = { ...serverCert, caFile: ca.caFile };
    bundle = bundleHandlerHost();
    primary = await startRedisServer(['--aclfile', acl], { tls, admin: ADMIN });
    // Its certificate is signed by the trusted CA, but for another name; it also serves plain TCP on plainPort.
    plainPort = await freePort();
    wrongName = await startRedisServer(['--aclfile', acl, '--port', String(plainPort)], {
      tls: { ...ca.issue('elsewhere', ['DNS:redis.invalid']), caFile: ca.caFile },
      admin: ADMIN,
    });
    // Replication over TLS too, as its own least-privilege user: WAIT then has a replica to count.
    replica = await startRedisServer(
      [
        '--aclfile',
        acl,
        '--tls-replication',
        'yes',
        '--replicaof',
        '127.0.0.1',
        String(primary.port),
        '--masteruser',
        REPLICATION.username,
        '--masterauth',
        REPLICATION.password,
      ],
      { tls, admin: ADMIN },
    );
    await waitForSync(replica);
  });

  afterAll(async () => {
    await Promise.all([replica?.stop(), primary?.stop(), wrongName?.stop()]);
    bundle?.cleanup();
    pki?.cleanup();
  });

  describe('every feature, through the real handlers', () => {
    const containers = new Map<string, HostProcess>();
    const containerFor = (waitReplicas: string) => {
      const host = containers.get(waitReplicas);
      if (host === undefined) throw new Error(`no container with REDIS_WAIT_REPLICAS=${waitReplicas}`);
      return host;
    };

    beforeAll(async () => {
      // From before the containers connect, so a refused handshake command would show too.
      await (await primary.admin()).aclLogReset();
      await startContainers(
        containers,
        ['0', '1'].map((waitReplicas) => [waitReplicas, { REDIS_URL: appUrl(primary), NODE_EXTRA_CA_CERTS: ca.caFile, REDIS_WAIT_REPLICAS: waitReplicas }]),
      );
    });

    afterAll(() => {
      for (const host of containers.values()) host.stop();
    });

    it.each([
      ['REDIS_WAIT_REPLICAS=0', '0'],
      ['REDIS_WAIT_REPLICAS=1 (WAIT on a TLS replica)', '1'],
    ])('works over rediss:// with only the documented ACL, %s; nothing is ever denied', async (_, waitReplicas) => {
      const host = containerFor(waitReplicas);
      const admin = await primary.admin();
      // An empty script cache, as after a restart or failover: EVALSHA misses and EVAL must be allowed.
      await admin.scriptFlush();

      await everyFeature(host, `wait${waitReplicas}`);

      expect(await admin.aclLog()).toEqual([]);
      // Revocation counters outlive the kill switch, to keep what they revoked dead until they expire.
      expect((await admin.keys('jwt_*')).filter((key) => !key.startsWith('jwt_revoked:'))).toEqual([]);
      await host.flush();
      expect(host.lines().join('\n')).not.toContain(APP_PASSWORD);
    });

    it('needs every rule: without any one +command or ~pattern, some feature fails closed on an ACL refusal', async () => {
      const admin = await primary.admin();
      // WAIT=1, so that WAIT is exercised too.
      const host = containerFor('1');
      const grants = APP_RULES.filter((rule) => rule.startsWith('+') || rule.startsWith('~'));
      // Changed in place: the container's connection, authenticated as this user, sees each change at once.
      const setRules = (rules: string[]) => admin.sendCommand(['ACL', 'SETUSER', APP_USER, 'resetkeys', 'resetchannels', '-@all', ...rules]);
      try {
        for (const [i, missing] of grants.entries()) {
          await setRules(APP_RULES.filter((rule) => rule !== missing));
          await admin.scriptFlush();
          // The container connects again under these rules: what runs only at connect (INFO) is checked too.
          await admin.sendCommand(['CLIENT', 'KILL', 'USER', APP_USER]);
          await host.flush();
          const before = host.lines().length;
          const error: unknown = await everyFeature(host, `minimal${i}`).then(
            () => new Error(`every feature worked without ${missing}`),
            (failed: unknown) => failed,
          );
          await host.flush();
          // The failure is the ACL's doing: the log (or, for revoke-all, the invocation's error) names it.
          const failure = [...host.lines().slice(before), String(error)].join('\n');
          expect({ missing, failure }).toEqual({ missing, failure: expect.stringMatching(DENIED) });
        }
      } finally {
        await setRules(APP_RULES);
      }
      // And with every rule back, the same container works again.
      await everyFeature(host, 'restored');
    });
  });

  describe('the ACL restricts', () => {
    let client: ReturnType<typeof createClient>;

    beforeAll(async () => {
      client = createClient({
        url: appUrl(primary),
        socket: { reconnectStrategy: false, tls: true, ca: readFileSync(ca.caFile) },
        disableClientInfo: true,
      });
      client.on('error', () => undefined);
      await client.connect();
    });

    afterAll(() => client?.destroy());

    it.each([
      ['FLUSHALL', ['FLUSHALL']],
      ['KEYS', ['KEYS', '*']],
      ['CONFIG GET', ['CONFIG', 'GET', 'requirepass']],
      ['GET outside the key patterns', ['GET', 'other:key']],
      ['SET outside the key patterns', ['SET', 'other:key', '1']],
      ['MGET mixing in another key', ['MGET', 'jwt_label:x', 'other:key']],
      ['SUBSCRIBE', ['SUBSCRIBE', 'jwt_label:x']],
      ['SCRIPT LOAD', ['SCRIPT', 'LOAD', 'return 1']],
      ['HGETALL on an allowed key (a command not granted)', ['HGETALL', 'jwt_session:x']],
      ['a script calling FLUSHALL', ['EVAL', "return redis.call('FLUSHALL')", '0']],
      ['a script declaring another key', ['EVAL', "return redis.call('GET', KEYS[1])", '1', 'other:key']],
      ['a script touching another key it did not declare', ['EVAL', "return redis.call('SET', 'other:key', 1)", '0']],
    ])('refuses %s', async (_, command) => {
      await expect(client.sendCommand(command)).rejects.toThrow(DENIED);
    });

    it('refuses a connection without credentials (the default user is off)', async () => {
      const anonymous = createClient({
        url: primary.url,
        socket: { reconnectStrategy: false, tls: true, ca: readFileSync(ca.caFile) },
        disableClientInfo: true,
      });
      anonymous.on('error', () => undefined);
      try {
        // node-redis's handshake (HELLO 3, without AUTH) is refused, so connect() itself fails.
        await expect(anonymous.connect()).rejects.toThrow(/NOAUTH/);
      } finally {
        if (anonymous.isOpen) anonymous.destroy();
      }
    });
  });

  describe('fails closed within REDIS_TIMEOUT_MS, with a clear log line and no password', () => {
    const TIMEOUT_MS = 500;
    // Generous for a loaded CI machine; each of these fails at once in practice.
    const BOUND_MS = TIMEOUT_MS + 500;
    const cases: Array<[string, () => Record<string, string>, RegExp]> = [
      ['no CA trusts the server (no NODE_EXTRA_CA_CERTS)', () => ({ REDIS_URL: appUrl(primary) }), /self-signed certificate|unable to verify/i],
      ['another CA is trusted', () => ({ REDIS_URL: appUrl(primary), NODE_EXTRA_CA_CERTS: otherCa.caFile }), /self-signed certificate|unable to verify/i],
      ['the password is wrong', () => ({ REDIS_URL: appUrl(primary, { password: WRONG_PASSWORD }), NODE_EXTRA_CA_CERTS: ca.caFile }), /WRONGPASS/],
      ['the certificate names another host', () => ({ REDIS_URL: appUrl(wrongName), NODE_EXTRA_CA_CERTS: ca.caFile }), /does not match certificate's altnames/],
      [
        'the URL says redis:// to a TLS port',
        () => ({ REDIS_URL: appUrl(primary, { scheme: 'redis' }), NODE_EXTRA_CA_CERTS: ca.caFile }),
        /ECONNRESET|Socket closed unexpectedly/,
      ],
      // The server reads the TLS hello as an unfinished command and waits: only the time bound ends it.
      [
        'the URL says rediss:// to a plain port',
        () => ({ REDIS_URL: appUrl(wrongName, { port: plainPort }), NODE_EXTRA_CA_CERTS: ca.caFile }),
        /Connection timeout|took longer than/,
      ],
    ];
    const containers = new Map<string, HostProcess>();

    beforeAll(() =>
      startContainers(
        containers,
        cases.map(([name, env]) => [name, { ...env(), REDIS_TIMEOUT_MS: String(TIMEOUT_MS) }]),
      ),
    );

    afterAll(() => {
      for (const host of containers.values()) host.stop();
    });

    it.each(cases)('when %s', async (name, _, reason) => {
      const host = containers.get(name);
      if (host === undefined) throw new Error(`no container for ${name}`);

      let started = Date.now();
      const signed = (await host.invoke('sign', signEvent('mallory'))) as ProxyOutcome;
      expect(Date.now() - started).toBeLessThan(BOUND_MS);
      expect(signed.result.statusCode).toBe(503);
      expect(JSON.parse(signed.result.body)).toMatchObject({ error: 'STORE_UNAVAILABLE' });

      // A token whose signature and claims hold is not let through: API Gateway answers 500, not Allow.
      started = Date.now();
      const decision = await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${validToken('alice')}`));
      expect(Date.now() - started).toBeLessThan(BOUND_MS);
      expect(decision).toMatchObject({ ok: false, error: { name: 'StoreUnavailableError', message: expect.stringMatching(reason) } });

      await host.flush();
      const output = host.lines().join('\n');
      // One line for the failed connect, and the failed invocations' own lines, each saying why (in
      // whichever field: `reason` or `detail`).
      const says = (entry: Record<string, unknown>) => reason.test(JSON.stringify(entry));
      const entries = host.logEntries();
      const lines = {
        connect: entries.some((entry) => entry.message === 'redis connect failed' && entry.level === 'warn' && says(entry)),
        sign: entries.some((entry) => entry.message === 'sign' && entry.level === 'error' && entry.status === 503 && says(entry)),
        authorize: entries.some((entry) => entry.message === 'authorize' && entry.level === 'error' && entry.outcome === 'error' && says(entry)),
      };
      expect({ lines, output }).toEqual({ lines: { connect: true, sign: true, authorize: true }, output });
      for (const secret of [APP_PASSWORD, WRONG_PASSWORD, ADMIN.password]) expect(output).not.toContain(secret);
      expect(output).not.toMatch(/rediss?:\/\//);
    });
  });
});

function signEvent(sub: string, refresh = false) {
  return proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(refresh ? { sub, refresh } : { sub }) });
}

/** A token the service would accept, were Redis reachable: what the failure tests present. */
function validToken(sub: string): string {
  return jsonwebtoken.sign({ jti: newId(sub) }, JWT_SECRET, {
    algorithm: 'HS256',
    keyid: 'default',
    subject: sub,
    issuer: 'revocable-jwt',
    audience: 'revocable-jwt-api',
    expiresIn: 600,
  });
}

async function waitForSync(replica: RedisServer): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (/master_link_status:up/.test(await (await replica.admin()).info('replication'))) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('replica did not sync within 10 s');
}

/**
 * sign (with a refresh token and without), refresh, authorize, me, list sessions, end a session, logout (of a
 * session with two access tokens), logout-all, revoke by jti, by sid and by sub, and the kill switch (SCAN +
 * UNLINK), each checked, in one container. Subjects carry `run` so runs do not mix.
 */
async function everyFeature(host: HostProcess, run: string): Promise<void> {
  const call = async (handler: HandlerName, event: unknown, status: number) => {
    const outcome = await host.invoke(handler, event);
    expect({ handler, outcome }).toMatchObject({ handler, outcome: { ok: true, result: { statusCode: status } } });
    return JSON.parse((outcome as ProxyOutcome).result.body || 'null') as Record<string, unknown>;
  };
  const sign = async (sub: string, refresh = false) =>
    (await call('sign', signEvent(sub, refresh), 201)) as { token: string; jti: string; sid: string; refreshToken?: string };
  const refreshEvent = (refreshToken: string) => proxyEvent({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken }) });
  const revoke = (body: Record<string, string>) => call('revoke', proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify(body) }), 200);
  const authorize = async (token: string) => {
    const outcome = await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`));
    expect(outcome).toMatchObject({ ok: true });
    return (outcome as { result: APIGatewayAuthorizerResult }).result.context as Record<string, unknown>;
  };
  const refused = async (token: string) => {
    // 'Unauthorized' is a 401: the token is refused because its label is gone, not because Redis failed.
    expect(await host.invoke('authorizer', tokenAuthorizerEvent(`Bearer ${token}`))).toMatchObject({ ok: false, error: { message: 'Unauthorized' } });
  };
  const asCaller = (context: Record<string, unknown>, method: string, path: string, extra: Record<string, unknown> = {}) =>
    proxyEvent({ method, path, authorizer: context, ...extra });
  const [alice, bob, carol] = [`alice-${run}`, `bob-${run}`, `carol-${run}`];

  const a1 = await sign(alice, true);
  const a2 = await sign(alice);
  const a3 = await sign(alice);
  const b1 = await sign(bob);
  const b2 = await sign(bob);
  const c1 = await sign(carol);

  // A second access token of a1's session, and the next refresh token.
  const r1 = (await call('refresh', refreshEvent(a1.refreshToken as string), 200)) as { token: string; sid: string; refreshToken: string };
  expect(r1.sid).toBe(a1.sid);
  await authorize(r1.token);

  const a1Context = await authorize(a1.token);
  expect(a1Context).toMatchObject({ sub: alice, jti: a1.jti, sid: a1.sid });
  expect(await call('me', asCaller(a1Context, 'GET', '/me'), 200)).toMatchObject({ sub: alice, jti: a1.jti, sid: a1.sid });
  const listed = (await call('listSessions', asCaller(a1Context, 'GET', '/auth/sessions'), 200)) as { sessions: Array<{ sid: string; current: boolean }> };
  expect(listed.sessions.map((session) => session.sid).sort()).toEqual([a1.sid, a2.sid, a3.sid].sort());

  await call('endSession', asCaller(a1Context, 'DELETE', `/auth/sessions/${a2.sid}`, { pathParameters: { sid: a2.sid } }), 204);
  await refused(a2.token);

  // Ends a1's whole session: both its access tokens and its refresh token.
  await call('logout', asCaller(a1Context, 'POST', '/auth/logout'), 204);
  await refused(a1.token);
  await refused(r1.token);
  await call('refresh', refreshEvent(r1.refreshToken), 401);

  const a4 = await sign(alice);
  await call('logoutAll', asCaller(await authorize(a3.token), 'POST', '/auth/logout-all'), 204);
  await refused(a3.token);
  await refused(a4.token);

  expect(await revoke({ jti: b1.jti })).toEqual({ revoked: 1 });
  await refused(b1.token);
  expect(await revoke({ sid: b2.sid })).toEqual({ revoked: 1 });
  await refused(b2.token);
  const b3 = await sign(bob);
  // b1's session outlived its access token: it is one of the two ended.
  expect(await revoke({ sub: bob })).toEqual({ revoked: 2 });
  await refused(b3.token);

  await authorize(c1.token);
  const killed = await host.invoke('revokeAll', { confirm: 'revoke-all' });
  // Not an HTTP handler: it throws, and the Lambda runtime would log what.
  if (!killed.ok) throw new Error(`revokeAll threw ${killed.error.name}: ${killed.error.message}`);
  expect((killed.result as { revoked: number }).revoked).toBeGreaterThanOrEqual(1);
  await refused(c1.token);
}
