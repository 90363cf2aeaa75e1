import { expect } from '@jest/globals';
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { MAX_CLOCK_SKEW_SECONDS } from '../../shared/sessions/lua';
import { labelKey, recordKey } from '../../shared/sessions/keys';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { coldStart } from '../../testkit/cold-start';
import { eventually, useContainerOnServer } from '../../testkit/fixtures';

const SECRET = 'handlers-test-secret-0123456789abcdefghij';

const signEvent = (body: unknown) => proxyEvent({ method: 'POST', path: '/auth/token', body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('Handlers (real redis-server)', () => {
  const suite = useContainerOnServer({ JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '300' });
  const { server, logLines } = suite;

  async function signToken(body: unknown = { sub: 'user-1', claims: { role: 'admin' } }) {
    const response = await suite.handlers().sign(signEvent(body));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as { token: string; tokenType: string; expiresIn: number; jti: string; sid: string; refreshToken?: string };
  }

  async function refresh(refreshToken: string) {
    return suite.handlers().refresh(proxyEvent({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken }) }));
  }

  /** Keys in Redis but revocation counters, which outlive the labels they guard by design. */
  async function storedKeys(): Promise<number> {
    return (await (await server().admin()).keys('*')).filter((key) => !key.startsWith('jwt_revoked:')).length;
  }

  async function authorize(header: string | undefined): Promise<APIGatewayAuthorizerResult> {
    return suite.handlers().authorizer(tokenAuthorizerEvent(header));
  }

  const isAlive = (token: string) =>
    authorize(`Bearer ${token}`).then(
      () => true,
      () => false,
    );

  describe('sign', () => {
    it('answers 201 with a Bearer token, and stores its label and its session', async () => {
      const response = await suite.handlers().sign(signEvent({ sub: 'user-1', ttl: 120 }));
      expect(response.statusCode).toBe(201);
      expect(response.headers).toMatchObject({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      const body = JSON.parse(response.body) as { jti: string; sid: string };
      expect(body).toEqual({ token: expect.any(String), tokenType: 'Bearer', expiresIn: 120, jti: expect.any(String), sid: expect.any(String) });
      const admin = await server().admin();
      expect(await admin.ttl(labelKey(body.jti))).toBeGreaterThan(115);
      // Without a refresh token the session is no use once its one access token expires.
      expect(await admin.ttl(recordKey(body.sid))).toBeGreaterThan(115);
      expect(await admin.ttl(recordKey(body.sid))).toBeLessThanOrEqual(120 + MAX_CLOCK_SKEW_SECONDS);
    });

    it.each([
      ['no body', null, /body is required/],
      ['invalid JSON', '{"sub"', /not valid JSON/],
      ['no sub', {}, /sub must be a non-empty string/],
      ['a reserved claim', { sub: 'u', claims: { exp: 1 } }, /reserved claim/],
      ['a ttl above MAX_TTL', { sub: 'u', ttl: 86_401 }, /ttl must be an integer/],
      ['an unknown field', { sub: 'u', role: 'admin' }, /unknown field/],
    ])('answers 400 for %s and writes nothing', async (_, body, message) => {
      const response = await suite.handlers().sign(body === null ? proxyEvent({ method: 'POST', path: '/auth/token' }) : signEvent(body));
      expect(response.statusCode).toBe(400);
      const error = JSON.parse(response.body) as { error: unknown; message: unknown };
      expect(error.error).toBe('BAD_REQUEST');
      expect(error.message).toMatch(message);
      expect(await storedKeys()).toBe(0);
    });

    it('answers 503 and hands out no token while Redis hangs', async () => {
      server().pause();
      try {
        const response = await suite.handlers().sign(signEvent({ sub: 'user-1' }));
        expect(response.statusCode).toBe(503);
        expect(JSON.parse(response.body)).toEqual({ error: 'STORE_UNAVAILABLE', message: 'token store unavailable, try again' });
        expect(response.headers).toMatchObject({ 'Retry-After': '1' });
      } finally {
        server().resume();
      }
    });
  });

  describe('authorizer', () => {
    it('allows a live token for the whole stage and passes the identity on', async () => {
      const { token, jti } = await signToken();
      const result = await authorize(`Bearer ${token}`);
      expect(result.principalId).toBe('user-1');
      expect(result.policyDocument.Statement).toEqual([
        { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*' },
      ]);
      expect(result.context).toMatchObject({ sub: 'user-1', jti, customClaims: '{"role":"admin"}' });
    });

    it('accepts the scheme in any case', async () => {
      const { token } = await signToken();
      await expect(authorize(`bearer ${token}`)).resolves.toMatchObject({ principalId: 'user-1' });
    });

    it.each([
      ['a missing header', () => undefined],
      ['an empty header', () => ''],
      ['another scheme', (token: string) => `Basic ${token}`],
      ['garbage', () => 'Bearer not.a.jwt'],
      ['a tampered token', (token: string) => `Bearer ${token.slice(0, -2)}xx`],
    ])('throws exactly "Unauthorized" for %s', async (_, header) => {
      const { token } = await signToken();
      await expect(authorize(header(token))).rejects.toThrow(/^Unauthorized$/);
    });

    it('throws "Unauthorized" for a token signed with another secret', async () => {
      const other = coldStart({ REDIS_URL: server().url, JWT_SECRET: 'z'.repeat(40), LOG_LEVEL: 'silent' });
      const { token } = JSON.parse((await other.sign(signEvent({ sub: 'user-1' }))).body) as { token: string };
      await other.close();
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it('throws "Unauthorized" once the token has expired', async () => {
      const { token } = await signToken({ sub: 'user-1', ttl: 1 });
      await expect(authorize(`Bearer ${token}`)).resolves.toMatchObject({ principalId: 'user-1' });
      await new Promise((resolve) => setTimeout(resolve, 2100));
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it.each([
      [
        'hangs (paused by SIGSTOP: its socket stays open, nothing answers, the 300 ms bound runs out)',
        'paused',
        /^Redis MGET failed: .*command took longer than \d+ ms$/,
      ],
      ['is down (killed: nothing listens on its port any more)', 'killed', /^Redis MGET failed: (?!.*took longer)/],
    ] as const)(
      'fails closed with another error than "Unauthorized" (a 500 on AWS) while Redis %s, and allows again once it is back',
      async (_state, how, failure) => {
        const { token } = await signToken();
        if (how === 'paused') server().pause();
        else await server().kill();
        try {
          const refusal = authorize(`Bearer ${token}`);
          await expect(refusal).rejects.toThrow(failure);
          await expect(refusal).rejects.not.toThrow(/^Unauthorized$/);
        } finally {
          if (how === 'paused') server().resume();
          else await server().restart();
        }
        // A restarted server is empty (it keeps nothing on disk): a token signed after it shows the recovery.
        const live = how === 'paused' ? token : (await eventually(() => signToken())).token;
        await expect(eventually(() => authorize(`Bearer ${live}`))).resolves.toMatchObject({ principalId: 'user-1' });
      },
    );
  });

  describe('logout and me', () => {
    async function contextOf(token: string) {
      return (await authorize(`Bearer ${token}`)).context as Record<string, string | number>;
    }

    it('returns the authorizer context from /me', async () => {
      const { token, jti, sid } = await signToken();
      const context = await contextOf(token);
      const response: APIGatewayProxyResult = await suite.handlers().me(proxyEvent({ method: 'GET', path: '/me', authorizer: context }));
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ sub: 'user-1', jti, sid, issuedAt: context.iat, expiresAt: context.exp, claims: { role: 'admin' } });
    });

    it('answers 204 and the same token is refused at once', async () => {
      const { token } = await signToken();
      const response = await suite.handlers().logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(token) }));
      expect(response.statusCode).toBe(204);
      expect(response.body).toBe('');
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it("ends the caller's whole session: every access token it issued, and its refresh token", async () => {
      const signed = await signToken({ sub: 'user-1', refresh: true });
      const refreshed = JSON.parse((await refresh(signed.refreshToken as string)).body) as { token: string; refreshToken: string };
      await expect(authorize(`Bearer ${signed.token}`)).resolves.toMatchObject({ principalId: 'user-1' });
      const response = await suite.handlers().logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(refreshed.token) }));
      expect(response.statusCode).toBe(204);
      await expect(authorize(`Bearer ${signed.token}`)).rejects.toThrow(/^Unauthorized$/);
      await expect(authorize(`Bearer ${refreshed.token}`)).rejects.toThrow(/^Unauthorized$/);
      expect((await refresh(refreshed.refreshToken)).statusCode).toBe(401);
    });

    it("leaves the same subject's other sessions alive", async () => {
      const first = await signToken();
      const second = await signToken();
      await suite.handlers().logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(first.token) }));
      await expect(authorize(`Bearer ${second.token}`)).resolves.toMatchObject({ principalId: 'user-1' });
    });

    it('answers 503 while Redis hangs; the logout can be retried and then holds', async () => {
      const { token } = await signToken();
      const event = proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: await contextOf(token) });
      server().pause();
      try {
        expect((await suite.handlers().logout(event)).statusCode).toBe(503);
      } finally {
        server().resume();
      }
      // The script may or may not have run before the timeout: a 503 means "unknown, retry", and retrying is
      // safe because ending a session twice is the same as once.
      const retried = await eventually(async () => {
        const response = await suite.handlers().logout(event);
        if (response.statusCode === 503) throw new Error('still unavailable');
        return response;
      });
      expect(retried.statusCode).toBe(204);
      await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
    });

    it.each(['logout', 'me'] as const)('%s refuses with 500 when reached without the authorizer (a deployment error)', async (name) => {
      const response = await suite.handlers()[name](proxyEvent({ method: 'POST', path: '/x' }));
      expect(response.statusCode).toBe(500);
    });
  });

  describe('sessions', () => {
    const asCaller = async (token: string, method: string, path: string, extra: Partial<Parameters<typeof proxyEvent>[0]> = {}) =>
      proxyEvent({ method, path, authorizer: (await authorize(`Bearer ${token}`)).context as Record<string, unknown>, ...extra });

    it("logout-all ends every session of the caller, the presented one included, and no one else's", async () => {
      const first = await signToken({ sub: 'alice' });
      const second = await signToken({ sub: 'alice' });
      const bobs = await signToken({ sub: 'bob' });
      const response = await suite.handlers().logoutAll(await asCaller(first.token, 'POST', '/auth/logout-all'));
      expect(response.statusCode).toBe(204);
      expect([await isAlive(first.token), await isAlive(second.token), await isAlive(bobs.token)]).toEqual([false, false, true]);
    });

    it("lists the caller's live sessions newest first, marking the current one", async () => {
      const older = await signToken({ sub: 'alice', ttl: 600 });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const newer = await signToken({ sub: 'alice', ttl: 60 });
      await signToken({ sub: 'bob' });
      const response = await suite.handlers().listSessions(await asCaller(older.token, 'GET', '/auth/sessions'));
      expect(response.statusCode).toBe(200);
      const { sessions } = JSON.parse(response.body) as { sessions: Array<Record<string, unknown>> };
      expect(sessions).toEqual([
        { sid: newer.sid, createdAt: expect.any(Number), expiresAt: expect.any(Number), current: false },
        { sid: older.sid, createdAt: expect.any(Number), expiresAt: expect.any(Number), current: true },
      ]);
      expect((sessions[0]!.expiresAt as number) - (sessions[0]!.createdAt as number)).toBe(60);
    });

    it("ends one of the caller's sessions by sid, percent-encoded or not", async () => {
      const caller = await signToken({ sub: 'alice' });
      const other = await signToken({ sub: 'alice' });
      const third = await signToken({ sub: 'alice' });
      const end = async (sid: string) =>
        suite.handlers().endSession(await asCaller(caller.token, 'DELETE', `/auth/sessions/${sid}`, { pathParameters: { sid } }));
      expect((await end(other.sid)).statusCode).toBe(204);
      expect((await end(encodeURIComponent(third.sid))).statusCode).toBe(204);
      expect([await isAlive(caller.token), await isAlive(other.token), await isAlive(third.token)]).toEqual([true, false, false]);
      expect((await end(other.sid)).statusCode).toBe(404);
      // A jti names an access token, not a session.
      expect((await end(caller.jti)).statusCode).toBe(404);
      expect(await isAlive(caller.token)).toBe(true);
    });

    it("answers 404 for another user's session, and it stays alive", async () => {
      const alice = await signToken({ sub: 'alice' });
      const bob = await signToken({ sub: 'bob' });
      const response = await suite.handlers().endSession(await asCaller(alice.token, 'DELETE', '/auth/sessions/x', { pathParameters: { sid: bob.sid } }));
      expect(response.statusCode).toBe(404);
      expect(JSON.parse(response.body)).toEqual({ error: 'SESSION_NOT_FOUND', message: 'no live session with that sid' });
      expect(await isAlive(bob.token)).toBe(true);
    });
  });

  describe('revoke (trusted backends)', () => {
    const revokeEvent = (body: unknown) => proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify(body) });

    it('ends every session of a subject', async () => {
      const tokens = [await signToken({ sub: 'mallory' }), await signToken({ sub: 'mallory' })];
      const bystander = await signToken({ sub: 'alice' });
      const response = await suite.handlers().revoke(revokeEvent({ sub: 'mallory' }));
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ revoked: 2 });
      for (const { token } of tokens) await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
      await expect(authorize(`Bearer ${bystander.token}`)).resolves.toMatchObject({ principalId: 'alice' });
    });

    it('ends one token by jti, and its session lives on', async () => {
      const signed = await signToken({ sub: 'mallory', refresh: true });
      expect(JSON.parse((await suite.handlers().revoke(revokeEvent({ jti: signed.jti }))).body)).toEqual({ revoked: 1 });
      await expect(authorize(`Bearer ${signed.token}`)).rejects.toThrow(/^Unauthorized$/);
      expect(JSON.parse((await suite.handlers().revoke(revokeEvent({ jti: signed.jti }))).body)).toEqual({ revoked: 0 });
      const refreshed = JSON.parse((await refresh(signed.refreshToken as string)).body) as { token: string };
      await expect(authorize(`Bearer ${refreshed.token}`)).resolves.toMatchObject({ principalId: 'mallory' });
    });

    it('ends one session by sid, with every access token it issued', async () => {
      const signed = await signToken({ sub: 'mallory', refresh: true });
      const refreshed = JSON.parse((await refresh(signed.refreshToken as string)).body) as { token: string; refreshToken: string };
      const other = await signToken({ sub: 'mallory' });
      expect(JSON.parse((await suite.handlers().revoke(revokeEvent({ sid: signed.sid }))).body)).toEqual({ revoked: 1 });
      expect([await isAlive(signed.token), await isAlive(refreshed.token), await isAlive(other.token)]).toEqual([false, false, true]);
      expect((await refresh(refreshed.refreshToken)).statusCode).toBe(401);
      expect(JSON.parse((await suite.handlers().revoke(revokeEvent({ sid: signed.sid }))).body)).toEqual({ revoked: 0 });
    });

    it.each([
      [{}, /exactly one of/],
      [{ sub: 'a', jti: 'b' }, /exactly one of/],
      [{ user: 'a' }, /exactly one of/],
      [{ sub: '' }, /sub must be a non-empty string/],
      [{ sid: 'a', jti: 'b' }, /exactly one of/],
      [{ jti: 'not-ours' }, /jti must be a jti issued by this service/],
      [{ sid: 'not-ours' }, /sid must be a sid issued by this service/],
    ])('answers 400 for %p and changes nothing', async (body, message) => {
      await signToken({ sub: 'a' });
      const before = await storedKeys();
      const response = await suite.handlers().revoke(revokeEvent(body));
      expect(response.statusCode).toBe(400);
      expect((JSON.parse(response.body) as { message: unknown }).message).toMatch(message);
      expect(await storedKeys()).toBe(before);
    });
  });

  describe('revoke-all (kill switch)', () => {
    it('refuses to run without the explicit confirmation', async () => {
      const { token } = await signToken();
      await expect(suite.handlers().revokeAll({})).rejects.toThrow(/confirm/);
      await expect(suite.handlers().revokeAll(null)).rejects.toThrow(/confirm/);
      await expect(authorize(`Bearer ${token}`)).resolves.toMatchObject({ principalId: 'user-1' });
    });

    it('revokes every live token', async () => {
      const issued = [await signToken({ sub: 'a' }), await signToken({ sub: 'b' }), await signToken({ sub: 'b' })];
      await expect(suite.handlers().revokeAll({ confirm: 'revoke-all' })).resolves.toMatchObject({ revoked: 3 });
      for (const { token } of issued) await expect(authorize(`Bearer ${token}`)).rejects.toThrow(/^Unauthorized$/);
      expect(await storedKeys()).toBe(0);
    });
  });

  describe('logging', () => {
    it('writes JSON lines with jti, sub, outcome and latency, never the token or the secret', async () => {
      const { token, jti } = await signToken();
      await authorize(`Bearer ${token}`);
      await authorize(`Bearer ${token}x`).catch(() => undefined);
      const lines = logLines().map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ message: 'sign', outcome: 'issued', jti, sub: 'user-1', latencyMs: expect.any(Number) }));
      expect(lines).toContainEqual(expect.objectContaining({ message: 'authorize', outcome: 'allow', jti, sub: 'user-1' }));
      expect(lines).toContainEqual(expect.objectContaining({ message: 'authorize', outcome: 'deny', reason: 'TOKEN_INVALID' }));
      await suite
        .handlers()
        .logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: (await authorize(`Bearer ${token}`)).context as Record<string, unknown> }));
      await authorize(`Bearer ${token}`).catch(() => undefined);
      const revoked = logLines()
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.reason === 'TOKEN_REVOKED');
      expect(revoked).toEqual([expect.objectContaining({ message: 'authorize', outcome: 'deny', jti, sub: 'user-1' })]);
      const all = logLines().join('\n');
      expect(all).not.toContain(token.split('.')[2]);
      expect(all).not.toContain(SECRET);
    });
  });

  describe('observability', () => {
    const lines = () => logLines().map((line) => JSON.parse(line) as Record<string, unknown>);

    it('tags the decision line with its request id, and carries EMF metrics on it', async () => {
      const { token, jti } = await signToken();
      logLines().length = 0;
      await suite.handlers().authorizer(tokenAuthorizerEvent(`Bearer ${token}`), { awsRequestId: 'req-allow-1' });
      const decision = lines().find((line) => line.message === 'authorize');
      expect(decision).toMatchObject({
        requestId: 'req-allow-1',
        outcome: 'allow',
        jti,
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'RevocableJwt',
              Dimensions: [
                ['Function', 'Outcome'],
                ['Function', 'Outcome', 'Reason'],
              ],
              Metrics: expect.arrayContaining([
                { Name: 'Decisions', Unit: 'Count' },
                { Name: 'RedisLatency', Unit: 'Milliseconds' },
              ]),
            },
          ],
        },
        Function: 'authorizer',
        Outcome: 'allow',
        Reason: 'none',
        Decisions: 1,
        RedisCalls: 1,
      });
      expect(decision?.RedisLatency).toBeGreaterThan(0);
      expect(decision?.Latency).toBeGreaterThanOrEqual(decision?.RedisLatency as number);
      expect(lines().every((line) => line.requestId === 'req-allow-1')).toBe(true);
    });

    it("counts each invocation's own Redis calls, however many run at once", async () => {
      const { token } = await signToken();
      const other = await signToken({ sub: 'user-2' });
      logLines().length = 0;
      const callers = (await Promise.all([authorize(`Bearer ${token}`), authorize(`Bearer ${other.token}`)])).map(
        (policy) => policy.context as Record<string, unknown>,
      );
      await Promise.all([
        suite.handlers().authorizer(tokenAuthorizerEvent(`Bearer ${token}`), { awsRequestId: 'req-a' }),
        suite.handlers().logoutAll(proxyEvent({ method: 'POST', path: '/auth/logout-all', authorizer: callers[1] }), { awsRequestId: 'req-b' }),
        suite.handlers().sign(signEvent({ sub: 'user-3' }), { awsRequestId: 'req-c' }),
        suite
          .handlers()
          .authorizer(tokenAuthorizerEvent('Bearer not.a.jwt'), { awsRequestId: 'req-d' })
          .catch(() => undefined),
      ]);
      const calls = Object.fromEntries(
        lines().flatMap((line) =>
          typeof line.requestId === 'string' && line.requestId.startsWith('req-') ? [[line.requestId, line.RedisCalls] as const] : [],
        ),
      );
      // The authorizer's MGET, logout-all's script, sign's script, and no call for a malformed token.
      expect(calls).toEqual({ 'req-a': 1, 'req-b': 1, 'req-c': 1, 'req-d': 0 });
    });

    it('counts refusals by reason, and HTTP routes by status', async () => {
      await authorize('Bearer not.a.jwt').catch(() => undefined);
      await suite.handlers().sign(signEvent({ sub: '' }), { awsRequestId: 'req-bad-body' });
      expect(lines()).toContainEqual(
        expect.objectContaining({ message: 'authorize', Function: 'authorizer', Outcome: 'deny', Reason: 'TOKEN_MALFORMED', RedisCalls: 0 }),
      );
      expect(lines()).toContainEqual(
        expect.objectContaining({ message: 'sign', requestId: 'req-bad-body', Function: 'sign', Outcome: 'rejected', Reason: '400', Decisions: 1 }),
      );
    });

    it('counts connections as they are opened', async () => {
      const cold = coldStart({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'info' });
      await cold.sign(signEvent({ sub: 'user-1' }));
      await cold.close();
      expect(lines()).toContainEqual(expect.objectContaining({ message: 'redis connected', RedisConnects: 1, connectCount: 1 }));
    });
  });

  describe('cold start', () => {
    it('fails with a message naming the variable when the configuration is invalid', () => {
      // Each cold start loads its own copy of errors.ts, so compare by name and code, not by class.
      expect(() => coldStart({ REDIS_URL: server().url, JWT_SECRET: 'too-short' })).toThrow(
        expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID', message: expect.stringMatching(/^JWT_SECRET /) }),
      );
      expect(() => coldStart({ JWT_SECRET: SECRET })).toThrow(expect.objectContaining({ message: expect.stringMatching(/^REDIS_URL is required/) }));
    });

    it('survives Redis being down at init, and connects on the first invocation once it is back', async () => {
      await server().kill();
      const cold = coldStart({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
      const response = await cold.sign(signEvent({ sub: 'user-1' }));
      expect(response.statusCode).toBe(503);
      await server().restart();
      expect((await cold.sign(signEvent({ sub: 'user-1' }))).statusCode).toBe(201);
      await cold.close();
    });
  });
});
