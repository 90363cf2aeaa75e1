// Property-based tests of the sign and revoke request validators: for any JSON value, either a request that
// keeps every promise (types, sizes, no reserved or unsafe claim names) or a ValidationError (a 400 that
// changes nothing). Never another error, never a change to Object.prototype.
import fc from 'fast-check';
import { MAX_SUBJECT_LENGTH } from '../../shared/auth/claims';
import { ValidationError } from '../../shared/errors';
import { parseJsonBody } from '../../shared/http/messages';
import { isJti, newJti, subjectTag } from '../../shared/sessions/store';
import { RESERVED_CLAIMS } from '../../shared/auth/tokens';
import { MAX_CLAIMS_BYTES, parseRevokeRequest, parseSignRequest } from '../../shared/http/validation';
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
    fc.array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 2 }),
  )
  .map(([sub, claims, ttl, extra]) => {
    const pairs: string[] = [];
    if (sub !== null) pairs.push(`"sub":${sub}`);
    if (claims !== null) pairs.push(`"claims":${claims}`);
    if (ttl !== null) pairs.push(`"ttl":${ttl}`);
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
    claims: fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), hostileKey), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    ttl: fc.oneof(fc.integer({ min: 1, max: limits.maxTtlSeconds }), fc.constantFrom(0, 1, limits.maxTtlSeconds, limits.maxTtlSeconds + 1, 1.5, '60')),
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

/** The message parseSignRequest must refuse `body` with (its first broken rule), or undefined if it must accept it. */
function expectedSignRefusal(body: unknown): string | undefined {
  if (!isJsonObject(body)) return 'request body must be a JSON object';
  const unknownFields = Object.keys(body).filter((field) => !['sub', 'claims', 'ttl'].includes(field));
  if (unknownFields.length > 0) return `unknown field(s): ${unknownFields.map((field) => JSON.stringify(field)).join(', ')}; allowed: sub, claims, ttl`;
  const subject = expectedSubjectRefusal(body.sub);
  if (subject !== undefined) return subject;
  const { claims, ttl } = body;
  if (claims !== undefined) {
    if (!isJsonObject(claims)) return 'claims must be a JSON object';
    const reserved = Object.keys(claims).filter((name) => ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti'].includes(name));
    if (reserved.length > 0) return `claims may not set reserved claim(s): ${reserved.join(', ')}`;
    const unsafe = Object.keys(claims).filter((name) => INHERITED_NAMES.has(name));
    if (unsafe.length > 0) return `claims may not use the name(s): ${unsafe.join(', ')}`;
    if (objectDepth(claims) > MAX_CLAIMS_DEPTH) return `claims may nest at most ${MAX_CLAIMS_DEPTH} levels deep`;
    if (Buffer.byteLength(JSON.stringify(claims), 'utf8') > MAX_CLAIMS_BYTES) return `claims must be at most ${MAX_CLAIMS_BYTES} bytes as JSON`;
  }
  if (ttl !== undefined && !(typeof ttl === 'number' && Number.isInteger(ttl) && ttl >= 1 && ttl <= limits.maxTtlSeconds)) {
    return `ttl must be an integer number of seconds from 1 to ${limits.maxTtlSeconds}`;
  }
  return undefined;
}

/** The message parseRevokeRequest must refuse `body` with, or undefined if it must accept it. */
function expectedRevokeRefusal(body: unknown): string | undefined {
  if (!isJsonObject(body)) return 'request body must be a JSON object';
  const fields = Object.keys(body);
  if (fields.length !== 1 || !['sub', 'jti'].includes(fields[0] as string)) return 'request body must be exactly one of { "sub": … } or { "jti": … }';
  if (fields[0] === 'sub') return expectedSubjectRefusal(body.sub);
  return isJti(body.jti) ? undefined : 'jti must be a jti issued by this service';
}

/** Asserts a refusal is a ValidationError with exactly the expected message (and not, say, a TypeError). */
function expectRefusedWith(error: unknown, message: string): void {
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as Error).message).toBe(message);
}

