// docs/openapi.yaml as a checker of what the service answers: which operation a response is for (its API, method
// and path template), and whether its status, headers and body are the ones documented there. The end-to-end tests
// run every response they get through it (test/e2e/start-api.ts); test/unit/openapi.test.ts checks the document.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { load } from 'js-yaml';

const OPENAPI_FILE = join(__dirname, '..', 'docs', 'openapi.yaml');

/** The REST API (under its stage) or the HTTP API (at the root). Each server of the document says which in `x-api`. */
export type Api = 'rest' | 'http';
const APIS: readonly Api[] = ['rest', 'http'];
const API_NAMES: Record<Api, string> = { rest: 'the REST API', http: 'the HTTP API' };

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type Method = (typeof METHODS)[number];

type Schema = Record<string, unknown>;
interface Ref {
  $ref: string;
}
interface Server {
  url: string;
  'x-api'?: unknown;
}
interface Header {
  required?: boolean;
  schema?: Schema;
}
interface Response {
  headers?: Record<string, Header | Ref>;
  content?: Record<string, { schema?: Schema }>;
  /** Answered by that API only. */
  'x-api'?: unknown;
}
interface Operation {
  operationId?: string;
  servers?: Server[];
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, Response | Ref>;
}
type PathItem = { servers?: Server[] } & { [M in Method]?: Operation };

/** The parts of docs/openapi.yaml the checker and its tests read. */
export interface OpenApiDocument {
  servers: Server[];
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, Schema> };
}

/** One operation of the document, as the checker matches responses to it. */
export interface DocumentedOperation {
  operationId: string;
  /** Upper case: `GET`. */
  method: string;
  /** The path template: `/auth/sessions/{sid}`. */
  path: string;
  /** Where it is served: each of its servers' URL and API. */
  servers: Array<{ url: string; api: Api }>;
  /** The security schemes it accepts, each alternative as the names it needs; `[]` for none. */
  security: string[][];
}

/** A response as received, for assertMatchesContract. */
export interface ContractResponse {
  api: Api;
  method: string;
  /** The path under the API's base URL, the REST API's stage left out, with any query: `/auth/sessions/%7B…%7D…`. */
  path: string;
  status: number;
  headers: Headers | Readonly<Record<string, string | undefined>>;
  /**
   * The body as received: '' for none. Undefined when it was never seen (a browser keeps no copy of a body its page
   * dropped unread): then only the status, the headers and the media type are checked.
   */
  body: string | undefined;
}

/** Where the component schemas live for Ajv: the document's `#/components/schemas/X` is this `#/$defs/X`. */
const SCHEMAS_ID = 'https://contract.invalid/openapi.yaml';
const SCHEMA_REF = /^#\/components\/schemas\/([^/]+)$/;

interface Contract {
  document: OpenApiDocument;
  /** Literal paths before templated ones, so that a literal path wins as in OpenAPI. */
  operations: Array<DocumentedOperation & { pattern: RegExp; responses: Record<string, Response> }>;
  validator: (schema: Schema) => ValidateFunction;
}

let loaded: Contract | undefined;

function contract(): Contract {
  loaded ??= loadContract();
  return loaded;
}

/** docs/openapi.yaml as parsed, read once. */
export function openApiDocument(): OpenApiDocument {
  return contract().document;
}

/** Every operation of the document, with the servers and security it has. */
export function documentedOperations(): DocumentedOperation[] {
  return contract().operations.map(({ operationId, method, path, servers, security }) => ({ operationId, method, path, servers, security }));
}

/** The operation answering `method` at `path` (under the API's base URL) on `api`, if the document has one there. */
export function findOperation(api: Api, method: string, path: string): DocumentedOperation | undefined {
  return candidates(method, path).find(({ servers }) => servers.some((server) => server.api === api));
}

/**
 * Throws, naming the operation, the status and every problem, unless the document has this response: its route on
 * this API, its status, its required headers (and the documented ones it has, as documented), its media type and a
 * body that its schema accepts, or no body where none is documented. A body not seen (undefined) is not checked.
 */
