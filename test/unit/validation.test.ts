import { MAX_SUBJECT_LENGTH } from '../../shared/auth/claims';
import { ValidationError } from '../../shared/errors';
import { MAX_CLAIMS_BYTES, parseLogoutRequest, parseRefreshRequest, parseRevokeRequest, parseSignRequest } from '../../shared/http/validation';
import { newId } from '../../shared/sessions/keys';

const limits = { defaultTtlSeconds: 900, maxTtlSeconds: 3600 };

describe('Function: parseSignRequest', () => {
  it('fills in defaults', () => {
    expect(parseSignRequest({ sub: 'user-1' }, limits)).toEqual({ sub: 'user-1', claims: {}, ttlSeconds: 900, refresh: false, session: {} });
  });

  it('keeps claims and ttl', () => {
    expect(parseSignRequest({ sub: 'user-1', claims: { role: 'admin', tags: ['a'] }, ttl: 3600 }, limits)).toEqual({
      sub: 'user-1',
      claims: { role: 'admin', tags: ['a'] },
      ttlSeconds: 3600,
      refresh: false,
      session: {},
    });
  });

  it('keeps the refresh flag and the session metadata', () => {
    const session = { device: 'Firefox on Linux \u{1F98A}', ip: '2001:db8::1' };
    expect(parseSignRequest({ sub: 'u', refresh: true, session }, limits)).toMatchObject({ refresh: true, session });
    expect(parseSignRequest({ sub: 'u', session: { ip: '192.0.2.10' } }, limits).session).toEqual({ ip: '192.0.2.10' });
    expect(parseSignRequest({ sub: 'u', session: { device: 'd'.repeat(128) } }, limits).session).toEqual({ device: 'd'.repeat(128) });
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
    [{ sub: 'u', claims: { sid: 'x' } }, /reserved claim\(s\): sid/],
    [{ sub: 'u', refresh: 'yes' }, /refresh must be true or false/],
    [{ sub: 'u', refresh: 1 }, /refresh must be true or false/],
    [{ sub: 'u', session: 'phone' }, /session must be a JSON object/],
    [{ sub: 'u', session: [] }, /session must be a JSON object/],
    [{ sub: 'u', session: { os: 'linux' } }, /unknown field\(s\) in session: "os"/],
    [{ sub: 'u', session: { device: '' } }, /session.device must be a string of 1 to 128 characters/],
    [{ sub: 'u', session: { device: 'd'.repeat(129) } }, /session.device must be a string of 1 to 128 characters/],
    [{ sub: 'u', session: { device: 'line\nbreak' } }, /without control or bidirectional characters/],
    [{ sub: 'u', session: { device: 'bidi\u0085' } }, /without control or bidirectional characters/],
    [{ sub: 'u', session: { device: 7 } }, /session.device must be a string/],
    [{ sub: 'u', session: { ip: '300.1.1.1' } }, /session.ip must be an IPv4 or IPv6 address/],
    [{ sub: 'u', session: { ip: 'localhost' } }, /session.ip must be an IPv4 or IPv6 address/],
    [{ sub: 'u', session: { ip: '10.0.0.1/8' } }, /session.ip must be an IPv4 or IPv6 address/],
    [{ sub: 'u', session: { ip: `fe80::1%${'a'.repeat(1000)}` } }, /session.ip must be an IPv4 or IPv6 address/],
    [{ sub: 'u', session: { device: 'phone\u202Eevil' } }, /without control or bidirectional characters/],
    [{ sub: 'u', session: { device: 'phone\u2067x' } }, /without control or bidirectional characters/],
  ])('refuses %p', (body, message) => {
    expect(() => parseSignRequest(body, limits)).toThrow(ValidationError);
    expect(() => parseSignRequest(body, limits)).toThrow(message);
  });
});

describe('Function: parseRefreshRequest', () => {
  it('takes any non-empty string: whether it is a refresh token is for the rotation to say (401)', () => {
    expect(parseRefreshRequest({ refreshToken: 'not-even-close' })).toEqual({ refreshToken: 'not-even-close' });
  });

  it.each([
    [null, /body must be a JSON object/],
    [{}, /refreshToken is required/],
    [{ refreshToken: '' }, /refreshToken is required/],
    [{ refreshToken: 42 }, /refreshToken is required/],
    [{ refreshToken: 'x', token: 'y' }, /unknown field\(s\): "token"/],
    // A token sent as a field name is named cut short, in the answer and so in the log line.
    [{ ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl']: 1 }, /unknown field\(s\): "eyJhbGciOiJIUzI1…"; allowed/],
  ])('refuses %p', (body, message) => {
    expect(() => parseRefreshRequest(body)).toThrow(ValidationError);
    expect(() => parseRefreshRequest(body)).toThrow(message);
  });
});

describe('Function: parseLogoutRequest', () => {
  it.each([
    [undefined, 'local'],
    [{}, 'local'],
    [{ scope: 'local' }, 'local'],
    [{ scope: 'others' }, 'others'],
    [{ scope: 'global' }, 'global'],
  ])('reads %p as %p', (body, scope) => {
    expect(parseLogoutRequest(body)).toBe(scope);
  });

  it.each([[null], [[]], [{ scope: 'all' }], [{ scope: 'GLOBAL' }], [{ scope: null }], [{ scope: 'local', everywhere: true }]])('refuses %p', (body) => {
    expect(() => parseLogoutRequest(body)).toThrow(ValidationError);
  });
});

describe('Function: parseRevokeRequest', () => {
  const sid = newId('user-1');

  it('takes exactly one of sub, sid or jti', () => {
    expect(parseRevokeRequest({ sub: 'user-1' })).toEqual({ sub: 'user-1' });
    expect(parseRevokeRequest({ sid })).toEqual({ sid });
    expect(parseRevokeRequest({ jti: sid })).toEqual({ jti: sid });
  });

  it.each([[{}], [{ sub: 'u', sid }], [{ sid: 'not-a-sid' }], [{ sid: 42 }], [{ jti: 'x' }]])('refuses %p', (body) => {
    expect(() => parseRevokeRequest(body)).toThrow(ValidationError);
  });
});
