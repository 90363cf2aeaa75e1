// Property-based tests of the sign, revoke, refresh and logout request validators: for any JSON value, either a
// request that keeps every promise (types, sizes, no reserved or unsafe claim names) or a ValidationError (a 400
// that changes nothing). Never another error, never a change to Object.prototype.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { MAX_SUBJECT_LENGTH } from '../../shared/auth/claims';
import { ValidationError } from '../../shared/errors';
import { parseJsonBody } from '../../shared/http/messages';
import { isId, newId, subjectTag } from '../../shared/sessions/keys';
import { RESERVED_CLAIMS } from '../../shared/auth/tokens';
import { MAX_CLAIMS_BYTES, parseLogoutRequest, parseRefreshRequest, parseRevokeRequest, parseSignRequest } from '../../shared/http/validation';
import { anyString, hostileJsonText, hostileKey, nested, prototypeKeys } from '../../testkit/arbitraries';

const limits = { defaultTtlSeconds: 900, maxTtlSeconds: 3600 };
/** Claims deeper than this (the claims object itself is level 1) are refused, README's "at most 32 levels". */
const MAX_CLAIMS_DEPTH = 32;

let inputsTried = 0;
const runs = (numRuns: number) => {
  inputsTried += numRuns;
  return { numRuns };
};
afterAll(() => console.log(`validation properties: ${inputsTried} inputs tried`));

/** Session metadata as JSON text: mostly the right shape, with devices and addresses on both sides of the rules. */
const sessionText = fc.oneof(
  fc
    .record(
      {
        device: fc.oneof(
          fc.string({ minLength: 1, maxLength: 20 }),
          anyString(20),
          fc.constantFrom(
            '',
            'Zoë’s 📱',
            'a\u0000b',
            'tab\there',
            'del\u007f',
            'c1\u0085',
            'bidi\u202Eexe.txt',
            '\u2066isolated\u2069',
            'mark\u200F',
            'x'.repeat(128),
            'x'.repeat(129),
            '📱'.repeat(128),
            '📱'.repeat(129),
          ),
          fc.constantFrom<unknown>(42, null, true, ['phone'], {}),
        ),
        ip: fc.oneof(
          fc.ipV4(),
          fc.ipV6(),
          fc.constantFrom<unknown>('', ' 203.0.113.7', '203.0.113.256', '::1', '::ffff:192.0.2.1', 'fe80::1%eth0', '2001:db8::g', 'localhost', 7, null),
        ),
        extra: fc.tuple(hostileKey, hostileJsonText),
      },
      { requiredKeys: [] },
    )
    .map(({ extra, ...fields }) => {
      const text = JSON.stringify(fields);
      return extra === undefined ? text : `${text.slice(0, -1)}${text === '{}' ? '' : ','}${JSON.stringify(extra[0])}:${extra[1]}}`;
    }),
  hostileJsonText,
);

/** JSON text of a sign body: mostly the right shape, with hostile values and keys in every slot. */
const signBodyText = fc
  .tuple(
    fc.option(
      fc.oneof(
        anyString(40).map((sub) => JSON.stringify(sub)),
        fc.constantFrom('""', '" "', '"\\t"', '42', 'null', '["a"]', '{}'),
        fc.integer({ min: 250, max: 300 }).map((length) => JSON.stringify('s'.repeat(length))),
      ),
    ),
    fc.option(
      fc.oneof(
        hostileJsonText,
        fc
          .array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 6 })
          .map((pairs) => `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`),
      ),
    ),
    fc.option(fc.oneof(fc.constantFrom('0', '1', '3600', '3601', '-1', '1.5', '1e3', '"60"', 'null', '1e309', '3600.0'), fc.integer().map(String))),
    fc.option(fc.constantFrom('true', 'false', 'null', '1', '0', '"true"', '[]', '{}')),
    fc.option(sessionText),
    fc.array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 2 }),
  )
  .map(([sub, claims, ttl, refresh, session, extra]) => {
    const pairs: string[] = [];
    if (sub !== null) pairs.push(`"sub":${sub}`);
    if (claims !== null) pairs.push(`"claims":${claims}`);
    if (ttl !== null) pairs.push(`"ttl":${ttl}`);
    if (refresh !== null) pairs.push(`"refresh":${refresh}`);
    if (session !== null) pairs.push(`"session":${session}`);
    for (const [key, value] of extra) pairs.push(`${JSON.stringify(key)}:${value}`);
    return `{${pairs.join(',')}}`;
  });

