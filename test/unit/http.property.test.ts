// Property-based tests of what arrives from the network: the Authorization header and the request body.
// Whatever the input, the parsers answer with a value that holds their promise, or with the one error class
// that maps to a 401 (header) or a 400 (body): never anything else, which would become a 500.
import fc from 'fast-check';
import { TokenMalformedError, TokenMissingError, ValidationError } from '../../shared/errors';
import { MAX_BODY_BYTES, MAX_TOKEN_LENGTH, parseBearer, parseJsonBody } from '../../shared/http/messages';
import { anyCodeUnit, anyString, hostileJsonText, nested, prototypeKeys } from '../../testkit/arbitraries';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const base64urlChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));
const segment = (maxLength = 60) => fc.string({ unit: base64urlChar, minLength: 1, maxLength });
const compactJws = fc.tuple(segment(), segment(), segment()).map((parts) => parts.join('.'));
/** Whitespace, including what String.prototype.trim removes but the Bearer syntax does not allow inside. */
const whitespace = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u2028', '\ufeff'), maxLength: 3 });
const blanks = fc.string({ unit: fc.constantFrom(' ', '\t'), minLength: 1, maxLength: 3 });

/** Runs `parse` and returns what it returned, or the error it threw. */
function attempt<T>(parse: () => T): { value: T } | { error: unknown } {
  try {
    return { value: parse() };
  } catch (error) {
    return { error };
  }
}

/** Deep equality of two JSON values without recursion (they may be nested thousands deep), own keys only. */
function sameJson(left: unknown, right: unknown): boolean {
  const pending: Array<[unknown, unknown]> = [[left, right]];
  while (pending.length > 0) {
    const [a, b] = pending.pop() as [unknown, unknown];
    if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
      if (!Object.is(a, b)) return false;
      continue;
    }
    if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    const keys = Object.keys(a);
    if (keys.join('\u0000') !== Object.keys(b).join('\u0000')) return false;
    for (const key of keys) pending.push([(a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]]);
  }
  return true;
}

/** Property runs of this file, for the report. */
let inputsTried = 0;
const runs = (numRuns: number) => {
  inputsTried += numRuns;
  return { numRuns };
};
afterAll(() => console.log(`http properties: ${inputsTried} inputs tried`));

describe('Function: parseBearer, for any header', () => {
  const headers = fc.oneof(
    anyString(200),
    fc.string({ unit: 'binary', maxLength: 200 }),
    // Near misses around a well-formed token.
    fc
      .tuple(
        fc.mixedCase(fc.constantFrom('bearer', 'basic', 'bearer:', 'bearerx', 'token', '')),
        whitespace,
        fc.oneof(compactJws, anyString(80)),
        whitespace,
        fc.oneof(fc.constant(''), anyString(8)),
      )
      .map(([scheme, before, token, after, tail]) => `${scheme}${before}${token}${after}${tail}`),
    fc.tuple(compactJws, anyCodeUnit, fc.nat()).map(([token, unit, at]) => {
      const position = at % (token.length + 1);
      return `Bearer ${token.slice(0, position)}${unit}${token.slice(position)}`;
    }),
    // Past the size limits, with and without a valid shape.
    fc
      .tuple(fc.integer({ min: MAX_TOKEN_LENGTH - 20, max: 3 * MAX_TOKEN_LENGTH }), fc.boolean())
      .map(([length, shaped]) => (shaped ? `Bearer ${'a'.repeat(length)}.b.c` : 'x'.repeat(length))),
  );

  it('returns a compact JWS that the header carries after "Bearer", or throws a 401 error', () => {
    fc.assert(
      fc.property(fc.option(headers, { nil: undefined }), (header) => {
        const outcome = attempt(() => parseBearer(header));
        if ('error' in outcome) {
          expect(outcome.error instanceof TokenMissingError || outcome.error instanceof TokenMalformedError).toBe(true);
          return;
        }
        expect(outcome.value).toMatch(COMPACT_JWS);
        expect(outcome.value.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH + 2);
        const trimmed = (header ?? '').trim();
        expect(trimmed.slice(0, 6).toLowerCase()).toBe('bearer');
        expect(trimmed.slice(6).trim()).toBe(outcome.value);
      }),
      runs(3000),
    );
  });

  it('returns exactly the token for every spelling of a well-formed Bearer header', () => {
    fc.assert(
      fc.property(
        fc.mixedCase(fc.constant('bearer')),
        blanks,
        compactJws,
        fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 }),
        whitespace,
        (scheme, gap, token, trailing, around) => {
          expect(parseBearer(`${around}${scheme}${gap}${token}${trailing}${around}`)).toBe(token);
        },
      ),
      runs(1000),
    );
  });

  it('refuses anything longer than a header API Gateway would pass, however well-formed', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_TOKEN_LENGTH + 10, max: 10 * MAX_TOKEN_LENGTH }), (length) => {
        expect(() => parseBearer(`Bearer ${'a'.repeat(length - 4)}.b.c`)).toThrow(TokenMalformedError);
      }),
      runs(50),
    );
  });
});