export function assertMatchesContract({ api, method, path, status, headers, body }: ContractResponse): void {
  const { document, validator } = contract();
  const pathname = path.split('?')[0] ?? path;
  const where = `${method.toUpperCase()} ${pathname} on ${API_NAMES[api]}`;
  const matching = candidates(method, pathname);
  const operation = matching.find(({ servers }) => servers.some((server) => server.api === api));
  if (operation === undefined) {
    const elsewhere = matching[0];
    throw new Error(
      elsewhere === undefined
        ? `${where}: no operation of docs/openapi.yaml has this method and path`
        : `${where}: ${elsewhere.operationId} (${elsewhere.method} ${elsewhere.path}) is documented on ${apisOf(elsewhere)} only`,
    );
  }
  const name = `${operation.operationId} (${operation.method} ${operation.path} on ${API_NAMES[api]})`;
  const response = operation.responses[String(status)];
  if (response === undefined) {
    throw new Error(
      `${name} answered ${status}, a status docs/openapi.yaml does not document for it (documented: ${Object.keys(operation.responses).join(', ')})`,
    );
  }

  const problems: string[] = [];
  const only = response['x-api'];
  if (only !== undefined && only !== api) problems.push(`${status} is documented for ${isApi(only) ? API_NAMES[only] : JSON.stringify(only)} only`);
  for (const [header, definition] of Object.entries(response.headers ?? {})) {
    const { required, schema } = resolve<Header>(document, definition);
    const value = headerValue(headers, header);
    if (value === undefined) {
      if (required === true) problems.push(`no ${header} header, which is required`);
    } else if (schema !== undefined) {
      const validate = validator(schema);
      if (!validate(value)) problems.push(`header ${header}: ${JSON.stringify(value)} ${describeErrors(validate.errors)}`);
    }
  }
  problems.push(...bodyProblems(response, headerValue(headers, 'content-type'), body, validator));
  if (problems.length > 0) {
    const shown = body === undefined ? '(not seen)' : body.length > 500 ? `${body.slice(0, 500)}…` : body || '(none)';
    throw new Error(`${name} answered ${status} otherwise than docs/openapi.yaml says:\n  - ${problems.join('\n  - ')}\n  body: ${shown}`);
  }
}

function bodyProblems(response: Response, contentType: string | undefined, body: string | undefined, validator: Contract['validator']): string[] {
  const content = response.content;
  if (content === undefined) return body === '' || body === undefined ? [] : ['a body, where none is documented'];
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  const documented = mediaType === undefined ? undefined : content[mediaType];
  if (documented?.schema === undefined) return [`Content-Type ${contentType ?? '(none)'}, where docs/openapi.yaml has ${Object.keys(content).join(', ')}`];
  if (body === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body) as unknown;
  } catch {
    return ['a body that is not JSON'];
  }
  const validate = validator(documented.schema);
  return validate(parsed) ? [] : [`the body ${describeErrors(validate.errors)}`];
}

/** Ajv's errors in one line each: where, what, and the value or name at fault. */
function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map(({ instancePath, message, params }) => {
      const detail =
        'additionalProperty' in params
          ? ` (${String(params.additionalProperty)})`
          : 'allowedValues' in params
            ? ` (${JSON.stringify(params.allowedValues)})`
            : 'allowedValue' in params
              ? ` (${JSON.stringify(params.allowedValue)})`
              : '';
      return `${instancePath === '' ? '' : `at ${instancePath} `}${message ?? 'is not valid'}${detail}`;
    })
    .join('; ');
}

