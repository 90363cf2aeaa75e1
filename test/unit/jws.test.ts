// The compact JWS layer alone: what it accepts is exactly what the ring's keys signed, spelled as we spell it.
import { createSecretKey } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';
import { TokenInvalidError, TokenMalformedError } from '../../shared/errors';
import { hs256 } from '../../shared/auth/algorithms';
import { jwsKey, Keyring, SESSION_GRANT_TYP, signJws, verifyJws } from '../../shared/auth/jws';
import { b64url, encodeSegment, forgeJws } from '../../testkit/jws';

const CURRENT = { kid: 'k-current', secret: 'jws-current-secret-0123456789abcdefghijkl' };
const PREVIOUS = { kid: 'k-previous', secret: 'jws-previous-secret-0123456789abcdefghijk' };
const keyOf = ({ kid, secret }: { kid: string; secret: string }) => jwsKey(kid, hs256(createSecretKey(Buffer.from(secret, 'utf8'))));
const ring = new Keyring([keyOf(CURRENT), keyOf(PREVIOUS)]);
const PAYLOAD = { sub: 'user-1', n: 1 };

/** Why `token` is refused, as `CODE: message`, or `accepted`. */
function reason(token: string): string {
  try {
    verifyJws(token, ring);
    return 'accepted';
  } catch (error) {
    return `${(error as TokenInvalidError).code}: ${(error as Error).message}`;
  }
}

/** The base64url letters whose last two bits are not zero: decoders ignore them in a 43-letter segment. */
const NON_CANONICAL_LAST = /[^AEIMQUYcgkosw048]$/;

