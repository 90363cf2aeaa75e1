// Checks request bodies. Everything refused here is a 400 that changes nothing.
import { isIP } from 'node:net';
import { depthExceeds, MAX_CLAIMS_DEPTH, subjectProblem, unsafeClaimNames } from '../auth/claims';
import { ValidationError } from '../errors';
import { isId } from '../sessions/keys';
import { RESERVED_CLAIMS, type CustomClaims, type IssueRequest, type SessionMetadata } from '../auth/tokens';

/** Claims travel in every request's Authorization header: keep them small. */
export const MAX_CLAIMS_BYTES = 4 * 1024;
const SIGN_FIELDS = ['sub', 'claims', 'ttl', 'refresh', 'session'];
const SESSION_FIELDS = ['device', 'ip'];
export const MAX_DEVICE_LENGTH = 128;
/** Control characters, and the bidirectional marks and overrides that could make a listing show another device. */
const UNSHOWABLE = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
const EVERY_UNSHOWABLE = new RegExp(UNSHOWABLE.source, 'gu');

export interface SignLimits {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

export function parseSignRequest(body: unknown, limits: SignLimits): IssueRequest {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object');
  refuseUnknownFields(body, SIGN_FIELDS);
  if (body.refresh !== undefined && typeof body.refresh !== 'boolean') throw new ValidationError('refresh must be true or false');
  return {
    sub: parseSubject(body.sub),
    claims: parseClaims(body.claims),
    ttlSeconds: parseTtl(body.ttl, limits),
    refresh: body.refresh === true,
    session: parseSessionMetadata(body.session),
  };
}

/** A field name longer than this is shown cut: no credential of ours is usable from its first 16 characters. */
const MAX_NAME_SHOWN = 16;

function refuseUnknownFields(body: Record<string, unknown>, allowed: readonly string[], where = ''): void {
  const unknownFields = Object.keys(body).filter((field) => !allowed.includes(field));
  if (unknownFields.length > 0) {
    // Named in the answer and the log line, cut short: a client that misplaced a token may have sent it as a name.
    const names = unknownFields.map((field) => JSON.stringify(field.length > MAX_NAME_SHOWN ? `${field.slice(0, MAX_NAME_SHOWN)}…` : field));
    throw new ValidationError(`unknown field(s)${where}: ${names.join(', ')}; allowed: ${allowed.join(', ')}`);
  }
}

/** `{ device?, ip? }`: a label of at most 128 characters without control characters, and an IPv4 or IPv6 address. */
function parseSessionMetadata(session: unknown): SessionMetadata {
  if (session === undefined) return {};
  if (!isPlainObject(session)) throw new ValidationError('session must be a JSON object: { "device"?: string, "ip"?: string }');
  refuseUnknownFields(session, SESSION_FIELDS, ' in session');
  const { device, ip } = session;
  if (device !== undefined) {
    // Shown to the user in their session list: nothing that could rewrite what is around it.
    if (typeof device !== 'string' || device.length === 0 || [...device].length > MAX_DEVICE_LENGTH || UNSHOWABLE.test(device) || !device.isWellFormed()) {
      throw new ValidationError(`session.device must be a string of 1 to ${MAX_DEVICE_LENGTH} characters, without control or bidirectional characters`);
    }
  }
  if (ip !== undefined && !isClientIp(ip)) throw new ValidationError('session.ip must be an IPv4 or IPv6 address');
  return { ...(device === undefined ? {} : { device }), ...(ip === undefined ? {} : { ip }) };
}

/** What session.ip accepts: an IPv4 or IPv6 address. */
export function isClientIp(ip: unknown): ip is string {
  // A zone id (fe80::1%eth0) names an interface of the sender's host, of any length: not a client's address.
  return typeof ip === 'string' && isIP(ip) !== 0 && !ip.includes('%');
}

/**
 * Free text (a User-Agent) made into what session.device accepts: without the characters it refuses, cut to its
 * length; undefined when nothing is left.
 */
export function deviceLabel(text: string): string | undefined {
  const label = [...text.toWellFormed().replace(EVERY_UNSHOWABLE, '').trim()].slice(0, MAX_DEVICE_LENGTH).join('').trimEnd();
  return label === '' ? undefined : label;
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

export type RevokeRequest = { sub: string } | { sid: string } | { jti: string };

/** `{ "sub": … }`, `{ "sid": … }` or `{ "jti": … }`, exactly one of them. */
export function parseRevokeRequest(body: unknown): RevokeRequest {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object');
  const fields = Object.keys(body);
  if (fields.length !== 1 || (fields[0] !== 'sub' && fields[0] !== 'sid' && fields[0] !== 'jti')) {
    throw new ValidationError('request body must be exactly one of { "sub": … }, { "sid": … } or { "jti": … }');
  }
  if ('sub' in body) return { sub: parseSubject(body.sub) };
  if ('sid' in body) {
    if (!isId(body.sid)) throw new ValidationError('sid must be a sid issued by this service');
    return { sid: body.sid };
  }
  if (!isId(body.jti)) throw new ValidationError('jti must be a jti issued by this service');
  return { jti: body.jti };
}

/** `{ "username": … }`, one of `users`: who signs in on the demo page. */
export function parseDemoLoginRequest<User extends string>(body: unknown, users: readonly User[]): User {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object: { "username": … }');
  refuseUnknownFields(body, ['username']);
  const user = users.find((candidate) => candidate === body.username);
  if (user === undefined) throw new ValidationError(`username must be one of ${users.join(', ')}`);
  return user;
}

/** `{ "refreshToken": … }`. Its content is not judged here: any string is a refresh token to refuse or rotate (401). */
export function parseRefreshRequest(body: unknown): { refreshToken: string } {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object: { "refreshToken": … }');
  refuseUnknownFields(body, ['refreshToken']);
  if (typeof body.refreshToken !== 'string' || body.refreshToken === '') throw new ValidationError('refreshToken is required: the refresh token to rotate');
  return { refreshToken: body.refreshToken };
}

export const LOGOUT_SCOPES = ['local', 'others', 'global'] as const;
export type LogoutScope = (typeof LOGOUT_SCOPES)[number];

/** No body, or `{ "scope": "local" | "others" | "global" }`; `local` (this session) by default. */
export function parseLogoutRequest(body: unknown): LogoutScope {
  if (body === undefined) return 'local';
  if (!isPlainObject(body)) throw new ValidationError('request body must be empty or a JSON object: { "scope"?: "local" | "others" | "global" }');
  refuseUnknownFields(body, ['scope']);
  if (body.scope === undefined) return 'local';
  const scope = LOGOUT_SCOPES.find((candidate) => candidate === body.scope);
  if (scope === undefined) throw new ValidationError(`scope must be one of ${LOGOUT_SCOPES.join(', ')}`);
  return scope;
}

/** RFC 7662's request: the token to look at, and a hint of its type, which is read and not needed. */
export interface IntrospectRequest {
  token: string;
}

const INTROSPECT_FIELDS = ['token', 'token_type_hint'];

/** `token` (required) and `token_type_hint` (optional), from form fields or a JSON object. */
export function parseIntrospectRequest(body: unknown): IntrospectRequest {
  if (!isPlainObject(body)) throw new ValidationError('request body must be a JSON object or form fields');
  refuseUnknownFields(body, INTROSPECT_FIELDS);
  if (typeof body.token !== 'string' || body.token === '') throw new ValidationError('token is required: the token to introspect');
  if (body.token_type_hint !== undefined && typeof body.token_type_hint !== 'string') throw new ValidationError('token_type_hint must be a string');
  return { token: body.token };
}
