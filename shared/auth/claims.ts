// What a token's subject, dates and custom claims must be: one definition for sign (what it issues) and
// verify (what it accepts), so that no token we sign is refused and no value we would not sign is read as one.

export const MAX_SUBJECT_LENGTH = 256;

/** 9999-12-31T23:59:59Z, in seconds: the last instant a Date can print as ISO 8601 without a sign. */
export const MAX_NUMERIC_DATE = 253_402_300_799;

/** The longest MAX_TTL: ten years, so that every `exp` sign writes stays within MAX_NUMERIC_DATE. */
export const MAX_TTL_LIMIT = 315_360_000;

/** Why `sub` cannot be a subject, or undefined when it can. */
export function subjectProblem(sub: unknown): string | undefined {
  if (typeof sub !== 'string' || sub.trim() === '') return 'sub must be a non-empty string';
  if (sub.length > MAX_SUBJECT_LENGTH) return `sub must be at most ${MAX_SUBJECT_LENGTH} characters`;
  // A lone surrogate becomes U+FFFD in UTF-8, so two such subjects would hash to one session index.
  if (!sub.isWellFormed()) return 'sub must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/**
 * Whole seconds from 1970 to 9999, as we write `iat` and `exp`. Any other number would be read as a date
 * all the same: ±1e20 makes an invalid Date, whose toISOString throws, and 1.5 one that no token of ours has.
 */
export function isNumericDate(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_NUMERIC_DATE;
}

/** Deeper claims are refused before anything walks them recursively (JSON.stringify would overflow). */
export const MAX_CLAIMS_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `limit`; iterative, so no depth can overflow the stack. */
export function depthExceeds(value: unknown, limit: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    if (next.depth > limit) return true;
    for (const child of Object.values(next.value)) pending.push({ value: child, depth: next.depth + 1 });
  }
  return false;
}

/**
 * Custom claim names that mean something to every JavaScript object (__proto__, constructor, toString…):
 * verifiers that look claim names up in a plain object (jsonwebtoken does) break on them, and they invite
 * prototype pollution wherever the claims travel. Sign refuses them, and so does verify.
 */
export function unsafeClaimNames(names: readonly string[]): string[] {
  return names.filter((name) => name === 'prototype' || Object.prototype.hasOwnProperty.call(Object.prototype, name));
}
