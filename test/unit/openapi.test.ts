// docs/openapi.yaml against what it describes: it lints clean, it has exactly serverless.yml's routes on each API
// with their guards, the error codes the source defines, and the validators' limits; and the checker the
// end-to-end tests run every answer through (testkit/openapi.ts) refuses what the document does not say.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { MAX_SUBJECT_LENGTH, MAX_TTL_LIMIT, unsafeClaimNames } from '../../shared/auth/claims';
import { RESERVED_CLAIMS } from '../../shared/auth/tokens';
import { DEMO_USERS } from '../../shared/handlers/demo-login';
import { ERROR_CODES } from '../../shared/http/messages';
import { LOGOUT_SCOPES, MAX_DEVICE_LENGTH } from '../../shared/http/validation';
import { assertMatchesContract, documentedOperations, openApiDocument, type ContractResponse } from '../../testkit/openapi';
import { runtimeNode, serviceRuntimeMajor } from '../../testkit/runtime-node';

const ROOT = join(__dirname, '..', '..');
const readYaml = (file: string) => load(readFileSync(join(ROOT, file), 'utf8')) as Record<string, unknown>;

type Target = 'local' | 'aws';
type TrustedCallers = 'apiKey' | 'iam';
interface HttpEvent {
  path: string;
  method: string;
  private?: boolean;
  authorizer?: unknown;
}
type FunctionEvent = { http?: HttpEvent; httpApi?: HttpEvent };
interface FunctionDefinition {
  events?: FunctionEvent[] | string;
}

/** How serverless deploys each target: the trusted callers it allows (deploy/trusted-callers.js). */
const DEPLOYMENTS: Array<{ target: Target; trustedCallers: TrustedCallers }> = [
  { target: 'local', trustedCallers: 'apiKey' },
  { target: 'aws', trustedCallers: 'apiKey' },
  { target: 'aws', trustedCallers: 'iam' },
];

/**
 * serverless.yml's functions on a target: an entry `${self:custom.target.<name>, null}` is deploy/<target>.yml's
 * `<name>`, or none; events given as `${file(./deploy/<file>.js):<export>}` are that export, resolved as serverless would.
 */
async function deployedRoutes({ target, trustedCallers }: (typeof DEPLOYMENTS)[number]) {
  const { functions } = readYaml('serverless.yml') as { functions: Record<string, FunctionDefinition | string> };
  const settings = readYaml(`deploy/${target}.yml`);
  const resolver = { resolveVariable: async (name: string) => ({ 'param:target': target, 'param:trustedCallers': trustedCallers })[name] };
  const routes = [];
  for (const [name, entry] of Object.entries(functions)) {
    const definition = typeof entry === 'string' ? (settings[name] as FunctionDefinition | undefined) : entry;
    let events = definition?.events ?? [];
    if (typeof events === 'string') {
      const [, file, exported] = /^\$\{file\(\.\/(deploy\/[\w-]+\.js)\):(\w+)\}$/.exec(events) ?? [];
      if (file === undefined || exported === undefined) throw new Error(`${name}: events ${events} are not a file reference`);
      const source = (await import(join(ROOT, file))) as Record<string, (resolver: unknown) => Promise<FunctionEvent[]>>;
      events = await (source[exported] as (resolver: unknown) => Promise<FunctionEvent[]>)(resolver);
    }
    for (const { http, httpApi } of events) {
      const [api, event] = http === undefined ? (['http', httpApi] as const) : (['rest', http] as const);
      if (event === undefined) continue;
      routes.push({ operationId: name, api, method: event.method.toUpperCase(), path: `/${event.path.replace(/^\//, '')}`, guard: guardOf(event) });
    }
  }
  return routes;
}

/** The security scheme of docs/openapi.yaml an event's settings amount to. */
function guardOf(event: HttpEvent): string | undefined {
  if (event.private === true) return 'apiKey';
  if (event.authorizer === 'aws_iam') return 'sigv4';
  return event.authorizer === undefined ? undefined : 'bearerAuth';
}

/** The local servers are `npm start`'s; the others AWS's. */
const targetOf = (url: string): Target => (url.startsWith('http://localhost:') ? 'local' : 'aws');

