// POST /demo/login (the local target's demo page) against a real redis-server: a demo user's session, named after
// the browser that asked, answered as POST /auth/token answers; anything else refused before anything is stored.
import { expect } from '@jest/globals';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { MAX_DEVICE_LENGTH } from '../../shared/http/validation';
import { proxyEvent } from '../../testkit/events';
import { proxyEventV2 } from '../../testkit/events-v2';
import { useContainerOnServer } from '../../testkit/fixtures';

const SECRET = 'demo-login-test-secret-0123456789abcdefgh';

/** A REST API (payload 1.0) request, with the source API Gateway reports in requestContext.identity. */
function restLogin(body: unknown, source: { sourceIp?: string; userAgent?: string } = {}): APIGatewayProxyEvent {
  const event = proxyEvent({ method: 'POST', path: '/demo/login', body: JSON.stringify(body) });
  return { ...event, requestContext: { ...event.requestContext, identity: source as APIGatewayProxyEvent['requestContext']['identity'] } };
}

describe('POST /demo/login (real redis-server)', () => {
  // Set by serverless offline itself: the demo login serves nowhere else.
  const suite = useContainerOnServer({ JWT_SECRET: SECRET, IS_OFFLINE: 'true' });

  async function sessionsOf(sub: string) {
    return suite.handlers().services.sessions.list(sub, Math.floor(Date.now() / 1000));
  }

  it("answers 201 with sign's body, refresh token included, for demo:<username>, its session named after the browser", async () => {
    const response = await suite.handlers().demoLogin(restLogin({ username: 'alice' }, { sourceIp: '198.51.100.4', userAgent: 'Firefox/140.0 (demo)' }));
    expect(response.statusCode).toBe(201);
    const body = JSON.parse(response.body) as { sid: string };
    expect(body).toEqual({
      token: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
      jti: expect.any(String),
      sid: expect.any(String),
      refreshToken: expect.any(String),
      refreshExpiresIn: 604800,
    });
    expect(await sessionsOf('demo:alice')).toEqual([expect.objectContaining({ sid: body.sid, device: 'Firefox/140.0 (demo)', ip: '198.51.100.4' })]);
  });

  it("reads the HTTP API's (payload 2.0) source as well", async () => {
    const response = await suite.handlers().demoLogin(proxyEventV2({ method: 'POST', path: '/demo/login', body: JSON.stringify({ username: 'bob' }) }));
    expect(response.statusCode).toBe(201);
    // testkit/events-v2.ts's requestContext.http.
    expect(await sessionsOf('demo:bob')).toEqual([expect.objectContaining({ device: 'test', ip: '203.0.113.7' })]);
  });

  it('makes a User-Agent a device sign would accept: without control or bidirectional characters, cut to its length', async () => {
    const userAgent = `\u202Eevil\u0007 ${'x'.repeat(2 * MAX_DEVICE_LENGTH)}`;
    expect((await suite.handlers().demoLogin(restLogin({ username: 'alice' }, { userAgent }))).statusCode).toBe(201);
    const [listed] = await sessionsOf('demo:alice');
    expect(listed?.device).toBe(`evil ${'x'.repeat(MAX_DEVICE_LENGTH - 5)}`);
  });

  it.each([
    ['no User-Agent and no address', {}],
    ['a User-Agent of nothing showable, and an address that is none', { userAgent: '\u200E\u0000 ', sourceIp: 'not-an-address' }],
  ])('signs in with %s, leaving them out of the session', async (_case, source) => {
    expect((await suite.handlers().demoLogin(restLogin({ username: 'carol' }, source))).statusCode).toBe(201);
    const [listed] = await sessionsOf('demo:carol');
    expect(listed).not.toHaveProperty('device');
    expect(listed).not.toHaveProperty('ip');
  });

  it.each([
    ['an unknown user', { username: 'mallory' }, 'username must be one of alice, bob, carol'],
    ['a subject of its own', { username: 'alice', sub: 'admin' }, 'unknown field(s): "sub"; allowed: username'],
    ['a username that is no string', { username: ['alice'] }, 'username must be one of alice, bob, carol'],
    ['no object', 'alice', 'request body must be a JSON object: { "username": … }'],
  ])('refuses %s with a 400, storing nothing', async (_case, body, message) => {
    const response = await suite.handlers().demoLogin(restLogin(body));
    expect({ status: response.statusCode, body: JSON.parse(response.body) as unknown }).toEqual({ status: 400, body: { error: 'BAD_REQUEST', message } });
    expect(await (await suite.server().admin()).keys('*')).toEqual([]);
  });
});

describe('POST /demo/login outside serverless offline (a local package deployed to AWS)', () => {
  const suite = useContainerOnServer({ JWT_SECRET: SECRET });

  it('signs no one in: a 500, nothing stored, and the log says why', async () => {
    const response = await suite.handlers().demoLogin(restLogin({ username: 'alice' }));
    expect({ status: response.statusCode, body: JSON.parse(response.body) as unknown }).toEqual({
      status: 500,
      body: { error: 'INTERNAL', message: 'internal error' },
    });
    expect(await (await suite.server().admin()).keys('*')).toEqual([]);
    expect(suite.logLines().join('\n')).toContain('demoLogin runs only under serverless offline');
  });
});
