// fast-check arbitraries for hostile input: any UTF-16 (lone surrogates included), JSON with the keys
// that mean something to JavaScript objects, nesting deep enough to hurt, sizes past the limits.
import fc from 'fast-check';

/** Any UTF-16 code unit, lone surrogates and control characters included (fc's 'binary' skips surrogates). */
export const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));

/** Any JavaScript string: what a header or a decoded body may hold. */
export const anyString = (maxLength = 64) => fc.string({ unit: fc.oneof(anyCodeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength });

/** Keys that mean something to an object or to a token, mixed with ordinary ones. */
export const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf'),
  fc.constantFrom('iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'kid', 'alg', 'claims', 'ttl', 'role'),
  fc.string({ maxLength: 8 }),
  anyString(8),
);

/** JSON text with keys from `hostileKey` (duplicates and "__proto__" as real keys, which JSON.parse keeps as own properties). */
export const hostileJsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('null', 'true', 'false', '0', '-0', '1e309', '-1', '1.5', '86400', '1e3', '""', '" "'),
    fc.double().map((value) => JSON.stringify(value)),
    anyString(24).map((value) => JSON.stringify(value)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(hostileKey, tie('value')), { maxLength: 5 })
      .map((pairs) => `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`),
  ),
})).value;

/** `depth` arrays or objects inside one another around `inner`. */
export function nested(depth: number, kind: 'array' | 'object', inner = '0'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
}

/** The own property names of Object.prototype: a test compares them before and after, to catch pollution. */
export const prototypeKeys = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();
