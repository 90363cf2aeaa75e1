// CORS_ORIGINS in the packaged template (deploy/cors.js): preflights and headers on the browser routes of both
// APIs (the Bearer routes and POST /auth/refresh) and on the REST API's own errors, never on the API-key routes,
// and nothing at all when it is unset.
import { expect } from '@jest/globals';
import { BROWSER_ROUTES } from '../../deploy/cors';
import { packageService, resourcesOfType, type Packaged, type Resource, type Template } from '../../testkit/package-service';
import { apiEnvironment } from './start-api';

jest.setTimeout(60_000);

const APP = 'https://app.example.com';
const DEV = 'http://localhost:5173';
const BROWSER = BROWSER_ROUTES.map(({ method, path }) => `${method} ${path}`).sort();
/** The one browser route behind no authorizer: its body, a refresh token, is its credential. */
const REFRESH = 'POST /auth/refresh';
/** The public keys: no authorizer, no API key. */
const JWKS = 'GET /.well-known/jwks.json';
/** The demo page's passwordless login (the local target, packaged here): no authorizer, no API key. */
const DEMO_LOGIN = 'POST /demo/login';
/** The browser routes behind no authorizer. */
const PUBLIC = [REFRESH, JWKS, DEMO_LOGIN];
/** The gateway responses a browser route's caller can meet. */
const CORS_GATEWAY_RESPONSES = ['UNAUTHORIZED', 'DEFAULT_4XX', 'DEFAULT_5XX'];
/** Only the trusted routes' callers meet these: a wrong API key, and IAM's refusal (trustedCallers=iam). */
const TRUSTED_ONLY_GATEWAY_RESPONSES = ['INVALID_API_KEY', 'ACCESS_DENIED'];

const packaged: Packaged[] = [];
let none: Template;
let one: Template;
let two: Template;

beforeAll(async () => {
  const settings: Record<string, string>[] = [{}, { CORS_ORIGINS: APP }, { CORS_ORIGINS: ` ${APP}, ${DEV} ` }];
  const results = await Promise.all(settings.map((variables) => packageService(apiEnvironment(variables))));
  packaged.push(...results);
  [none, one, two] = results.map((result) => result.template) as [Template, Template, Template];
}, 180_000);

afterAll(() => {
  for (const result of packaged) result.remove();
});

/** The full path of an AWS::ApiGateway::Resource, following ParentId up to the root. */
function resourcePath(template: Template, logicalId: string): string {
  const resource = template.Resources[logicalId];
  if (resource === undefined) throw new Error(`no resource ${logicalId}`);
  const parent = resource.Properties.ParentId as { Ref?: string };
  return `${parent.Ref === undefined ? '' : resourcePath(template, parent.Ref)}/${String(resource.Properties.PathPart)}`;
}

/** The REST API's methods as `METHOD /path`, each with its properties. */
function restMethods(template: Template): Map<string, Record<string, unknown>> {
  return new Map(
    resourcesOfType(template, 'AWS::ApiGateway::Method').map(([, resource]) => [
      `${String(resource.Properties.HttpMethod)} ${resourcePath(template, (resource.Properties.ResourceId as { Ref: string }).Ref)}`,
      resource.Properties,
    ]),
  );
}

function gatewayResponse(template: Template, responseType: string): Record<string, unknown> {
  const found = resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse').filter(([, resource]) => resource.Properties.ResponseType === responseType);
  expect(found).toHaveLength(1);
  return (found[0] as [string, Resource])[1].Properties;
}

function corsConfiguration(template: Template): unknown {
  const [, api] = resourcesOfType(template, 'AWS::ApiGatewayV2::Api')[0] as [string, Resource];
  return api.Properties.CorsConfiguration;
}

/** The preflight's headers, as its MOCK integration answers them. */
function preflightHeaders(template: Template, path: string): Record<string, string> {
  const options = restMethods(template).get(`OPTIONS ${path}`);
  const integration = options?.Integration as { Type: string; IntegrationResponses: { ResponseParameters: Record<string, string> }[] } | undefined;
  expect(integration?.Type).toBe('MOCK');
  return Object.fromEntries(
    Object.entries(integration?.IntegrationResponses[0]?.ResponseParameters ?? {}).map(([name, value]) => [name.replace('method.response.header.', ''), value]),
  );
}

/** The HTTP API's routes as `METHOD /path`, each with its properties. */
function httpRoutes(template: Template): Map<string, Record<string, unknown>> {
  return new Map(resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, resource]) => [String(resource.Properties.RouteKey), resource.Properties]));
}

describe('deploy/cors.js: the one list of browser routes', () => {
  test('is exactly the REST API methods behind the TOKEN authorizer, POST /auth/refresh, GET /.well-known/jwks.json and POST /demo/login', () => {
    const custom = [...restMethods(none)].filter(([, method]) => method.AuthorizationType === 'CUSTOM').map(([route]) => route);
    expect([...custom, ...PUBLIC].sort()).toEqual(BROWSER);
  });

  test('is exactly the HTTP API routes: those behind its authorizer, POST /auth/refresh, GET /.well-known/jwks.json and POST /demo/login', () => {
    const routes = httpRoutes(none);
    expect([...routes.keys()].sort()).toEqual(BROWSER);
    const authorized = [...routes].filter(([, route]) => route.AuthorizationType === 'CUSTOM').map(([key]) => key);
    expect([...authorized, ...PUBLIC].sort()).toEqual(BROWSER);
  });

  test.each([
    ['unset', () => none],
    ['set', () => one],
  ])('with CORS_ORIGINS %s, POST /auth/refresh, the JWKS and the demo login need no authorizer and no API key on either API', (_case, template) => {
    for (const route of PUBLIC) {
      const rest = restMethods(template()).get(route);
      expect(rest).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: false });
      expect(rest).not.toHaveProperty('AuthorizerId');
      const http = httpRoutes(template()).get(route);
      expect(http).toBeDefined();
      expect(http?.AuthorizationType ?? 'NONE').toBe('NONE');
      expect(http).not.toHaveProperty('AuthorizerId');
    }
  });
});

