import { MAX_SUBJECT_LENGTH } from '../../shared/auth/claims';
import { ValidationError } from '../../shared/errors';
import { MAX_CLAIMS_BYTES, parseSignRequest } from '../../shared/http/validation';

const limits = { defaultTtlSeconds: 900, maxTtlSeconds: 3600 };

describe('Function: parseSignRequest', () => {
  it('fills in defaults', () => {
    expect(parseSignRequest({ sub: 'user-1' }, limits)).toEqual({ sub: 'user-1', claims: {}, ttlSeconds: 900 });
  });

  it('keeps claims and ttl', () => {
    expect(parseSignRequest({ sub: 'user-1', claims: { role: 'admin', tags: ['a'] }, ttl: 3600 }, limits)).toEqual({
      sub: 'user-1',
      claims: { role: 'admin', tags: ['a'] },
      ttlSeconds: 3600,
    });
  });

  it.each([
    [null, /body must be a JSON object/],
    [[], /body must be a JSON object/],
    ['sub', /body must be a JSON object/],
    [{}, /sub must be a non-empty string/],
    [{ sub: '' }, /sub must be a non-empty string/],
    [{ sub: '  ' }, /sub must be a non-empty string/],
    [{ sub: 42 }, /sub must be a non-empty string/],
    [{ sub: 'u'.repeat(MAX_SUBJECT_LENGTH + 1) }, /sub must be at most 256 characters/],
    [{ sub: 'u', admin: true }, /unknown field\(s\): "admin"/],
    [{ sub: 'u', claims: [] }, /claims must be a JSON object/],
    [{ sub: 'u', claims: 'x' }, /claims must be a JSON object/],
    [{ sub: 'u', claims: { exp: 1 } }, /reserved claim\(s\): exp/],
    [{ sub: 'u', claims: { sub: 'other', jti: 'x' } }, /reserved claim\(s\): sub, jti/],
    [{ sub: 'u', claims: JSON.parse('{"__proto__":{"admin":true}}') as unknown }, /may not use the name\(s\): __proto__/],
    [{ sub: 'u', claims: { constructor: 'x' } }, /may not use the name\(s\): constructor/],
    [{ sub: 'u', claims: { toString: 1, valueOf: 2 } }, /may not use the name\(s\): toString, valueOf/],
    [{ sub: 'u', claims: { deep: JSON.parse('['.repeat(40) + ']'.repeat(40)) as unknown } }, /claims may nest at most 32 levels deep/],
    [{ sub: 'mallory\ud800' }, /sub must be well-formed Unicode/],
    [{ sub: 'u', claims: { big: 'x'.repeat(MAX_CLAIMS_BYTES) } }, /claims must be at most 4096 bytes/],
    [{ sub: 'u', ttl: 0 }, /ttl must be an integer number of seconds from 1 to 3600/],
    [{ sub: 'u', ttl: 3601 }, /ttl must be an integer/],
    [{ sub: 'u', ttl: 1.5 }, /ttl must be an integer/],
    [{ sub: 'u', ttl: '60' }, /ttl must be an integer/],
  ])('refuses %p', (body, message) => {
    expect(() => parseSignRequest(body, limits)).toThrow(ValidationError);
    expect(() => parseSignRequest(body, limits)).toThrow(message);
  });
});