function headerValue(headers: ContractResponse['headers'], name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

function candidates(method: string, pathname: string) {
  const upper = method.toUpperCase();
  return contract().operations.filter((operation) => operation.method === upper && operation.pattern.test(pathname));
}

function isApi(value: unknown): value is Api {
  return APIS.some((api) => api === value);
}

function apisOf({ servers }: DocumentedOperation): string {
  return APIS.filter((api) => servers.some((server) => server.api === api))
    .map((api) => API_NAMES[api])
    .join(' and ');
}

/** A `$ref` within the document, followed; anything else as it is. */
function resolve<T>(document: OpenApiDocument, node: T | Ref): T {
  if (typeof node !== 'object' || node === null || !('$ref' in node)) return node;
  let target: unknown = document;
  for (const part of node.$ref.replace(/^#\//, '').split('/'))
    target = (target as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  if (target === undefined) throw new Error(`docs/openapi.yaml: ${node.$ref} leads nowhere`);
  return resolve(document, target as T | Ref);
}

function loadContract(): Contract {
  const document = load(readFileSync(OPENAPI_FILE, 'utf8')) as OpenApiDocument;
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addSchema({ $id: SCHEMAS_ID, $defs: withAbsoluteRefs(document.components.schemas) });
  // Every component compiled now: a schema Ajv refuses fails the first check, whichever response it is.
  for (const name of Object.keys(document.components.schemas)) ajv.getSchema(`${SCHEMAS_ID}#/$defs/${name}`);
  const compiled = new WeakMap<Schema, ValidateFunction>();
  const validator = (schema: Schema) => {
    let validate = compiled.get(schema);
    if (validate === undefined) {
      validate = ajv.compile(withAbsoluteRefs(schema));
      compiled.set(schema, validate);
    }
    return validate;
  };

  const operations: Contract['operations'] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      const where = `docs/openapi.yaml: ${method.toUpperCase()} ${path}`;
      if (operation.operationId === undefined) throw new Error(`${where} has no operationId`);
      const servers = (operation.servers ?? item.servers ?? document.servers).map(({ url, 'x-api': api }) => {
        if (!isApi(api)) throw new Error(`${where}: server ${url} has no x-api (rest or http)`);
        return { url, api };
      });
      const responses = Object.fromEntries(
        Object.entries(operation.responses ?? {}).map(([status, response]) => [status, resolve<Response>(document, response)]),
      );
      for (const [status, { content, headers }] of Object.entries(responses)) {
        for (const [mediaType, { schema }] of Object.entries(content ?? {})) {
          // The checker reads JSON bodies only: any other would go unchecked.
          if (mediaType !== 'application/json') throw new Error(`${where} ${status}: ${mediaType} bodies cannot be checked`);
          // Compiled now, as the components are: a schema Ajv refuses fails the first check, not only an answer that needs it.
          if (schema !== undefined) compile(`${where} ${status}`, () => validator(schema));
        }
        for (const [header, definition] of Object.entries(headers ?? {})) {
          const { schema } = resolve<Header>(document, definition);
          if (schema !== undefined) compile(`${where} ${status}, header ${header}`, () => validator(schema));
        }
      }
      operations.push({
        operationId: operation.operationId,
        method: method.toUpperCase(),
        path,
        servers,
        security: (operation.security ?? []).map((requirement) => Object.keys(requirement)),
        pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^/}]+\}/g, '[^/]+')}$`),
        responses,
      });
    }
  }
  operations.sort((a, b) => Number(a.path.includes('{')) - Number(b.path.includes('{')));
  return { document, operations, validator };
}

/** Runs Ajv's compile, naming where the schema is when Ajv refuses it. */
function compile(where: string, run: () => unknown): void {
  try {
    run();
  } catch (error) {
    throw new Error(`${where}: Ajv refuses the schema: ${(error as Error).message}`, { cause: error });
  }
}

/** A schema whose `#/components/schemas/X` refs point at the registered components, from anywhere. */
function withAbsoluteRefs<T>(node: T): T {
  if (Array.isArray(node)) return node.map(withAbsoluteRefs) as T;
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => {
      if (key !== '$ref') return [key, withAbsoluteRefs(value)];
      const name = SCHEMA_REF.exec(String(value))?.[1];
      if (name === undefined) throw new Error(`docs/openapi.yaml: a schema refers to ${String(value)}, not to #/components/schemas/…`);
      return [key, `${SCHEMAS_ID}#/$defs/${name}`];
    }),
  ) as T;
}
