// The HTTP API authorizer (payload 2.0, simple responses) and the routes behind it, called directly against
// a real redis-server: the same decisions as the REST authorizer, and the same handlers serving both gateways.
import { expect } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { httpAuthorizerEvent, proxyEventV2 } from '../../testkit/events-v2';
import { coldStart } from '../../testkit/cold-start';
import { eventually, useContainerOnServer } from '../../testkit/fixtures';

const SECRET = 'http-authorizer-test-secret-0123456789abcdef';

describe('HTTP API authorizer and routes (real redis-server)', () => {
  const suite = useContainerOnServer({ JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '300' });
  const { server, logLines } = suite;

  async function signToken(sub = 'user-1', claims: Record<string, unknown> = { role: 'admin' }, refresh = false) {
    const body = refresh ? { sub, claims, refresh } : { sub, claims };
    const response = await suite.handlers().sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(body) }));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as { token: string; jti: string; sid: string; refreshToken?: string };
  }

  const authorize = (headers: Record<string, string>) => suite.handlers().httpAuthorizer(httpAuthorizerEvent(headers));

  /** Authorizes like the HTTP API, then calls the route with the context where payload 2.0 puts it. */
  async function callV2(
    handler: (event: ReturnType<typeof proxyEventV2>) => Promise<APIGatewayProxyResult>,
    token: string,
    request: { method: string; path: string; pathParameters?: Record<string, string> },
  ): Promise<APIGatewayProxyResult | 'forbidden'> {
    const decision = await authorize({ authorization: `Bearer ${token}` });
    if (!decision.isAuthorized) return 'forbidden';
    return handler(proxyEventV2({ ...request, lambda: decision.context }));
  }

  describe('decisions', () => {
    it('allows a live token, with the very context the REST authorizer passes on', async () => {
      const { token, jti, sid } = await signToken();
      const decision = await authorize({ authorization: `Bearer ${token}` });
      const rest = await suite.handlers().authorizer(tokenAuthorizerEvent(`Bearer ${token}`));
      expect(decision).toEqual({ isAuthorized: true, context: rest.context });
      expect(decision).toEqual({
        isAuthorized: true,
        context: { sub: 'user-1', jti, sid, iat: expect.any(Number), exp: expect.any(Number), customClaims: '{"role":"admin"}' },
      });
    });

    it.each([
      ['lowercase, as the HTTP API sends it', 'authorization', 'Bearer'],
      ['as the client spelt it, as serverless offline sends it', 'Authorization', 'Bearer'],
      ['with the scheme in another case', 'authorization', 'bEARER'],
    ])('reads the header %s', async (_case, name, scheme) => {
      const { token } = await signToken();
      await expect(authorize({ [name]: `${scheme} ${token}` })).resolves.toMatchObject({ isAuthorized: true });
    });

    it.each([
      ['no Authorization header', () => ({})],
      ['an empty header', () => ({ authorization: '' })],
      ['another scheme', (token: string) => ({ authorization: `Basic ${token}` })],
      ['garbage', () => ({ authorization: 'Bearer not.a.jwt' })],
      ['a tampered token', (token: string) => ({ authorization: `Bearer ${token.slice(0, -2)}xx` })],
      ['the header twice', (token: string) => ({ authorization: `Bearer ${token}`, Authorization: `Bearer ${token}` })],
    ])('refuses %s with exactly { isAuthorized: false }', async (_case, headers) => {
      const { token } = await signToken();
      await expect(authorize(headers(token))).resolves.toEqual({ isAuthorized: false });
    });

    it('refuses a token signed with another secret, though its label exists', async () => {
      const other = coldStart({ REDIS_URL: server().url, JWT_SECRET: 'z'.repeat(40), LOG_LEVEL: 'silent' });
      const signed = await other.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: '{"sub":"user-1"}' }));
      await other.close();
      const { token } = JSON.parse(signed.body) as { token: string };
      await expect(authorize({ authorization: `Bearer ${token}` })).resolves.toEqual({ isAuthorized: false });
    });

    it('refuses a revoked token, and logs whose it was', async () => {
      const { token, jti } = await signToken();
      await (await server().admin()).del(`jwt_label:${jti}`);
      await expect(authorize({ authorization: `Bearer ${token}` })).resolves.toEqual({ isAuthorized: false });
      const line = JSON.parse(logLines().find((entry) => entry.includes('"outcome":"deny"')) ?? '{}') as Record<string, unknown>;
      expect(line).toMatchObject({ message: 'authorize', Function: 'httpAuthorizer', outcome: 'deny', reason: 'TOKEN_REVOKED', jti, sub: 'user-1' });
    });

    it.each([
      [
        'hangs (paused by SIGSTOP: its socket stays open, nothing answers, the 300 ms bound runs out)',
        'paused',
        /^Redis MGET failed: .*command took longer than \d+ ms$/,
      ],
      ['is down (killed: nothing listens on its port any more)', 'killed', /^Redis MGET failed: (?!.*took longer)/],
    ] as const)('fails closed by throwing (a 500 on AWS), never allowing, while Redis %s, and allows again once it is back', async (_state, how, failure) => {
      const { token } = await signToken();
      if (how === 'paused') server().pause();
      else await server().kill();
      try {
        await expect(authorize({ authorization: `Bearer ${token}` })).rejects.toThrow(failure);
      } finally {
        if (how === 'paused') server().resume();
        else await server().restart();
      }
      expect(logLines().some((line) => line.includes('"Function":"httpAuthorizer"') && line.includes('"outcome":"error"'))).toBe(true);
      // A restarted server is empty (it keeps nothing on disk): a token signed after it shows the recovery.
      const live = how === 'paused' ? token : (await eventually(() => signToken())).token;
      await expect(eventually(() => authorize({ authorization: `Bearer ${live}` }))).resolves.toMatchObject({ isAuthorized: true });
    });

    it('never logs the token or the secret', async () => {
      const { token } = await signToken();
      await authorize({ authorization: `Bearer ${token}` });
      await authorize({ authorization: `Bearer ${token.slice(0, -2)}xx` });
      const logged = logLines().join('\n');
      expect(logged).toContain('"message":"authorize"');
      expect(logged.includes(token.split('.')[2] ?? token)).toBe(false);
      expect(logged.includes(SECRET)).toBe(false);
    });
  });

  describe('the same handlers behind the HTTP API (payload 2.0)', () => {
    it('GET /me answers as it does behind the REST API', async () => {
      const { token, jti, sid } = await signToken();
      const v2 = await callV2(suite.handlers().me, token, { method: 'GET', path: '/me' });
      const rest = await suite
        .handlers()
        .me(proxyEvent({ method: 'GET', path: '/me', authorizer: (await suite.handlers().authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).context ?? {} }));
      expect(v2).toEqual(rest);
      expect(v2).toMatchObject({ statusCode: 200 });
      expect(JSON.parse((v2 as APIGatewayProxyResult).body)).toMatchObject({ sub: 'user-1', jti, sid, claims: { role: 'admin' } });
    });

    it('POST /auth/refresh, reached without the authorizer, rotates the refresh token; POST /auth/logout kills the session at once', async () => {
      const signed = await signToken('user-1', { role: 'admin' }, true);
      const refresh = (refreshToken: string) =>
        suite.handlers().refresh(proxyEventV2({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken }) }));
      const refreshed = await refresh(signed.refreshToken as string);
      expect(refreshed.statusCode).toBe(200);
      const { token, sid, refreshToken } = JSON.parse(refreshed.body) as { token: string; sid: string; refreshToken: string };
      expect(sid).toBe(signed.sid);
      expect(await callV2(suite.handlers().me, token, { method: 'GET', path: '/me' })).toMatchObject({ statusCode: 200 });

      expect(await callV2(suite.handlers().logout, token, { method: 'POST', path: '/auth/logout' })).toMatchObject({ statusCode: 204 });
      expect(await callV2(suite.handlers().me, token, { method: 'GET', path: '/me' })).toBe('forbidden');
      expect(await callV2(suite.handlers().me, signed.token, { method: 'GET', path: '/me' })).toBe('forbidden');
      expect((await refresh(refreshToken)).statusCode).toBe(401);
    });

    it('GET /auth/sessions, DELETE /auth/sessions/{sid} and POST /auth/logout-all act on the caller only', async () => {
      const first = await signToken('user-2');
      const second = await signToken('user-2');
      const bystander = await signToken('user-3');
      const listed = await callV2(suite.handlers().listSessions, first.token, { method: 'GET', path: '/auth/sessions' });
      // Signed within the same millisecond, the two may list in either order: the order is not the point here.
      const { sessions } = JSON.parse((listed as APIGatewayProxyResult).body) as { sessions: { sid: string; current: boolean }[] };
      expect(sessions).toHaveLength(2);
      expect(sessions).toEqual(
        expect.arrayContaining([expect.objectContaining({ sid: second.sid, current: false }), expect.objectContaining({ sid: first.sid, current: true })]),
      );

      const endStranger = await callV2(suite.handlers().endSession, first.token, {
        method: 'DELETE',
        path: '/auth/sessions/x',
        pathParameters: { sid: bystander.sid },
      });
      expect(endStranger).toMatchObject({ statusCode: 404 });
      const endSecond = await callV2(suite.handlers().endSession, first.token, {
        method: 'DELETE',
        path: '/auth/sessions/x',
        pathParameters: { sid: encodeURIComponent(second.sid) },
      });
      expect(endSecond).toMatchObject({ statusCode: 204 });
      expect(await callV2(suite.handlers().me, second.token, { method: 'GET', path: '/me' })).toBe('forbidden');

      expect(await callV2(suite.handlers().logoutAll, first.token, { method: 'POST', path: '/auth/logout-all' })).toMatchObject({ statusCode: 204 });
      expect(await callV2(suite.handlers().me, first.token, { method: 'GET', path: '/me' })).toBe('forbidden');
      expect(await callV2(suite.handlers().me, bystander.token, { method: 'GET', path: '/me' })).toMatchObject({ statusCode: 200 });
    });

    it('a route reached without the authorizer answers 500 and does nothing', async () => {
      const { jti } = await signToken();
      const response = await suite.handlers().logout(proxyEventV2({ method: 'POST', path: '/auth/logout' }));
      expect(response.statusCode).toBe(500);
      expect(await (await server().admin()).exists(`jwt_label:${jti}`)).toBe(1);
    });
  });
});