describe('shared/auth/jws: HS256 compact JWS', () => {
  it('signs what jsonwebtoken verifies, and verifies its own tokens under either key of the ring', () => {
    for (const key of [CURRENT, PREVIOUS]) {
      const token = signJws(keyOf(key), PAYLOAD);
      expect(jsonwebtoken.verify(token, key.secret, { algorithms: ['HS256'], complete: true })).toMatchObject({
        header: { alg: 'HS256', typ: 'JWT', kid: key.kid },
        payload: PAYLOAD,
      });
      expect(verifyJws(token, ring)).toEqual(PAYLOAD);
    }
  });

  it('accepts any spelling of a header that names a ring key and HS256 (decoded rather than matched)', () => {
    for (const header of [
      { kid: CURRENT.kid, alg: 'HS256' },
      { alg: 'HS256', kid: CURRENT.kid, typ: 'at+jwt' },
      `{ "alg" : "HS256", "kid":"${CURRENT.kid}" }`,
    ]) {
      expect(verifyJws(forgeJws({ header, payload: PAYLOAD, secret: CURRENT.secret }), ring)).toEqual(PAYLOAD);
    }
  });

  it('keeps session grants and access tokens apart by typ: signed with the same key, neither verifies as the other', () => {
    const grant = signJws(keyOf(CURRENT), PAYLOAD, SESSION_GRANT_TYP);
    expect(verifyJws(grant, ring, SESSION_GRANT_TYP)).toEqual(PAYLOAD);
    expect(reason(grant)).toBe(`TOKEN_INVALID: token typ must not be ${SESSION_GRANT_TYP}`);
    for (const header of [
      { alg: 'HS256', typ: 'JWT', kid: CURRENT.kid },
      { alg: 'HS256', kid: CURRENT.kid },
    ]) {
      const token = forgeJws({ header, payload: PAYLOAD, secret: CURRENT.secret });
      expect(() => verifyJws(token, ring, SESSION_GRANT_TYP)).toThrow(`token typ must be ${SESSION_GRANT_TYP}`);
    }
  });

  it('refuses a signature made with another key, or under the other kid of the ring', () => {
    const wrongSecret = forgeJws({ header: { alg: 'HS256', kid: CURRENT.kid }, payload: PAYLOAD, secret: 'not-a-key-of-the-ring-0123456789abcdefgh' });
    const otherKid = forgeJws({ header: { alg: 'HS256', kid: PREVIOUS.kid }, payload: PAYLOAD, secret: CURRENT.secret });
    for (const token of [wrongSecret, otherKid]) expect(reason(token)).toBe('TOKEN_INVALID: invalid signature');
  });

  it('refuses the right signature spelled another way: trailing bits set, a lookalike letter, one letter more or less', () => {
    const token = signJws(keyOf(CURRENT), PAYLOAD);
    const cut = token.lastIndexOf('.');
    const [signed, signature] = [token.slice(0, cut), token.slice(cut + 1)];
    // The same 32 bytes to a lenient decoder: the last letter differs only in the two bits past the end.
    const lastIndex = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(signature.at(-1) as string);
    const sameBytes = `${signature.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastIndex + 1]}`;
    expect(sameBytes).toMatch(NON_CANONICAL_LAST);
    expect(Buffer.from(sameBytes, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    // U+0100 + the letter's code: the same byte to a latin1 comparison.
    const lookalike = `${String.fromCharCode(0x100 + signature.charCodeAt(0))}${signature.slice(1)}`;
    expect(Buffer.from(lookalike, 'latin1')).toEqual(Buffer.from(signature, 'latin1'));
    for (const spelling of [sameBytes, lookalike, `${signature}A`, signature.slice(0, -1), `${signature}=`, '']) {
      expect(reason(`${signed}.${spelling}`)).toBe('TOKEN_INVALID: invalid signature');
    }
  });

  it('refuses a header that does not ask for HS256 with a ring kid, before any signature is computed', () => {
    const cases: Array<[unknown, string]> = [
      [{ alg: 'HS384', kid: CURRENT.kid }, 'TOKEN_INVALID: token alg must be HS256, the algorithm of its key'],
      [{ alg: 'none', kid: CURRENT.kid }, 'TOKEN_INVALID: token alg must be HS256, the algorithm of its key'],
      [{ alg: 'hs256', kid: CURRENT.kid }, 'TOKEN_INVALID: token alg must be HS256, the algorithm of its key'],
      [{ kid: CURRENT.kid }, 'TOKEN_INVALID: token alg must be HS256, the algorithm of its key'],
      [{ alg: 'HS256', kid: CURRENT.kid, crit: ['exp'] }, 'TOKEN_INVALID: token header has crit extensions'],
      [{ alg: 'HS256', kid: CURRENT.kid, jwk: { kty: 'oct', k: 'c2VjcmV0' } }, 'TOKEN_INVALID: token header carries a key of its own'],
      [{ alg: 'HS256', kid: CURRENT.kid, jku: 'https://attacker.example/jwks.json' }, 'TOKEN_INVALID: token header carries a key of its own'],
      [{ alg: 'HS256' }, 'TOKEN_INVALID: token has no valid kid'],
      [{ alg: 'HS256', kid: 42 }, 'TOKEN_INVALID: token has no valid kid'],
      [{ alg: 'HS256', kid: 'a/../b' }, 'TOKEN_INVALID: token has no valid kid'],
      [{ alg: 'HS256', kid: 'k-removed' }, 'TOKEN_INVALID: token was signed with a key that is not in the ring'],
      [{ alg: 'HS256', kid: '__proto__' }, 'TOKEN_INVALID: token was signed with a key that is not in the ring'],
      [[CURRENT.kid], 'TOKEN_MALFORMED: token header is not a JSON object'],
      [null, 'TOKEN_MALFORMED: token header is not a JSON object'],
    ];
    for (const [header, error] of cases) {
      const token = forgeJws({ header: JSON.stringify(header), payload: PAYLOAD, secret: CURRENT.secret, signingAlg: 'HS256' });
      expect({ header, reason: reason(token) }).toEqual({ header, reason: error });
    }
    expect(reason(`${b64url('{"alg":')}.${encodeSegment(PAYLOAD)}.x`)).toBe('TOKEN_MALFORMED: token header is not JSON');
  });

  it('refuses a payload that is not JSON only once its signature holds', () => {
    const key = keyOf(CURRENT);
    const notJson = forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid: CURRENT.kid }, payload: '{"sub":', secret: CURRENT.secret });
    expect(reason(notJson)).toBe('TOKEN_MALFORMED: token payload is not JSON');
    expect(reason(`${key.encodedHeader}.${b64url('{"sub":')}.${'A'.repeat(43)}`)).toBe('TOKEN_INVALID: invalid signature');
    // Any JSON value: the caller judges it.
    expect(verifyJws(forgeJws({ header: { alg: 'HS256', kid: CURRENT.kid }, payload: 'null', secret: CURRENT.secret }), ring)).toBeNull();
  });

  it('refuses our own token with a segment more: a JWE has five, and no part of it is ours', () => {
    const token = signJws(keyOf(CURRENT), PAYLOAD);
    for (const longer of [`${token}.`, `${token}.${token.split('.')[2] as string}`]) {
      expect(reason(longer)).toBe('TOKEN_MALFORMED: token is not a compact JWS (three dot-separated segments)');
    }
  });

  it.each(['', 'abc', 'a.b', '.b.c', 'a.b.c.d', 'a..', `${'a'.repeat(10)}.b.c.`])('refuses %p: not a compact JWS', (token) => {
    expect(() => verifyJws(token, ring)).toThrow(TokenMalformedError);
  });
});