describe('docs/openapi.yaml', () => {
  it("lints clean with Redocly's recommended rules: no error, no warning", async () => {
    const node = await runtimeNode(serviceRuntimeMajor());
    const cli = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    const { stdout } = await promisify(execFile)(node, [cli, 'lint', 'docs/openapi.yaml', '--format=json'], {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      timeout: 60_000,
    });
    const { totals, problems } = JSON.parse(stdout) as { totals: unknown; problems: unknown[] };
    expect({ totals, problems }).toEqual({ totals: { errors: 0, warnings: 0, ignored: 0 }, problems: [] });
  }, 60_000);

  it.each(['local', 'aws'] as const)("has exactly serverless.yml's routes on the %s target, each on its API, named after its function", async (target) => {
    const deployed = (await Promise.all(DEPLOYMENTS.filter((deployment) => deployment.target === target).map(deployedRoutes))).flat();
    const documented = documentedOperations().flatMap(({ operationId, method, path, servers }) =>
      servers.filter(({ url }) => targetOf(url) === target).map(({ api }) => `${api} ${method} ${path} ${operationId}`),
    );
    expect([...new Set(documented)].sort()).toEqual(
      [...new Set(deployed.map(({ api, method, path, operationId }) => `${api} ${method} ${path} ${operationId}`))].sort(),
    );
  });

  it('gives each operation the security its events have, on every target and with either kind of trusted caller', async () => {
    const deployed = (await Promise.all(DEPLOYMENTS.map(deployedRoutes))).flat();
    for (const { operationId, security } of documentedOperations()) {
      const guards = new Set(deployed.filter((route) => route.operationId === operationId).map(({ guard }) => guard));
      const expected = [...guards].flatMap((guard) => (guard === undefined ? [] : [[guard]]));
      expect({ operationId, security: [...security].sort() }).toEqual({ operationId, security: expected.sort() });
    }
  });

  const schemas = () => openApiDocument().components.schemas as Record<string, { enum?: string[]; properties?: Record<string, Record<string, unknown>> }>;

  it("has every error code the functions answer (shared/http/messages.ts's ERROR_CODES), and no other, as HandlerErrorCode", () => {
    expect([...(schemas().HandlerErrorCode?.enum ?? [])].sort()).toEqual([...ERROR_CODES].sort());
  });

  it("has the gateway's codes as GatewayErrorCode: serverless.yml's gateway responses and npm start's gateway's", () => {
    const resources = (readYaml('serverless.yml').resources as Array<{ Resources?: Record<string, { Type: string; Properties: Record<string, unknown> }> }>)
      .flatMap(({ Resources }) => Object.values(Resources ?? {}))
      .filter(({ Type }) => Type === 'AWS::ApiGateway::GatewayResponse');
    expect(resources.length).toBeGreaterThan(0);
    const codes = resources.flatMap(({ Properties }) => {
      const template = (Properties.ResponseTemplates as Record<string, string>)['application/json'] ?? '';
      // A literal code, or the response type itself (DEFAULT_4XX and DEFAULT_5XX answer with the type they stand for).
      const literal = /"error":"([A-Z0-9_]+)"/.exec(template)?.[1];
      return [String(Properties.ResponseType), ...(literal === undefined ? [] : [literal])];
    });
    const localGateway = readFileSync(join(ROOT, 'scripts', 'local-gateway.js'), 'utf8');
    codes.push(...[...localGateway.matchAll(/error: '([A-Z0-9_]+)'/g)].map((match) => match[1] as string));
    expect(codes).toEqual(expect.arrayContaining(['BAD_GATEWAY', 'MISDIRECTED_REQUEST']));
    const gateway = schemas().GatewayErrorCode?.enum ?? [];
    expect(codes.filter((code) => !gateway.includes(code))).toEqual([]);
    // One list or the other: a code means one thing.
    expect(gateway.filter((code) => (ERROR_CODES as readonly string[]).includes(code))).toEqual([]);
  });

  it('names, wherever a response narrows the error code, codes of ErrorCode only', () => {
    const known = [...(schemas().HandlerErrorCode?.enum ?? []), ...(schemas().GatewayErrorCode?.enum ?? [])];
    const narrowed: unknown[] = [];
    const walk = (node: unknown): void => {
      if (typeof node !== 'object' || node === null) return;
      const error = (node as { properties?: { error?: { const?: unknown; enum?: unknown[] } } }).properties?.error;
      if (error?.const !== undefined) narrowed.push(error.const);
      narrowed.push(...(error?.enum ?? []));
      Object.values(node).forEach(walk);
    };
    const document = openApiDocument() as unknown as { paths: unknown; components: { responses: unknown } };
    walk([document.paths, document.components.responses]);
    expect(narrowed.length).toBeGreaterThan(0);
    expect(narrowed.filter((code) => !known.includes(code as string))).toEqual([]);
  });

  it("holds the request validators' limits (shared/http/validation.ts, shared/auth/claims.ts)", () => {
    const { Subject, SessionMetadata, SignRequest, Claims, LogoutRequest, DemoLoginRequest } = schemas() as Record<string, Record<string, unknown>>;
    const property = (schema: unknown, name: string) => (schema as { properties: Record<string, Record<string, unknown>> }).properties[name];
    const objectPrototype = ['prototype', ...Object.getOwnPropertyNames(Object.prototype)];
    expect({
      subject: Subject?.maxLength,
      device: property(SessionMetadata, 'device')?.maxLength,
      ttl: property(SignRequest, 'ttl')?.maximum,
      claims: [...((Claims?.propertyNames as { not: { enum: string[] } }).not.enum ?? [])].sort(),
      scopes: property(LogoutRequest, 'scope')?.enum,
      demoUsers: property(DemoLoginRequest, 'username')?.enum,
    }).toEqual({
      subject: MAX_SUBJECT_LENGTH,
      device: MAX_DEVICE_LENGTH,
      ttl: MAX_TTL_LIMIT,
      claims: [...RESERVED_CLAIMS, ...unsafeClaimNames(objectPrototype)].sort(),
      scopes: [...LOGOUT_SCOPES],
      demoUsers: [...DEMO_USERS],
    });
  });
});

