// Checks the sign request body. Everything refused here is a 400 that changes nothing.
import { depthExceeds, MAX_CLAIMS_DEPTH, subjectProblem, unsafeClaimNames } from '../auth/claims';
import { ValidationError } from '../errors';
import { isJti } from '../sessions/store';
import { RESERVED_CLAIMS, type CustomClaims, type IssueRequest } from '../auth/tokens';

/** Claims travel in every request's Authorization header: keep them small. */
export const MAX_CLAIMS_BYTES = 4 * 1024;
const ALLOWED_FIELDS = new Set(['sub', 'claims', 'ttl']);

export interface SignLimits {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

export function parseSignRequest(body: unknown, limits: SignLimits): IssueRequest {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object');
  const unknownFields = Object.keys(body).filter((field) => !ALLOWED_FIELDS.has(field));
  if (unknownFields.length > 0) {
    throw new ValidationError(`unknown field(s): ${unknownFields.map((field) => JSON.stringify(field)).join(', ')}; allowed: sub, claims, ttl`);
  }
  return {
    sub: parseSubject(body.sub),
    claims: parseClaims(body.claims),
    ttlSeconds: parseTtl(body.ttl, limits),
  };
}

function parseSubject(sub: unknown): string {
  const problem = subjectProblem(sub);
  if (problem !== undefined) throw new ValidationError(problem);
  return sub as string;
}

function parseClaims(claims: unknown): CustomClaims {
  if (claims === undefined) return {};
  if (!isPlainObject(claims)) throw new ValidationError('claims must be a JSON object');
  const names = Object.keys(claims);
  const reserved = names.filter((name) => RESERVED_CLAIMS.has(name));
  if (reserved.length > 0) {
    throw new ValidationError(`claims may not set reserved claim(s): ${reserved.join(', ')}`);
  }
  const unsafe = unsafeClaimNames(names);
  if (unsafe.length > 0) throw new ValidationError(`claims may not use the name(s): ${unsafe.join(', ')}`);
  if (depthExceeds(claims, MAX_CLAIMS_DEPTH)) throw new ValidationError(`claims may nest at most ${MAX_CLAIMS_DEPTH} levels deep`);
  if (Buffer.byteLength(JSON.stringify(claims), 'utf8') > MAX_CLAIMS_BYTES) {
    throw new ValidationError(`claims must be at most ${MAX_CLAIMS_BYTES} bytes as JSON`);
  }
  return { ...claims };
}

function parseTtl(ttl: unknown, limits: SignLimits): number {
  if (ttl === undefined) return limits.defaultTtlSeconds;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > limits.maxTtlSeconds) {
    throw new ValidationError(`ttl must be an integer number of seconds from 1 to ${limits.maxTtlSeconds}`);
  }
  return ttl;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type RevokeRequest = { sub: string } | { jti: string };

/** `{ "sub": … }` or `{ "jti": … }`, exactly one of them. */
export function parseRevokeRequest(body: unknown): RevokeRequest {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object');
  const fields = Object.keys(body);
  if (fields.length !== 1 || (fields[0] !== 'sub' && fields[0] !== 'jti')) {
    throw new ValidationError('request body must be exactly one of { "sub": … } or { "jti": … }');
  }
  if ('sub' in body) return { sub: parseSubject(body.sub) };
  if (!isJti(body.jti)) throw new ValidationError('jti must be a jti issued by this service');
  return { jti: body.jti };
}

/** RFC 7662's request: the token to look at, and a hint of its type, which is read and not needed. */
export interface IntrospectRequest {
  token: string;
}

const INTROSPECT_FIELDS = new Set(['token', 'token_type_hint']);

/** `token` (required) and `token_type_hint` (optional), from form fields or a JSON object. */
export function parseIntrospectRequest(body: unknown): IntrospectRequest {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object or form fields');
  const unknownFields = Object.keys(body).filter((field) => !INTROSPECT_FIELDS.has(field));
  if (unknownFields.length > 0) {
    throw new ValidationError(`unknown field(s): ${unknownFields.map((field) => JSON.stringify(field)).join(', ')}; allowed: token, token_type_hint`);
  }
  if (typeof body.token !== 'string' || body.token === '') throw new ValidationError('token is required: the token to introspect');
  if (body.token_type_hint !== undefined && typeof body.token_type_hint !== 'string') throw new ValidationError('token_type_hint must be a string');
  return { token: body.token };
}