describe('serverless package with CORS_ORIGINS set', () => {
  test("the REST API has an OPTIONS method exactly on the browser routes' paths, POST /auth/refresh's included", () => {
    const withOptions = [...restMethods(one).keys()].filter((route) => route.startsWith('OPTIONS ')).map((route) => route.slice('OPTIONS '.length));
    expect(withOptions.sort()).toEqual(BROWSER_ROUTES.map(({ path }) => path).sort());
    expect(withOptions).toContain('/auth/refresh');
    expect(restMethods(one).get('OPTIONS /auth/token')).toBeUndefined();
    expect(restMethods(one).get('OPTIONS /auth/revoke')).toBeUndefined();
  });

  test.each(BROWSER_ROUTES.map(({ method, path }) => [method, path]))(
    'the preflight of %s %s allows the origin, its method, Authorization and Content-Type, no credentials',
    (method, path) => {
      expect(preflightHeaders(one, path)).toEqual({
        'Access-Control-Allow-Origin': `'${APP}'`,
        'Access-Control-Allow-Methods': `'OPTIONS,${method}'`,
        'Access-Control-Allow-Headers': "'Authorization,Content-Type'",
      });
    },
  );

  test('with several origins, the preflight answers the one that asked, if it is listed', () => {
    const options = restMethods(two).get('OPTIONS /me') as { Integration: { IntegrationResponses: { ResponseTemplates: Record<string, string> }[] } };
    const template = options.Integration.IntegrationResponses[0]?.ResponseTemplates['application/json'] ?? '';
    expect(template).toContain('$context.responseOverride.header.Access-Control-Allow-Origin = $origin');
    expect(template).toContain('$origin.matches("https://app[.]example[.]com")');
    expect(template).toContain('$origin.matches("http://localhost:5173")');
  });

  test('the HTTP API answers preflights for the origins, with Authorization and Content-Type, no credentials', () => {
    expect(corsConfiguration(one)).toEqual({ AllowOrigins: [APP], AllowHeaders: ['Authorization', 'Content-Type'], AllowMethods: expect.any(Array) });
    expect(corsConfiguration(two)).toMatchObject({ AllowOrigins: [APP, DEV] });
    expect(corsConfiguration(two)).not.toHaveProperty('AllowCredentials');
  });

  test.each(CORS_GATEWAY_RESPONSES)('the %s gateway response names the one origin', (responseType) => {
    expect(gatewayResponse(one, responseType).ResponseParameters).toMatchObject({ 'gatewayresponse.header.Access-Control-Allow-Origin': `'${APP}'` });
  });

  test.each(CORS_GATEWAY_RESPONSES)('with several origins, the %s gateway response echoes Origin and says it varies by it', (responseType) => {
    expect(gatewayResponse(two, responseType).ResponseParameters).toMatchObject({
      'gatewayresponse.header.Access-Control-Allow-Origin': 'method.request.header.Origin',
      'gatewayresponse.header.Vary': "'Origin'",
    });
  });

  test.each(TRUSTED_ONLY_GATEWAY_RESPONSES)('the %s gateway response, met only on the trusted routes, carries no CORS', (responseType) => {
    for (const template of [one, two]) {
      expect(JSON.stringify(gatewayResponse(template, responseType).ResponseParameters)).not.toMatch(/access-control|vary/i);
    }
  });

  test("a missing or wrong API key has a gateway response of its own, without CORS, in the handlers' shape", () => {
    for (const template of [one, two]) {
      const properties = gatewayResponse(template, 'INVALID_API_KEY');
      expect(properties).toMatchObject({ StatusCode: '403', ResponseParameters: { 'gatewayresponse.header.Cache-Control': "'no-store'" } });
      expect(JSON.stringify(properties)).not.toMatch(/access-control|vary/i);
      const body = (properties.ResponseTemplates as Record<string, string>)['application/json'] ?? '';
      expect(JSON.parse(body.replace('$context.error.messageString', '"Forbidden"'))).toEqual({ error: 'INVALID_API_KEY', message: 'Forbidden' });
    }
  });

  test("every function gets CORS_ORIGINS, for the browser routes' own headers", () => {
    for (const [, fn] of resourcesOfType(two, 'AWS::Lambda::Function')) {
      expect((fn.Properties.Environment as { Variables: Record<string, string> }).Variables.CORS_ORIGINS).toBe(` ${APP}, ${DEV} `);
    }
  });
});

describe('serverless package with CORS_ORIGINS unset', () => {
  test('the template holds no CORS at all: no OPTIONS method, no CorsConfiguration, no Access-Control header', () => {
    expect([...restMethods(none).keys()].filter((route) => route.startsWith('OPTIONS '))).toEqual([]);
    expect(corsConfiguration(none)).toBeUndefined();
    expect(JSON.stringify(none)).not.toMatch(/access-control/i);
  });

  test('the functions get an empty CORS_ORIGINS: no origin allowed', () => {
    for (const [, fn] of resourcesOfType(none, 'AWS::Lambda::Function')) {
      expect((fn.Properties.Environment as { Variables: Record<string, string> }).Variables.CORS_ORIGINS).toBe('');
    }
  });
});