describe('Function: parseJsonBody, for any body', () => {
  const bodies = fc.oneof(
    anyString(300),
    hostileJsonText,
    fc.json(),
    fc.integer({ min: 1, max: 8200 }).map((depth) => nested(depth, 'array')),
    fc.integer({ min: 1, max: 3000 }).map((depth) => nested(depth, 'object')),
    fc.integer({ min: MAX_BODY_BYTES - 64, max: MAX_BODY_BYTES + 64 }).map((length) => JSON.stringify({ sub: 'x'.repeat(Math.max(length - 10, 0)) })),
  );
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    // Valid JSON with bytes that are not UTF-8 inside a string.
    fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.constantFrom(0x80, 0xc0, 0xed, 0xf8, 0xff))
      .map(([raw, bad]) =>
        Buffer.concat([
          Buffer.from('{"sub":"'),
          Buffer.from(raw.filter((byte) => byte !== 0x22 && byte !== 0x5c && byte >= 0x20)),
          Buffer.from([bad]),
          Buffer.from('"}'),
        ]),
      ),
    // Past the size limit only once decoded.
    fc.integer({ min: MAX_BODY_BYTES - 8, max: MAX_BODY_BYTES + 8 }).map((length) => Buffer.alloc(length, 0x20)),
  );

  function check(body: string | null, isBase64Encoded: boolean): void {
    const before = prototypeKeys();
    const outcome = attempt(() => parseJsonBody({ body, isBase64Encoded }));
    const text = body === null ? '' : isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
    if ('error' in outcome) {
      expect(outcome.error).toBeInstanceOf(ValidationError);
    } else {
      expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(MAX_BODY_BYTES);
      // Exactly what the text says, "__proto__" keys as plain own properties included.
      expect(sameJson(outcome.value, JSON.parse(text))).toBe(true);
    }
    if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) expect('error' in outcome).toBe(true);
    expect(prototypeKeys()).toEqual(before);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  }

  it('parses it as JSON or refuses it with a 400 error, for text', () => {
    fc.assert(
      fc.property(fc.option(bodies, { nil: null }), (body) => check(body, false)),
      runs(1500),
    );
  });

  it('parses it as JSON or refuses it with a 400 error, for base64 of any bytes (not UTF-8 included)', () => {
    fc.assert(
      fc.property(bytes, (raw) => check(Buffer.from(raw).toString('base64'), true)),
      runs(1000),
    );
  });

  it('keeps "__proto__" as data and never reaches Object.prototype', () => {
    const parsed = parseJsonBody({ body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}', isBase64Encoded: false }) as Record<
      string,
      unknown
    >;
    expect(Object.keys(parsed)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});