const anyBodyValue = fc.oneof(
  signBodyText.map((text) => JSON.parse(text) as unknown),
  hostileJsonText.map((text) => JSON.parse(text) as unknown),
  fc.jsonValue(),
  fc.anything(),
);

/** Bodies of the right shape with ordinary values, most of them valid: the accepting branch needs them too. */
const plausibleSignBody = fc.record(
  {
    sub: fc.oneof(
      fc.string({ minLength: 1, maxLength: 40 }),
      anyString(40),
      fc.string({ minLength: MAX_SUBJECT_LENGTH - 2, maxLength: MAX_SUBJECT_LENGTH + 2 }),
    ),
    // `sid` as well: the claim every access token carries for its session, which a caller may not set.
    claims: fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), hostileKey, fc.constant('sid')), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    ttl: fc.oneof(fc.integer({ min: 1, max: limits.maxTtlSeconds }), fc.constantFrom(0, 1, limits.maxTtlSeconds, limits.maxTtlSeconds + 1, 1.5, '60')),
    refresh: fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom<unknown>('true', 1, null) }),
    session: fc.oneof(
      { weight: 4, arbitrary: fc.record({ device: fc.string({ minLength: 1, maxLength: 30 }), ip: fc.oneof(fc.ipV4(), fc.ipV6()) }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: sessionText.map((text) => JSON.parse(text) as unknown) },
    ),
  },
  { requiredKeys: [] },
);

function attempt<T>(parse: () => T): { value: T } | { error: unknown } {
  try {
    return { value: parse() };
  } catch (error) {
    return { error };
  }
}

// The rules a request must keep, written again here from what the validators promise (and the messages they
// answer with), without calling them: each property compares both outcomes with this model, so a validator
// that accepts everything, refuses everything or answers with the wrong reason fails.
const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Every name an object inherits (toString, __proto__, constructor…), and `prototype`. */
const INHERITED_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** How many objects or arrays deep `value` goes: 0 for a primitive, 1 for `{}`. */
function objectDepth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...Object.values(value).map(objectDepth));
}

