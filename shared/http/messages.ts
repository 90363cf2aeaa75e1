// Building API Gateway proxy responses and reading what arrives in a request.
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { TokenMalformedError, TokenMissingError, ValidationError } from '../errors';

/** Far above any sign request; a larger body is refused before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;
/** API Gateway caps a header at 10 KiB; a token anywhere near that is not one of ours. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Both at once, spaces and tabs around: one match instead of a trim and two. */
const BEARER_JWS = /^[ \t]*Bearer[ \t]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)[ \t]*$/i;

const BASE_HEADERS = {
  'Content-Type': 'application/json',
  // Responses carry tokens and identities: no cache may keep them.
  'Cache-Control': 'no-store',
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function noContent(): APIGatewayProxyResult {
  return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
}

/**
 * Every `error` code an answer of ours can carry: the frame's, one per error it maps, and the routes' own.
 * docs/openapi.yaml's HandlerErrorCode lists exactly these (test/unit/openapi.test.ts).
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'TOKEN_MISSING',
  'TOKEN_MALFORMED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_REVOKED',
  'REFRESH_TOKEN_INVALID',
  'SESSION_LIMIT_REACHED',
  'SESSION_NOT_FOUND',
  'STORE_UNAVAILABLE',
  'KEYRING_UNAVAILABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export function errorBody(statusCode: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return json(statusCode, { error: code, message }, headers);
}

const JSON_WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * The request body as JSON. Throws ValidationError for a missing, oversized or unparsable body, or one that
 * names a field twice.
 */
export function parseJsonBody(event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>): unknown {
  const text = bodyText(event, 'JSON');
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ValidationError('request body is not valid JSON', { cause });
  }
  const repeated = repeatedTopLevelField(text);
  if (repeated !== undefined) throw new ValidationError(`request body gives the field ${JSON.stringify(repeated)} more than once`);
  return body;
}

/**
 * The first field a JSON object text names twice at its top level, or undefined. JSON.parse keeps the last
 * of them silently, while a proxy or a log reading the first would see another request than the one served.
 * `text` is valid JSON (parsed already), so strings and nesting are all there is to follow.
 */
function repeatedTopLevelField(text: string): string | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
    else if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      let next = end + 1;
      while (next < text.length && JSON_WHITESPACE.has(text[next] as string)) next += 1;
      // A string followed by a colon, directly inside the outermost object, is one of its field names.
      if (depth === 1 && text[next] === ':') {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (seen.has(name)) return name;
        seen.add(name);
      }
      i = end;
    }
  }
  return undefined;
}

/**
 * The request body as form fields (`application/x-www-form-urlencoded`) when the request says so, else as
 * JSON. Throws ValidationError as parseJsonBody does.
 */
export function parseFormOrJsonBody(event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>): unknown {
  const contentType = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) return parseJsonBody(event);
  // No prototype: a field named __proto__ is a field like any other (and refused as unknown).
  const fields = Object.create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(bodyText(event, 'form fields'))) {
    if (Object.hasOwn(fields, name)) throw new ValidationError(`form field ${JSON.stringify(name)} is given more than once`);
    fields[name] = value;
  }
  return fields;
}

function bodyText(event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>, what: string): string {
  if (event.body === null || event.body === undefined || event.body === '') {
    throw new ValidationError(`request body is required (${what})`);
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
    throw new ValidationError(`request body must be at most ${MAX_BODY_BYTES} bytes`);
  }
  return text;
}

/**
 * A path parameter, percent-decoded. API Gateway and serverless-offline differ on whether they decode it;
 * our jtis never contain "%", so decoding when one is present gives the same value either way.
 */
export function pathParameter(event: Pick<APIGatewayProxyEvent, 'pathParameters'>, name: string): string {
  const raw = event.pathParameters?.[name] ?? '';
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch (cause) {
    throw new ValidationError(`path parameter ${name} is not valid percent-encoding`, { cause });
  }
}

/** The token from an `Authorization: Bearer <jwt>` header value (scheme case-insensitive). */
export function parseBearer(header: string | undefined | null): string {
  if (header === undefined || header === null) throw new TokenMissingError('Authorization header is missing');
  if (header.length > MAX_TOKEN_LENGTH + 'Bearer '.length + 2) {
    throw new TokenMalformedError('Authorization header is too long');
  }
  // The header every allowed request carries, in one match; any other spelling goes the long way.
  return BEARER_JWS.exec(header)?.[1] ?? bearerToken(header.trim());
}

function bearerToken(header: string): string {
  if (header === '') throw new TokenMissingError('Authorization header is missing');
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) throw new TokenMalformedError('Authorization header is not "Bearer <token>"');
  if (!COMPACT_JWS.test(token)) throw new TokenMalformedError('bearer token is not a compact JWT');
  return token;
}
