import { TokenMalformedError, TokenMissingError, ValidationError } from '../../shared/errors';
import { MAX_BODY_BYTES, parseBearer, parseJsonBody } from '../../shared/http/messages';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';

describe('Function: parseBearer', () => {
  it.each([`Bearer ${JWT}`, `bearer ${JWT}`, `BEARER  ${JWT}`, `  Bearer ${JWT}  `, `Bearer\t${JWT}`])('returns the token from %p', (header) => {
    expect(parseBearer(header)).toBe(JWT);
  });

  it.each([undefined, null, '', '   '])('throws TokenMissingError for %p', (header) => {
    expect(() => parseBearer(header)).toThrow(TokenMissingError);
  });

  it.each([
    JWT,
    `Basic ${JWT}`,
    `Bearer`,
    `Bearer ${JWT} extra`,
    `Bearer ${JWT},${JWT}`,
    'Bearer a.b',
    'Bearer a.b.c.d',
    'Bearer a.b+c.d',
    `Bearer ${'a'.repeat(9000)}.b.c`,
  ])('throws TokenMalformedError for %p', (header) => {
    expect(() => parseBearer(header)).toThrow(TokenMalformedError);
  });
});

describe('Function: parseJsonBody', () => {
  it('parses a JSON body', () => {
    expect(parseJsonBody({ body: '{"sub":"u"}', isBase64Encoded: false })).toEqual({ sub: 'u' });
  });

  it('decodes a base64 body first', () => {
    const body = Buffer.from('{"sub":"u"}').toString('base64');
    expect(parseJsonBody({ body, isBase64Encoded: true })).toEqual({ sub: 'u' });
  });

  it.each([
    [null, /body is required/],
    ['', /body is required/],
    ['{"sub":', /not valid JSON/],
    ['x'.repeat(MAX_BODY_BYTES + 1), /at most 16384 bytes/],
  ])('refuses %p', (body, message) => {
    expect(() => parseJsonBody({ body, isBase64Encoded: false })).toThrow(ValidationError);
    expect(() => parseJsonBody({ body, isBase64Encoded: false })).toThrow(message);
  });

  // JSON.parse keeps the last of two equal names silently; a proxy or a log reading the first would see another request.
  it.each([
    ['{"token":"a","token":"b"}', 'token'],
    ['{"token":"a", "t\\u006fken" :"b"}', 'token'],
    ['{"a"  \n\t :1,"a":2}', 'a'],
    ['{"k\\\\":1,"k\\\\":2}', 'k\\'],
    ['{"x":{"y":1},"y":2,"x":3}', 'x'],
  ])('refuses %s, which names %p twice at its top level', (body, name) => {
    expect(() => parseJsonBody({ body, isBase64Encoded: false })).toThrow(`request body gives the field ${JSON.stringify(name)} more than once`);
  });

  it.each(['{"a":{"token":1},"token":2}', '{"x":"\\"token\\":","token":1}', '[{"a":1},{"a":2}]', '{"a":1,"b":{"a":2,"a":3}}', '{"a":[1,{"a":2}],"b":"a"}'])(
    'takes %s: no name repeated at its top level',
    (body) => {
      expect(() => parseJsonBody({ body, isBase64Encoded: false })).not.toThrow();
    },
  );
});
