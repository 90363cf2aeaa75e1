// POST /auth/introspect (RFC 7662) through the real handler against a real redis-server: active only for a
// live token of ours, with its session, `{ active: false }` for anything else (a session ended by reuse
// detection, an expired or foreign token, a refresh token), a 400 for a body without a token, and a 503, never
// "inactive", when Redis cannot answer.
import { expect } from '@jest/globals';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Env } from '../../shared/config';
import { labelKey, newId } from '../../shared/sessions/keys';
import type { ServiceOverrides } from '../../shared/services';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { eventually, useContainerOnServer, useContainers } from '../../testkit/fixtures';
import { forgeJws } from '../../testkit/jws';
import { manualClock, SessionClient } from '../../testkit/session-client';

const SECRET = 'introspect-test-secret-0123456789abcdefghij';
const ISSUER = 'revocable-jwt';
const AUDIENCE = 'revocable-jwt-api';

const introspectEvent = (body: string, contentType = 'application/json'): APIGatewayProxyEvent => ({
  ...proxyEvent({ method: 'POST', path: '/auth/introspect', body }),
  headers: { 'Content-Type': contentType },
});

describe('POST /auth/introspect (real redis-server)', () => {
  const suite = useContainerOnServer({ JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '300' });
  const { server, logLines } = suite;
  const containers = useContainers('test');
  const sessions = new SessionClient(() => suite.handlers());
  /** Another container on the suite's server: `env` replaces the suite's. */
  const another = (env: Env, overrides?: ServiceOverrides) => {
    const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, REDIS_TIMEOUT_MS: '1000', LOG_LEVEL: 'silent', ...env }, overrides);
    return new SessionClient(() => container);
  };

  const sign = async (sub = 'user-1') => {
    const response = await suite.handlers().sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub, claims: { role: 'admin' } }) }));
    expect(response.statusCode).toBe(201);
    return JSON.parse(response.body) as { token: string; jti: string; sid: string };
  };
  const introspect = async (event: APIGatewayProxyEvent) => {
    const response = await suite.handlers().introspect(event);
    return { status: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown>, headers: response.headers ?? {} };
  };
  const ofToken = (token: string) => introspect(introspectEvent(JSON.stringify({ token })));

  it('describes a live token: active, with its subject, session, jti, dates, issuer, audience and type; never cached', async () => {
    const { token, jti, sid } = await sign();
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat: number; exp: number };
    const answer = await ofToken(token);
    expect(answer).toEqual({
      status: 200,
      body: { active: true, token_type: 'Bearer', sub: 'user-1', sid, jti, iat: payload.iat, exp: payload.exp, iss: ISSUER, aud: AUDIENCE },
      headers: expect.objectContaining({ 'Cache-Control': 'no-store' }),
    });
  });

  it('takes the token as form fields (application/x-www-form-urlencoded), as RFC 7662 sends it, with a type hint', async () => {
    const { token } = await sign();
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' }).toString();
    expect((await introspect(introspectEvent(form, 'application/x-www-form-urlencoded; charset=utf-8'))).body).toMatchObject({ active: true, sub: 'user-1' });
  });

  it('answers { active: false } alone, whatever the reason: revoked, logged out everywhere, expired, forged, malformed, too long', async () => {
    const revoked = await sign();
    await suite.handlers().revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ jti: revoked.jti }) }));
    const subjectRevoked = await sign('user-2');
    await suite.handlers().revoke(proxyEvent({ method: 'POST', path: '/auth/revoke', body: JSON.stringify({ sub: 'user-2' }) }));
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'user-3', jti: newId('user-3'), iat: now - 100, iss: ISSUER, aud: AUDIENCE };
    const expired = forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid: 'default' }, payload: { ...claims, exp: now - 10 }, secret: SECRET });
    const forged = forgeJws({
      header: { alg: 'HS256', typ: 'JWT', kid: 'default' },
      payload: { ...claims, exp: now + 600 },
      secret: 'not-our-secret-0123456789abcdefghijklmnop',
    });
    const live = await sign('user-4');
    const cases = {
      revoked: revoked.token,
      subjectRevoked: subjectRevoked.token,
      expired,
      forged,
      malformed: 'not.a.token',
      tooLong: `${live.token}${'A'.repeat(9000)}`,
    };
    const answers: Record<string, unknown> = {};
    for (const [name, token] of Object.entries(cases)) answers[name] = await ofToken(token);
    const inactive = { status: 200, body: { active: false }, headers: expect.objectContaining({ 'Cache-Control': 'no-store' }) };
    expect(answers).toEqual(Object.fromEntries(Object.keys(cases).map((name) => [name, inactive])));
    // The control: the same handler calls a live token active.
    expect((await ofToken(live.token)).body).toMatchObject({ active: true });
  });

  it("gives every access token of a session, refreshed ones included, that session's sid", async () => {
    const signed = await sessions.signIn('user-1');
    const pair = await sessions.rotate(signed.refreshToken);
    expect((await ofToken(signed.token)).body).toMatchObject({ active: true, sid: signed.sid, jti: signed.jti });
    expect((await ofToken(pair.token)).body).toMatchObject({ active: true, sid: signed.sid, jti: pair.jti });
  });

  it('answers { active: false } for every token of a session ended by reuse detection', async () => {
    const signed = await sessions.signIn('user-1');
    const first = await sessions.rotate(signed.refreshToken);
    const second = await sessions.rotate(first.refreshToken);
    const other = await sessions.signIn('user-1');
    for (const { token } of [signed, first, second]) expect((await ofToken(token)).body).toMatchObject({ active: true });
    // Two rotations back: a used refresh token, whatever the grace window.
    expect((await sessions.refresh(signed.refreshToken)).status).toBe(401);
    for (const { token } of [signed, first, second]) expect((await ofToken(token)).body).toEqual({ active: false });
    expect((await ofToken(other.token)).body).toMatchObject({ active: true, sid: other.sid });
  });

  it('answers { active: false } for an expired token of ours, its label still in Redis', async () => {
    const clock = manualClock();
    const timed = another({}, { now: clock.now });
    const { token, jti } = (await timed.sign({ sub: 'user-1', ttl: 60 })).body as { token: string; jti: string };
    expect((await timed.introspect(token)).body).toMatchObject({ active: true, jti });
    clock.advance(60);
    expect((await timed.introspect(token)).body).toEqual({ active: false });
    // Only time went by: the label lives on, and to the real clock the token is still live.
    expect(await (await server().admin()).exists(labelKey(jti))).toBe(1);
    expect((await ofToken(token)).body).toMatchObject({ active: true, jti });
  });

  it("answers { active: false } for a foreign token: another deployment's key, issuer or audience, on the same Redis", async () => {
    const foreign = {
      'another key': another({ JWT_SECRET: 'another-deployment-secret-0123456789abcdef' }),
      'another issuer': another({ JWT_ISSUER: 'someone-else' }),
      'another audience': another({ JWT_AUDIENCE: 'another-api' }),
    };
    for (const [name, deployment] of Object.entries(foreign)) {
      const { token } = await deployment.signIn('user-1');
      // Live where it was issued, its label in the same Redis: only whose it is makes it inactive here.
      expect((await deployment.introspect(token)).body).toMatchObject({ active: true });
      expect({ name, answer: (await ofToken(token)).body }).toEqual({ name, answer: { active: false } });
    }
  });

  it('answers { active: false } for a refresh token, whatever the hint, and leaves it unused', async () => {
    const signed = await sessions.signIn('user-1');
    const keysBefore = (await (await server().admin()).keys('*')).sort();
    expect((await ofToken(signed.refreshToken)).body).toEqual({ active: false });
    const form = new URLSearchParams({ token: signed.refreshToken, token_type_hint: 'refresh_token' }).toString();
    expect((await introspect(introspectEvent(form, 'application/x-www-form-urlencoded'))).body).toEqual({ active: false });
    expect((await (await server().admin()).keys('*')).sort()).toEqual(keysBefore);
    await expect(sessions.rotate(signed.refreshToken)).resolves.toMatchObject({ sid: signed.sid });
  });

  it.each([
    ['no body', null, 'application/json', /request body is required/],
    ['no token', '{}', 'application/json', /token is required/],
    ['an empty token', '{"token":""}', 'application/json', /token is required/],
    ['a token that is not a string', '{"token":42}', 'application/json', /token is required/],
    ['an unknown field', '{"token":"a.b.c","scope":"x"}', 'application/json', /unknown field\(s\): "scope"/],
    ['a field given twice', 'token=a.b.c&token=d.e.f', 'application/x-www-form-urlencoded', /given more than once/],
    ['a JSON field given twice', '{"token":"a.b.c","token":"d.e.f"}', 'application/json', /gives the field "token" more than once/],
    ['a field named __proto__', 'token=a.b.c&__proto__=x', 'application/x-www-form-urlencoded', /unknown field\(s\): "__proto__"/],
    ['JSON that is not an object', '["a.b.c"]', 'application/json', /JSON object or form fields/],
  ])('answers 400 to a body with %s, and changes nothing', async (_, body, contentType, message) => {
    const { token } = await sign();
    const keysBefore = await (await server().admin()).keys('*');
    const event = { ...introspectEvent(body ?? ''), body, headers: { 'Content-Type': contentType } };
    const answer = await introspect(event);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'BAD_REQUEST', message: expect.stringMatching(message) });
    expect((await (await server().admin()).keys('*')).sort()).toEqual(keysBefore.sort());
    await expect(suite.handlers().authorizer(tokenAuthorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ principalId: 'user-1' });
  });

  it('answers 503, never "inactive", while Redis cannot answer, and describes the token again once it can', async () => {
    const { token } = await sign();
    server().pause();
    try {
      const answer = await ofToken(token);
      expect(answer).toMatchObject({ status: 503, body: { error: 'STORE_UNAVAILABLE' } });
    } finally {
      server().resume();
    }
    const recovered = eventually(async () => {
      const answer = await ofToken(token);
      if (answer.status !== 200) throw new Error(`still ${answer.status}`);
      return answer.body;
    });
    await expect(recovered).resolves.toMatchObject({ active: true });
  });

  it('makes one Redis call, and logs the outcome and the jti, never the token', async () => {
    const { token, jti } = await sign();
    logLines().splice(0);
    await ofToken(token);
    await ofToken(`${token}x`);
    const lines = logLines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ message: 'introspect', outcome: 'active', jti, sub: 'user-1', Function: 'introspect', RedisCalls: 1 }),
      expect.objectContaining({ message: 'introspect', outcome: 'inactive', reason: 'TOKEN_INVALID', RedisCalls: 0 }),
    ]);
    expect(logLines().join('\n')).not.toContain(token.split('.')[2]);
  });
});