describe('testkit/openapi.ts: assertMatchesContract', () => {
  const ID = `{${'a'.repeat(22)}}${'b'.repeat(22)}`;
  const json = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
  const me: ContractResponse = {
    api: 'rest',
    method: 'GET',
    path: '/me',
    status: 200,
    headers: json,
    body: JSON.stringify({ sub: 'alice', jti: ID, sid: ID, issuedAt: 1, expiresAt: 2, claims: {} }),
  };

  it('accepts an answer the document has', () => {
    expect(() => assertMatchesContract(me)).not.toThrow();
    expect(() => assertMatchesContract({ ...me, api: 'http', headers: new Headers(json) })).not.toThrow();
  });

  it('refuses a body of another shape, naming the operation, the status and each fault', () => {
    const body = JSON.stringify({ sub: 42, jti: ID, issuedAt: 1, expiresAt: 2, claims: {}, role: 'admin' });
    expect(() => assertMatchesContract({ ...me, body })).toThrow(
      /^me \(GET \/me on the REST API\) answered 200 otherwise than docs\/openapi\.yaml says:\n {2}- the body must NOT have additional properties \(role\); at \/sub must be string\n/,
    );
  });

  it('refuses an error code another than the one documented for that status', () => {
    const body = JSON.stringify({ error: 'BAD_REQUEST', message: 'no' });
    expect(() =>
      assertMatchesContract({ api: 'http', method: 'DELETE', path: `/auth/sessions/${encodeURIComponent(ID)}`, status: 404, headers: json, body }),
    ).toThrow(
      /^endSession \(DELETE \/auth\/sessions\/\{sid\} on the HTTP API\) answered 404 .*\n.*at \/error must be equal to constant \("SESSION_NOT_FOUND"\)/,
    );
  });

  it('refuses a status the document does not have for the operation', () => {
    expect(() => assertMatchesContract({ ...me, status: 418 })).toThrow(
      'me (GET /me on the REST API) answered 418, a status docs/openapi.yaml does not document for it (documented: 200, 401, 403, 429, 500, 502)',
    );
  });

  it('refuses a route the document does not have', () => {
    expect(() => assertMatchesContract({ ...me, path: '/nothing' })).toThrow(
      'GET /nothing on the REST API: no operation of docs/openapi.yaml has this method and path',
    );
    expect(() => assertMatchesContract({ ...me, method: 'PUT' })).toThrow(
      'PUT /me on the REST API: no operation of docs/openapi.yaml has this method and path',
    );
  });

  it('refuses a route, or a status, of the other API', () => {
    expect(() => assertMatchesContract({ ...me, api: 'http', method: 'POST', path: '/auth/token', status: 201 })).toThrow(
      'POST /auth/token on the HTTP API: sign (POST /auth/token) is documented on the REST API only',
    );
    expect(() => assertMatchesContract({ ...me, status: 403, body: '{"message":"Forbidden"}' })).toThrow(/- 403 is documented for the HTTP API only\n/);
  });

  it('refuses a required header missing or not as documented, a body where none is documented, and another media type', () => {
    expect(() => assertMatchesContract({ ...me, headers: { 'content-type': 'application/json' } })).toThrow(/- no Cache-Control header, which is required\n/);
    expect(() => assertMatchesContract({ ...me, headers: { ...json, 'Cache-Control': 'max-age=60' } })).toThrow(
      /- header Cache-Control: "max-age=60" must be equal to constant \("no-store"\)\n/,
    );
    expect(() => assertMatchesContract({ api: 'rest', method: 'POST', path: '/auth/logout-all', status: 204, headers: json, body: '{}' })).toThrow(
      /- a body, where none is documented\n/,
    );
    expect(() => assertMatchesContract({ ...me, headers: { ...json, 'Content-Type': 'text/html' } })).toThrow(
      /- Content-Type text\/html, where docs\/openapi\.yaml has application\/json\n/,
    );
  });

  it('checks an answer whose body was not seen (a page dropped it unread) by its status, headers and media type alone', () => {
    const unseen = { ...me, body: undefined };
    expect(() => assertMatchesContract(unseen)).not.toThrow();
    expect(() => assertMatchesContract({ ...unseen, status: 418 })).toThrow(/answered 418, a status docs\/openapi\.yaml does not document for it/);
    expect(() => assertMatchesContract({ ...unseen, headers: { ...json, 'Content-Type': 'text/html' } })).toThrow(
      /- Content-Type text\/html, where docs\/openapi\.yaml has application\/json\n {2}body: \(not seen\)$/,
    );
  });
});
