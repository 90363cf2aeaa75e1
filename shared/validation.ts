// Checks the sign request body. Everything refused here is a 400 that changes nothing.
import { ValidationError } from './errors';
import { isJti } from './sessions';
import { RESERVED_CLAIMS, type CustomClaims, type IssueRequest } from './tokens';

export const MAX_SUBJECT_LENGTH = 256;
/** Claims travel in every request's Authorization header: keep them small. */
export const MAX_CLAIMS_BYTES = 4 * 1024;
/** Deeper claims are refused before anything walks them recursively (JSON.stringify would overflow). */
export const MAX_CLAIMS_DEPTH = 32;
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
  if (typeof sub !== 'string' || sub.trim() === '') throw new ValidationError('sub must be a non-empty string');
  if (sub.length > MAX_SUBJECT_LENGTH) throw new ValidationError(`sub must be at most ${MAX_SUBJECT_LENGTH} characters`);
  // A lone surrogate becomes U+FFFD in UTF-8, so two such subjects would hash to one session index.
  if (!sub.isWellFormed()) throw new ValidationError('sub must be well-formed Unicode (no lone surrogates)');
  return sub;
}

function parseClaims(claims: unknown): CustomClaims {
  if (claims === undefined) return {};
  if (!isPlainObject(claims)) throw new ValidationError('claims must be a JSON object');
  const names = Object.keys(claims);
  const reserved = names.filter((name) => RESERVED_CLAIMS.has(name));
  if (reserved.length > 0) {
    throw new ValidationError(`claims may not set reserved claim(s): ${reserved.join(', ')}`);
  }
  // Names that mean something to every JavaScript object (__proto__, constructor, toString…): jsonwebtoken
  // looks claim names up in a plain object and breaks on them, and they invite prototype pollution.
  const unsafe = names.filter((name) => name === 'prototype' || Object.prototype.hasOwnProperty.call(Object.prototype, name));
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

/** Whether a parsed JSON value nests deeper than `limit`; iterative, so no depth can overflow the stack. */
function depthExceeds(value: unknown, limit: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    if (next.depth > limit) return true;
    for (const child of Object.values(next.value)) pending.push({ value: child, depth: next.depth + 1 });
  }
  return false;
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