function expectedSubjectRefusal(sub: unknown): string | undefined {
  if (typeof sub !== 'string' || sub.trim() === '') return 'sub must be a non-empty string';
  if (sub.length > MAX_SUBJECT_LENGTH) return `sub must be at most ${MAX_SUBJECT_LENGTH} characters`;
  if (LONE_SURROGATE.test(sub)) return 'sub must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/** How a refusal names a field: in JSON, cut after 16 characters. */
const shownName = (field: string) => JSON.stringify(field.length > 16 ? `${field.slice(0, 16)}…` : field);

const unknownFieldsRefusal = (body: Record<string, unknown>, allowed: string[], where = '') => {
  const unknownFields = Object.keys(body).filter((field) => !allowed.includes(field));
  return unknownFields.length === 0 ? undefined : `unknown field(s)${where}: ${unknownFields.map(shownName).join(', ')}; allowed: ${allowed.join(', ')}`;
};

/** Bidirectional marks, embeddings, overrides and isolates. */
const BIDI_MARKS = new Set(['\u061C', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069']);

/** The message a sign body's `session` must be refused with, or undefined. */
function expectedSessionRefusal(session: unknown): string | undefined {
  if (session === undefined) return undefined;
  if (!isJsonObject(session)) return 'session must be a JSON object: { "device"?: string, "ip"?: string }';
  const unknown = unknownFieldsRefusal(session, ['device', 'ip'], ' in session');
  if (unknown !== undefined) return unknown;
  const { device, ip } = session;
  // Code points, not UTF-16 units: an emoji is one character.
  const deviceRight =
    typeof device === 'string' &&
    device !== '' &&
    Array.from(device).length <= 128 &&
    !Array.from(device).some((char) => char.charCodeAt(0) < 0x20 || (char.charCodeAt(0) >= 0x7f && char.charCodeAt(0) <= 0x9f) || BIDI_MARKS.has(char)) &&
    !LONE_SURROGATE.test(device);
  if (device !== undefined && !deviceRight) return 'session.device must be a string of 1 to 128 characters, without control or bidirectional characters';
  if (ip !== undefined && !(typeof ip === 'string' && isIP(ip) !== 0 && !ip.includes('%'))) return 'session.ip must be an IPv4 or IPv6 address';
  return undefined;
}

/** The message parseSignRequest must refuse `body` with (its first broken rule), or undefined if it must accept it. */
function expectedSignRefusal(body: unknown): string | undefined {
  if (!isJsonObject(body)) return 'request body must be a JSON object';
  const unknown = unknownFieldsRefusal(body, ['sub', 'claims', 'ttl', 'refresh', 'session']);
  if (unknown !== undefined) return unknown;
  if (body.refresh !== undefined && typeof body.refresh !== 'boolean') return 'refresh must be true or false';
  const subject = expectedSubjectRefusal(body.sub);
  if (subject !== undefined) return subject;
  const { claims, ttl } = body;
  if (claims !== undefined) {
    if (!isJsonObject(claims)) return 'claims must be a JSON object';
    const reserved = Object.keys(claims).filter((name) => ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sid'].includes(name));
    if (reserved.length > 0) return `claims may not set reserved claim(s): ${reserved.join(', ')}`;
    const unsafe = Object.keys(claims).filter((name) => INHERITED_NAMES.has(name));
    if (unsafe.length > 0) return `claims may not use the name(s): ${unsafe.join(', ')}`;
    if (objectDepth(claims) > MAX_CLAIMS_DEPTH) return `claims may nest at most ${MAX_CLAIMS_DEPTH} levels deep`;
    if (Buffer.byteLength(JSON.stringify(claims), 'utf8') > MAX_CLAIMS_BYTES) return `claims must be at most ${MAX_CLAIMS_BYTES} bytes as JSON`;
  }
  if (ttl !== undefined && !(typeof ttl === 'number' && Number.isInteger(ttl) && ttl >= 1 && ttl <= limits.maxTtlSeconds)) {
    return `ttl must be an integer number of seconds from 1 to ${limits.maxTtlSeconds}`;
  }
  return expectedSessionRefusal(body.session);
}

/** The message parseRevokeRequest must refuse `body` with, or undefined if it must accept it. */
function expectedRevokeRefusal(body: unknown): string | undefined {
  if (!isJsonObject(body)) return 'request body must be a JSON object';
  const fields = Object.keys(body);
  if (fields.length !== 1 || !['sub', 'sid', 'jti'].includes(fields[0] as string)) {
    return 'request body must be exactly one of { "sub": … }, { "sid": … } or { "jti": … }';
  }
  if (fields[0] === 'sub') return expectedSubjectRefusal(body.sub);
  const id = body[fields[0] as string];
  return isId(id) ? undefined : `${fields[0]} must be a ${fields[0]} issued by this service`;
}

/** The message parseRefreshRequest must refuse `body` with, or undefined: any non-empty string is a refresh token to judge later. */
function expectedRefreshRefusal(body: unknown): string | undefined {
  if (!isJsonObject(body)) return 'request body must be a JSON object: { "refreshToken": … }';
  const unknown = unknownFieldsRefusal(body, ['refreshToken']);
  if (unknown !== undefined) return unknown;
  return typeof body.refreshToken === 'string' && body.refreshToken !== '' ? undefined : 'refreshToken is required: the refresh token to rotate';
}

/** The scope parseLogoutRequest must answer for `body` (undefined: no body), or its refusal. */
function expectedLogout(body: unknown): { scope: string } | { refusal: string } {
  if (body === undefined) return { scope: 'local' };
  if (!isJsonObject(body)) return { refusal: 'request body must be empty or a JSON object: { "scope"?: "local" | "others" | "global" }' };
  const unknown = unknownFieldsRefusal(body, ['scope']);
  if (unknown !== undefined) return { refusal: unknown };
  if (body.scope === undefined) return { scope: 'local' };
  return ['local', 'others', 'global'].includes(body.scope as string)
    ? { scope: body.scope as string }
    : { refusal: 'scope must be one of local, others, global' };
}

/** Asserts a refusal is a ValidationError with exactly the expected message (and not, say, a TypeError). */
function expectRefusedWith(error: unknown, message: string): void {
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as Error).message).toBe(message);
}

/**
 * Holds a parse's outcome to the model: refused with exactly the model's `refusal`, or accepted where the model
 * refuses nothing. True when accepted.
 */
function acceptedAsModelled<T>(outcome: { value: T } | { error: unknown }, refusal: string | undefined): outcome is { value: T } {
  if ('error' in outcome) {
    // toEqual: an unexpected refusal fails with the message the validator gave.
    expect({ refused: (outcome.error as Error).message }).toEqual({ refused: refusal });
    expectRefusedWith(outcome.error, refusal as string);
    return false;
  }
  expect({ accepted: true, refusal }).toEqual({ accepted: true, refusal: undefined });
  return true;
}

describe('Function: parseSignRequest, for any JSON value', () => {
  it('returns a request that keeps every promise when the body keeps the rules, and a ValidationError naming the first broken rule otherwise', () => {
    const seen = { accepted: 0, refused: 0, refresh: 0, session: 0 };
    fc.assert(
      fc.property(fc.oneof(anyBodyValue, plausibleSignBody), (body) => {
        const before = prototypeKeys();
        const outcome = attempt(() => parseSignRequest(body, limits));
        expect(prototypeKeys()).toEqual(before);
        expect(({} as Record<string, unknown>).admin).toBeUndefined();
        const refusal = expectedSignRefusal(body);
        if (!acceptedAsModelled(outcome, refusal)) {
          seen.refused += 1;
          return;
        }
        seen.accepted += 1;
        const { sub, claims, ttlSeconds, refresh, session } = outcome.value;
        const input = body as Record<string, unknown>;
        expect(Object.keys(outcome.value).sort()).toEqual(['claims', 'refresh', 'session', 'sub', 'ttlSeconds']);
        // A refresh token only when asked for with true; the session's metadata exactly as given, nothing else.
        expect(refresh).toBe(input.refresh === true);
        expect(session).toEqual(input.session ?? {});
        expect(Object.keys(session ?? {}).every((name) => name === 'device' || name === 'ip')).toBe(true);
        if (refresh === true) seen.refresh += 1;
        if (Object.keys(session ?? {}).length > 0) seen.session += 1;
        expect(typeof sub === 'string' && sub.trim() !== '' && sub.length <= MAX_SUBJECT_LENGTH && !LONE_SURROGATE.test(sub)).toBe(true);
        expect(sub).toBe(input.sub);
        expect(ttlSeconds).toBe(input.ttl ?? limits.defaultTtlSeconds);
        expect(Number.isInteger(ttlSeconds) && ttlSeconds >= 1 && ttlSeconds <= limits.maxTtlSeconds).toBe(true);
        expect(Object.getPrototypeOf(claims)).toBe(Object.prototype);
        for (const name of Object.keys(claims)) {
          expect(RESERVED_CLAIMS.has(name) || INHERITED_NAMES.has(name)).toBe(false);
        }
        expect(objectDepth(claims)).toBeLessThanOrEqual(MAX_CLAIMS_DEPTH);
        expect(Buffer.byteLength(JSON.stringify(claims), 'utf8')).toBeLessThanOrEqual(MAX_CLAIMS_BYTES);
        expect(JSON.stringify(claims)).toBe(JSON.stringify(input.claims ?? {}));
      }),
      runs(3000),
    );
    // Both branches ran often enough to mean something: the generators make valid bodies, not only refusals.
    expect(seen.accepted).toBeGreaterThan(150);
    expect(seen.refused).toBeGreaterThan(150);
    expect(seen.refresh).toBeGreaterThan(30);
    expect(seen.session).toBeGreaterThan(30);
  });

  it('refuses "__proto__", "constructor" and "prototype" as claim names and as fields, wherever the text puts them', () => {
    fc.assert(
      fc.property(fc.constantFrom('__proto__', 'constructor', 'prototype'), hostileJsonText, fc.boolean(), (key, value, asField) => {
        const text = asField ? `{"sub":"u",${JSON.stringify(key)}:${value}}` : `{"sub":"u","claims":{"role":"user",${JSON.stringify(key)}:${value}}}`;
        const outcome = attempt(() => parseSignRequest(parseJsonBody({ body: text, isBase64Encoded: false }), limits));
        expect('error' in outcome).toBe(true);
        if ('error' in outcome) {
          expectRefusedWith(
            outcome.error,
            asField ? `unknown field(s): ${shownName(key)}; allowed: sub, claims, ttl, refresh, session` : `claims may not use the name(s): ${key}`,
          );
        }
        expect(({} as Record<string, unknown>).admin).toBeUndefined();
      }),
      runs(300),
    );
  });

  it('accepts such keys deeper inside a claim as plain data, without touching any prototype', () => {
    const request = parseSignRequest(parseJsonBody({ body: '{"sub":"u","claims":{"profile":{"__proto__":{"admin":true}}}}', isBase64Encoded: false }), limits);
    const profile = request.claims.profile as Record<string, unknown>;
    expect(Object.keys(profile)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(profile)).toBe(Object.prototype);
    expect((profile as { admin?: unknown }).admin).toBeUndefined();
  });

  it('answers claims nested up to 1,000 deep with a request within 32 levels, and a 400 past them', () => {
    const seen = { accepted: 0, refused: 0 };
    // Around the limit as often as anywhere else up to 1,000.
    const depths = fc.oneof(
      fc.constantFrom(MAX_CLAIMS_DEPTH - 2, MAX_CLAIMS_DEPTH - 1, MAX_CLAIMS_DEPTH),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 1000 }),
    );
    fc.assert(
      fc.property(depths, fc.constantFrom<'array' | 'object'>('array', 'object'), (depth, kind) => {
        const body = JSON.parse(`{"sub":"u","claims":{"deep":${nested(depth, kind)}}}`) as { claims: Record<string, unknown> };
        const outcome = attempt(() => parseSignRequest(body, limits));
        // The claims object is level 1, so `deep` may hold 31 levels.
        const refusal = depth + 1 > MAX_CLAIMS_DEPTH ? `claims may nest at most ${MAX_CLAIMS_DEPTH} levels deep` : undefined;
        expect(refusal).toBe(expectedSignRefusal(body));
        if (refusal === undefined) {
          seen.accepted += 1;
          expect(outcome).toEqual({ value: { sub: 'u', claims: body.claims, ttlSeconds: limits.defaultTtlSeconds, refresh: false, session: {} } });
        } else {
          seen.refused += 1;
          expect('error' in outcome && outcome.error).toBeInstanceOf(ValidationError);
          if ('error' in outcome) expectRefusedWith(outcome.error, refusal);
        }
      }),
      runs(100),
    );
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });

  // JSON.stringify (the size check) overflows the stack on claims nested a few thousand deep, which still fit
  // in a 16 KiB body: the depth is checked first, without recursion.
  test('answers claims nested deeper than JSON.stringify can go (still under 16 KiB) with a 400, not a RangeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5000, max: 8000 }), (depth) => {
        const body = parseJsonBody({ body: `{"sub":"u","claims":{"deep":${nested(depth, 'array')}}}`, isBase64Encoded: false });
        const outcome = attempt(() => parseSignRequest(body, limits));
        expect('error' in outcome && outcome.error).toBeInstanceOf(ValidationError);
        if ('error' in outcome) expectRefusedWith(outcome.error, `claims may nest at most ${MAX_CLAIMS_DEPTH} levels deep`);
      }),
      { numRuns: 5 },
    );
  });

  test('takes session metadata exactly when its device and ip keep the rules: no control or bidirectional characters, no zone id', () => {
    const devices = fc.oneof(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc
        .tuple(
          fc.string({ maxLength: 6 }),
          fc.constantFrom('\u0000', '\u001f', '\u007f', '\u0085', '\u061c', '\u200e', '\u200f', '\u202a', '\u202e', '\u2066', '\u2069', '\u2028', '\u00a0'),
          fc.string({ maxLength: 6 }),
        )
        .map(([head, char, tail]) => `${head}${char}${tail}`),
    );
    const ips = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.ipV6().map((ip) => `${ip}%eth0`),
      fc.constantFrom('fe80::1%1', '203.0.113.7%en0', '203.0.113.256', '::ffff:192.0.2.1', '1.2.3', 'localhost'),
    );
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.record({ device: devices, ip: ips }, { requiredKeys: [] }), (session) => {
        const outcome = attempt(() => parseSignRequest({ sub: 'u', session }, limits));
        const refusal = expectedSessionRefusal(session);
        if (refusal === undefined) {
          seen.accepted += 1;
          expect(outcome).toEqual({ value: { sub: 'u', claims: {}, ttlSeconds: limits.defaultTtlSeconds, refresh: false, session } });
        } else {
          seen.refused += 1;
          expectRefusedWith((outcome as { error: unknown }).error, refusal);
        }
      }),
      runs(1000),
    );
    expect(seen.accepted).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(100);
  });

  test('counts session.device in characters, not UTF-16 units: 128 emoji are accepted, 129 refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 120, max: 136 }), fc.constantFrom('📱', '𝒵', 'é', 'x'), (length, char) => {
        const device = char.repeat(length);
        const outcome = attempt(() => parseSignRequest({ sub: 'u', session: { device } }, limits));
        if (length <= 128)
          expect(outcome).toEqual({ value: { sub: 'u', claims: {}, ttlSeconds: limits.defaultTtlSeconds, refresh: false, session: { device } } });
        else
          expectRefusedWith(
            (outcome as { error: unknown }).error,
            'session.device must be a string of 1 to 128 characters, without control or bidirectional characters',
          );
      }),
      { numRuns: 100 },
    );
  });

  // subjectTag hashes a subject's UTF-8, where every lone surrogate becomes U+FFFD: "a\uD800" and "a\uFFFD"
  // would share a session index, so a subject must be well-formed Unicode.
  test('never accepts two different subjects that share a session index: the one with a lone surrogate is refused', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 8 }), (head, surrogate, tail) => {
        // fc.string gives printable ASCII, so the surrogate stays alone and the U+FFFD subject is well-formed.
        const illFormed = `${head}${String.fromCharCode(surrogate)}${tail}`;
        const wellFormed = `${head}\ufffd${tail}`;
        expect(subjectTag(illFormed)).toBe(subjectTag(wellFormed));
        expect(attempt(() => parseSignRequest({ sub: wellFormed }, limits))).toEqual({
          value: { sub: wellFormed, claims: {}, ttlSeconds: limits.defaultTtlSeconds, refresh: false, session: {} },
        });
        const refused = attempt(() => parseSignRequest({ sub: illFormed }, limits));
        expect('error' in refused && refused.error).toBeInstanceOf(ValidationError);
        if ('error' in refused) expectRefusedWith(refused.error, 'sub must be well-formed Unicode (no lone surrogates)');
      }),
      { numRuns: 50 },
    );
  });
});

