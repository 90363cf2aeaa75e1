import { captureLogs } from '../../testkit/logs';
import { log } from '../../shared/telemetry/log';
import { authorizedRoute, type RouteRequest } from '../../shared/http/frame';
import { authorizerContext } from '../../shared/auth/policy';
import { proxyEvent } from '../../testkit/events';
import { proxyEventV2 } from '../../testkit/events-v2';

const token = { sub: 'user-1', jti: 'a'.repeat(22), iat: 1_700_000_000, exp: 1_700_000_900, claims: { role: 'admin' } };
const context = authorizerContext(token);
const caller = { sub: 'user-1', jti: token.jti, iat: token.iat, exp: token.exp, claims: { role: 'admin' } };

describe('Function: authorizedRoute', () => {
  let seen: { caller: unknown; request: RouteRequest }[];
  const handler = authorizedRoute(
    'test',
    async (who, request) => {
      seen.push({ caller: who, request });
      return { response: { statusCode: 204, body: '' }, log: { outcome: 'ok' } };
    },
    { corsOrigins: [], log },
  );

  beforeEach(() => {
    seen = [];
    captureLogs();
  });

  afterEach(() => jest.restoreAllMocks());

  it('runs with the caller and the request from a REST API (payload 1.0) event', async () => {
    const event = proxyEvent({ method: 'DELETE', path: '/auth/sessions/x', authorizer: context, pathParameters: { jti: 'x' } });
    expect((await handler(event)).statusCode).toBe(204);
    expect(seen).toEqual([{ caller, request: { body: null, isBase64Encoded: false, pathParameters: { jti: 'x' } } }]);
  });

  it('runs with the same caller and request from an HTTP API (payload 2.0) event', async () => {
    const event = proxyEventV2({ method: 'DELETE', path: '/auth/sessions/x', lambda: context, pathParameters: { jti: 'x' } });
    expect((await handler(event)).statusCode).toBe(204);
    expect(seen).toEqual([{ caller, request: { body: null, isBase64Encoded: false, pathParameters: { jti: 'x' } } }]);
  });

  it('gives null where payload 2.0 leaves body and pathParameters out, and passes a body on', async () => {
    await handler(proxyEventV2({ method: 'GET', path: '/me', lambda: context }));
    await handler(proxyEventV2({ method: 'POST', path: '/x', lambda: context, body: 'eyJ9', isBase64Encoded: true }));
    expect(seen.map(({ request }) => request)).toEqual([
      { body: null, isBase64Encoded: false, pathParameters: null },
      { body: 'eyJ9', isBase64Encoded: true, pathParameters: null },
    ]);
  });

  it.each([
    ['a 1.0 event without authorizer context', proxyEvent({ method: 'GET', path: '/me' })],
    ['a 2.0 event without authorizer context', proxyEventV2({ method: 'GET', path: '/me' })],
    ['a 2.0 event with the context where 1.0 has it', { ...proxyEventV2({ method: 'GET', path: '/me' }), requestContext: { authorizer: context } } as never],
    ['a 1.0 event with the context where 2.0 has it', proxyEvent({ method: 'GET', path: '/me', authorizer: { lambda: context } })],
  ])('answers 500 and never runs for %s', async (_case, event) => {
    const response = await handler(event);
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ error: 'INTERNAL', message: 'internal error' });
    expect(seen).toEqual([]);
  });
});
