// Property-based tests of the sign and revoke request validators: for any JSON value, either a request that
// keeps every promise (types, sizes, no reserved or unsafe claim names) or a ValidationError (a 400 that
// changes nothing). Never another error, never a change to Object.prototype.
import fc from 'fast-check';
import { MAX_SUBJECT_LENGTH } from '../../shared/auth/claims';
import { ValidationError } from '../../shared/errors';
import { parseJsonBody } from '../../shared/http/messages';
import { isJti, subjectTag } from '../../shared/sessions/store';
import { RESERVED_CLAIMS } from '../../shared/auth/tokens';
import { MAX_CLAIMS_BYTES, parseRevokeRequest, parseSignRequest } from '../../shared/http/validation';
import { anyString, hostileJsonText, hostileKey, nested, prototypeKeys } from '../../testkit/arbitraries';

const limits = { defaultTtlSeconds: 900, maxTtlSeconds: 3600 };
const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);

let inputsTried = 0;
const runs = (numRuns: number) => {
  inputsTried += numRuns;
  return { numRuns };
};
afterAll(() => console.log(`validation properties: ${inputsTried} inputs tried`));

/** JSON text of a sign body: mostly the right shape, with hostile values and keys in every slot. */
const signBodyText = fc
  .tuple(
    fc.option(fc.oneof(anyString(40).map((sub) => JSON.stringify(sub)), fc.constantFrom('""', '" "', '"\\t"', '42', 'null', '["a"]', '{}'), fc.integer({ min: 250, max: 300 }).map((length) => JSON.stringify('s'.repeat(length))))),
    fc.option(fc.oneof(hostileJsonText, fc.array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 6 }).map((pairs) => `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`))),
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

function attempt<T>(parse: () => T): { value: T } | { error: unknown } {
  try {
    return { value: parse() };
  } catch (error) {
    return { error };
  }
}

describe('Function: parseSignRequest, for any JSON value', () => {
  it('returns a request that keeps every promise, or throws ValidationError', () => {
    fc.assert(
      fc.property(anyBodyValue, (body) => {
        const before = prototypeKeys();
        const outcome = attempt(() => parseSignRequest(body, limits));
        expect(prototypeKeys()).toEqual(before);
        expect(({} as Record<string, unknown>).admin).toBeUndefined();
        if ('error' in outcome) {
          expect(outcome.error).toBeInstanceOf(ValidationError);
          return;
        }
        const { sub, claims, ttlSeconds } = outcome.value;
        const input = body as Record<string, unknown>;
        expect(Object.keys(input).every((field) => ['sub', 'claims', 'ttl'].includes(field))).toBe(true);
        expect(typeof sub === 'string' && sub.trim() !== '' && sub.length <= MAX_SUBJECT_LENGTH).toBe(true);
        expect(sub).toBe(input.sub);
        expect(Number.isInteger(ttlSeconds) && ttlSeconds >= 1 && ttlSeconds <= limits.maxTtlSeconds).toBe(true);
        expect(Object.getPrototypeOf(claims)).toBe(Object.prototype);
        for (const name of Object.keys(claims)) {
          expect(RESERVED_CLAIMS.has(name) || UNSAFE.has(name)).toBe(false);
        }
        expect(Buffer.byteLength(JSON.stringify(claims), 'utf8')).toBeLessThanOrEqual(MAX_CLAIMS_BYTES);
        expect(JSON.stringify(claims)).toBe(JSON.stringify(input.claims ?? {}));
      }),
      runs(3000),
    );
  });

  it('refuses "__proto__", "constructor" and "prototype" as claim names and as fields, wherever the text puts them', () => {
    fc.assert(
      fc.property(fc.constantFrom('__proto__', 'constructor', 'prototype'), hostileJsonText, fc.boolean(), (key, value, asField) => {
        const text = asField ? `{"sub":"u",${JSON.stringify(key)}:${value}}` : `{"sub":"u","claims":{"role":"user",${JSON.stringify(key)}:${value}}}`;
        expect(() => parseSignRequest(parseJsonBody({ body: text, isBase64Encoded: false }), limits)).toThrow(ValidationError);
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

  it('answers claims nested up to 1,000 deep with a request or a 400', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.constantFrom('array', 'object') as fc.Arbitrary<'array' | 'object'>, (depth, kind) => {
        const outcome = attempt(() => parseSignRequest(JSON.parse(`{"sub":"u","claims":{"deep":${nested(depth, kind)}}}`), limits));
        if ('error' in outcome) expect(outcome.error).toBeInstanceOf(ValidationError);
      }),
      runs(100),
    );
  });

  // JSON.stringify (the size check) overflows the stack on claims nested a few thousand deep, which still fit
  // in a 16 KiB body: the depth is checked first, without recursion.
  test('answers claims nested deeper than JSON.stringify can go (still under 16 KiB) with a 400, not a RangeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5000, max: 8000 }), (depth) => {
        const body = parseJsonBody({ body: `{"sub":"u","claims":{"deep":${nested(depth, 'array')}}}`, isBase64Encoded: false });
        expect(() => parseSignRequest(body, limits)).toThrow(ValidationError);
      }),
      { numRuns: 5 },
    );
  });

  // subjectTag hashes a subject's UTF-8, where every lone surrogate becomes U+FFFD: "a\uD800" and "a\uFFFD"
  // would share a session index, so a subject must be well-formed Unicode.
  test('never accepts two different subjects that share a session index', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 8 }), (head, surrogate, tail) => {
        const illFormed = `${head}${String.fromCharCode(surrogate)}${tail}`;
        const wellFormed = `${head}\ufffd${tail}`;
        const accepted = (sub: string) => !('error' in attempt(() => parseSignRequest({ sub }, limits)));
        if (accepted(illFormed) && accepted(wellFormed)) expect(subjectTag(illFormed)).not.toBe(subjectTag(wellFormed));
      }),
      { numRuns: 50 },
    );
  });
});

describe('Function: parseRevokeRequest, for any JSON value', () => {
  it('returns exactly one of { sub } or { jti }, or throws ValidationError', () => {
    const bodies = fc.oneof(
      anyBodyValue,
      fc.tuple(fc.constantFrom('sub', 'jti'), fc.oneof(anyString(40), fc.jsonValue())).map(([field, value]) => JSON.parse(`{${JSON.stringify(field)}:${JSON.stringify(value) ?? 'null'}}`) as unknown),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        const outcome = attempt(() => parseRevokeRequest(body));
        if ('error' in outcome) {
          expect(outcome.error).toBeInstanceOf(ValidationError);
          return;
        }
        const request = outcome.value;
        expect(Object.keys(request)).toHaveLength(1);
        if ('sub' in request) expect(typeof request.sub === 'string' && request.sub.trim() !== '').toBe(true);
        else expect(isJti(request.jti)).toBe(true);
      }),
      runs(2000),
    );
  });
});