describe('Function: parseRevokeRequest, for any JSON value', () => {
  it('returns exactly the { sub }, { sid } or { jti } asked for when it is one, and a ValidationError naming the problem otherwise', () => {
    /** Real jtis and sids (one shape), and near misses of them. */
    const ids = fc.string({ minLength: 1, maxLength: 12 }).chain((sub) =>
      fc.oneof(
        fc.constant(newId(sub)),
        fc
          .constantFrom(
            (id: string) => id.slice(0, -1),
            (id: string) => `${id}A`,
            (id: string) => id.replace('}', ']'),
            (id: string) => ` ${id}`,
            (id: string) => `${id.slice(0, -1)}=`,
          )
          .map((spoil) => spoil(newId(sub))),
      ),
    );
    const bodies = fc.oneof(
      anyBodyValue,
      fc
        .tuple(fc.constantFrom('sub', 'sid', 'jti'), fc.oneof(anyString(40), fc.jsonValue()))
        .map(([field, value]) => JSON.parse(`{${JSON.stringify(field)}:${JSON.stringify(value) ?? 'null'}}`) as unknown),
      fc.tuple(fc.constantFrom('sid', 'jti'), ids).map(([field, id]) => ({ [field]: id })),
      fc
        .tuple(fc.constantFrom('sid', 'jti'), ids, fc.constantFrom('sub', 'sid', 'jti'), fc.string({ minLength: 1, maxLength: 8 }))
        .map(([field, id, second, value]) => (field === second ? { [field]: id } : { [field]: id, [second]: value })),
    );
    const seen = { sub: 0, sid: 0, jti: 0, refused: 0 };
    fc.assert(
      fc.property(bodies, (body) => {
        const outcome = attempt(() => parseRevokeRequest(body));
        const refusal = expectedRevokeRefusal(body);
        if (!acceptedAsModelled(outcome, refusal)) {
          seen.refused += 1;
          return;
        }
        const request = outcome.value;
        expect(request).toEqual(body);
        expect(Object.keys(request)).toHaveLength(1);
        if ('sub' in request) {
          seen.sub += 1;
          expect(typeof request.sub === 'string' && request.sub.trim() !== '').toBe(true);
        } else if ('sid' in request) {
          seen.sid += 1;
          expect(isId(request.sid)).toBe(true);
        } else {
          seen.jti += 1;
          expect(isId(request.jti)).toBe(true);
        }
      }),
      runs(2000),
    );
    expect(seen.sub).toBeGreaterThan(50);
    expect(seen.sid).toBeGreaterThan(50);
    expect(seen.jti).toBeGreaterThan(50);
    expect(seen.refused).toBeGreaterThan(50);
  });
});