describe('Function: parseSignRequest, for any JSON value', () => {
  it('returns a request that keeps every promise when the body keeps the rules, and a ValidationError naming the first broken rule otherwise', () => {
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.oneof(anyBodyValue, plausibleSignBody), (body) => {
        const before = prototypeKeys();
        const outcome = attempt(() => parseSignRequest(body, limits));
        expect(prototypeKeys()).toEqual(before);
        expect(({} as Record<string, unknown>).admin).toBeUndefined();
        const refusal = expectedSignRefusal(body);
        if ('error' in outcome) {
          seen.refused += 1;
          // toEqual: an unexpected refusal fails with the message the validator gave.
          expect({ refused: (outcome.error as Error).message }).toEqual({ refused: refusal });
          expectRefusedWith(outcome.error, refusal as string);
          return;
        }
        seen.accepted += 1;
        expect({ accepted: true, refusal }).toEqual({ accepted: true, refusal: undefined });
        const { sub, claims, ttlSeconds } = outcome.value;
        const input = body as Record<string, unknown>;
        expect(Object.keys(outcome.value).sort()).toEqual(['claims', 'sub', 'ttlSeconds']);
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
            asField ? `unknown field(s): ${JSON.stringify(key)}; allowed: sub, claims, ttl` : `claims may not use the name(s): ${key}`,
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
          expect(outcome).toEqual({ value: { sub: 'u', claims: body.claims, ttlSeconds: limits.defaultTtlSeconds } });
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
          value: { sub: wellFormed, claims: {}, ttlSeconds: limits.defaultTtlSeconds },
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
  it('returns exactly the { sub } or { jti } asked for when it is one, and a ValidationError naming the problem otherwise', () => {
    /** Real jtis, and near misses of them. */
    const jtis = fc.string({ minLength: 1, maxLength: 12 }).chain((sub) =>
      fc.oneof(
        fc.constant(newJti(sub)),
        fc
          .constantFrom(
            (jti: string) => jti.slice(0, -1),
            (jti: string) => `${jti}A`,
            (jti: string) => jti.replace('}', ']'),
            (jti: string) => ` ${jti}`,
            (jti: string) => `${jti.slice(0, -1)}=`,
          )
          .map((spoil) => spoil(newJti(sub))),
      ),
    );
    const bodies = fc.oneof(
      anyBodyValue,
      fc
        .tuple(fc.constantFrom('sub', 'jti'), fc.oneof(anyString(40), fc.jsonValue()))
        .map(([field, value]) => JSON.parse(`{${JSON.stringify(field)}:${JSON.stringify(value) ?? 'null'}}`) as unknown),
      jtis.map((jti) => ({ jti })),
      fc.tuple(jtis, fc.string({ minLength: 1, maxLength: 8 })).map(([jti, sub]) => ({ jti, sub })),
    );
    const seen = { sub: 0, jti: 0, refused: 0 };
    fc.assert(
      fc.property(bodies, (body) => {
        const outcome = attempt(() => parseRevokeRequest(body));
        const refusal = expectedRevokeRefusal(body);
        if ('error' in outcome) {
          seen.refused += 1;
          expect({ refused: (outcome.error as Error).message }).toEqual({ refused: refusal });
          expectRefusedWith(outcome.error, refusal as string);
          return;
        }
        expect({ accepted: true, refusal }).toEqual({ accepted: true, refusal: undefined });
        const request = outcome.value;
        expect(request).toEqual(body);
        expect(Object.keys(request)).toHaveLength(1);
        if ('sub' in request) {
          seen.sub += 1;
          expect(typeof request.sub === 'string' && request.sub.trim() !== '').toBe(true);
        } else {
          seen.jti += 1;
          expect(isJti(request.jti)).toBe(true);
        }
      }),
      runs(2000),
    );
    expect(seen.sub).toBeGreaterThan(50);
    expect(seen.jti).toBeGreaterThan(50);
    expect(seen.refused).toBeGreaterThan(50);
  });
});