/** Refresh bodies: the right shape with any value, any token-like text, extra fields, and any JSON at all. */
const refreshBodies = fc.oneof(
  anyBodyValue,
  fc.oneof(anyString(120), fc.constantFrom('', 'x'), fc.jsonValue(), fc.constantFrom<unknown>(null, 0, true, [], {})).map((refreshToken) => ({ refreshToken })),
  fc
    .tuple(anyString(120), hostileKey, hostileJsonText)
    .map(([refreshToken, key, value]) => JSON.parse(`{"refreshToken":${JSON.stringify(refreshToken)},${JSON.stringify(key)}:${value}}`) as unknown),
);

describe('Function: parseRefreshRequest, for any JSON value', () => {
  it('returns exactly { refreshToken } for any non-empty string in an object of that one field, and a ValidationError naming the problem otherwise', () => {
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(refreshBodies, (body) => {
        const before = prototypeKeys();
        const outcome = attempt(() => parseRefreshRequest(body));
        expect(prototypeKeys()).toEqual(before);
        const refusal = expectedRefreshRefusal(body);
        if (!acceptedAsModelled(outcome, refusal)) {
          seen.refused += 1;
          return;
        }
        seen.accepted += 1;
        // The very string given, whatever it holds: judging it is the rotation's job, with one 401 for all.
        expect(outcome.value).toEqual({ refreshToken: (body as { refreshToken: string }).refreshToken });
        expect(Object.keys(outcome.value)).toEqual(['refreshToken']);
      }),
      runs(2000),
    );
    expect(seen.accepted).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(100);
  });
});

describe('Function: parseLogoutRequest, for no body or any JSON value', () => {
  it('returns the scope asked for, local when none is, and a ValidationError naming the problem otherwise', () => {
    const scopes = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom<unknown>('local', 'others', 'global', undefined) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<unknown>('LOCAL', 'Global', ' local', 'local ', 'all', 'other', 'everywhere', '', null, 0, true, ['global'], {
          scope: 'global',
        }),
      },
      { weight: 1, arbitrary: anyString(10) },
    );
    const bodies = fc.oneof(
      fc.constant(undefined),
      anyBodyValue,
      { weight: 2, arbitrary: scopes.map((scope) => (scope === undefined ? {} : { scope })) },
      fc
        .tuple(scopes, hostileKey, hostileJsonText)
        .map(([scope, key, value]) => JSON.parse(`{"scope":${JSON.stringify(scope) ?? 'null'},${JSON.stringify(key)}:${value}}`) as unknown),
    );
    const seen: Record<string, number> = { local: 0, others: 0, global: 0, refused: 0 };
    fc.assert(
      fc.property(bodies, (body) => {
        const before = prototypeKeys();
        const outcome = attempt(() => parseLogoutRequest(body));
        expect(prototypeKeys()).toEqual(before);
        const expected = expectedLogout(body);
        if ('error' in outcome) {
          seen.refused = (seen.refused ?? 0) + 1;
          expect({ refusal: (outcome.error as Error).message }).toEqual(expected);
          expectRefusedWith(outcome.error, (expected as { refusal: string }).refusal);
          return;
        }
        seen[outcome.value] = (seen[outcome.value] ?? 0) + 1;
        expect({ scope: outcome.value }).toEqual(expected);
      }),
      runs(2000),
    );
    for (const outcome of ['local', 'others', 'global', 'refused']) expect({ outcome, seen: (seen[outcome] ?? 0) > 50 }).toEqual({ outcome, seen: true });
  });
});
