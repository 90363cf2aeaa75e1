// AuthBackend: the trusted routes on the REST API, authenticated with the API key or a real SigV4 signature.
import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { expect } from '@jest/globals';
import { SignatureV4 } from '@smithy/signature-v4';
import { AuthBackend, type FetchLike } from '../../client/src';
import { rejection } from '../../testkit/client-errors';

const BASE = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';
const API_KEY = 'backend-api-key-0123456789abcdef';

interface Captured {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A fetch that records each request and answers `status` with `body`. */
function answering(status: number, body: unknown): { fetch: FetchLike; sent: Captured[] } {
  const sent: Captured[] = [];
  const fetch: FetchLike = async (request) => {
    sent.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
  };
  return { fetch, sent };
}

const SIGNED = { token: 'a.b.c', tokenType: 'Bearer', expiresIn: 600, jti: '{t}j', sid: '{t}s', refreshToken: 'r', refreshExpiresIn: 604_800 };

describe('Class: AuthBackend', () => {
  describe('with the API key', () => {
    it('sign() posts the request to /auth/token with x-api-key and returns the answer', async () => {
      const { fetch, sent } = answering(201, SIGNED);
      const backend = new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch });
      const request = { sub: 'user-42', claims: { role: 'admin' }, ttl: 600, refresh: true as const, session: { device: 'Firefox', ip: '192.0.2.1' } };
      const signed = await backend.sign(request);
      // With refresh: true the refresh token is in the type, not only in the answer.
      const refreshToken: string = signed.refreshToken;
      expect(refreshToken).toBe('r');
      expect(signed).toEqual(SIGNED);
      expect(sent).toEqual([
        { url: `${BASE}/auth/token`, headers: { 'content-type': 'application/json', 'x-api-key': API_KEY }, body: JSON.stringify(request) },
      ]);
    });

    it.each([[{ sub: 'user-42' }], [{ sid: '{t}s' }], [{ jti: '{t}j' }]])('revoke(%j) posts it to /auth/revoke', async (target) => {
      const { fetch, sent } = answering(200, { revoked: 1 });
      expect(await new AuthBackend({ baseUrl: `${BASE}/`, apiKey: API_KEY, fetch }).revoke(target)).toEqual({ revoked: 1 });
      expect(sent).toEqual([{ url: `${BASE}/auth/revoke`, headers: expect.objectContaining({ 'x-api-key': API_KEY }), body: JSON.stringify(target) }]);
    });

    it('introspect() posts { token } to /auth/introspect', async () => {
      const { fetch, sent } = answering(200, { active: false });
      expect(await new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch }).introspect('a.b.c')).toEqual({ active: false });
      expect(sent).toEqual([{ url: `${BASE}/auth/introspect`, headers: expect.objectContaining({ 'x-api-key': API_KEY }), body: '{"token":"a.b.c"}' }]);
    });
  });

  describe('with a SigV4 signer (IAM)', () => {
    const signer = new SignatureV4({
      service: 'execute-api',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      sha256: Sha256,
    });

    it('sends an AWS4-HMAC-SHA256 Authorization that signs the host, the path and the body, and no API key', async () => {
      const { fetch, sent } = answering(201, SIGNED);
      await new AuthBackend({ baseUrl: BASE, signer, fetch }).sign({ sub: 'user-42' });
      const [request] = sent;
      expect(request?.headers).toEqual({
        'content-type': 'application/json',
        authorization: expect.stringMatching(
          /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
        ),
        'x-amz-content-sha256': createHash('sha256').update('{"sub":"user-42"}').digest('hex'),
        'x-amz-date': expect.stringMatching(/^\d{8}T\d{6}Z$/),
      });
      // The same request signed at the same instant gives the same signature: what was signed is what was sent.
      const resigned = await signer.sign(
        {
          method: 'POST',
          protocol: 'https:',
          hostname: 'abc123.execute-api.eu-west-1.amazonaws.com',
          path: '/prod/auth/token',
          headers: { 'content-type': 'application/json', host: 'abc123.execute-api.eu-west-1.amazonaws.com' },
          body: request?.body,
        },
        { signingDate: signingDate(request?.headers['x-amz-date'] ?? '') },
      );
      expect(request?.headers.authorization).toBe(resigned.headers.authorization);
    });

    it('signs the port into the host when the URL has one', async () => {
      const seen: unknown[] = [];
      const recording = {
        sign: async (request: { headers: Record<string, string>; port?: number }) => (
          seen.push(request),
          { headers: { ...request.headers, authorization: 'AWS4-HMAC-SHA256 x' } }
        ),
      };
      const { fetch, sent } = answering(200, { revoked: 0 });
      await new AuthBackend({ baseUrl: 'http://localhost:3000/dev', signer: recording, fetch }).revoke({ sub: 'user-42' });
      expect(seen).toEqual([
        expect.objectContaining({ hostname: 'localhost', port: 3000, path: '/dev/auth/revoke', headers: expect.objectContaining({ host: 'localhost:3000' }) }),
      ]);
      // fetch sets Host itself; the signer's copy is not sent.
      expect(sent[0]?.headers).toEqual({ 'content-type': 'application/json', authorization: 'AWS4-HMAC-SHA256 x' });
    });
  });

  describe('errors', () => {
    it('a refusal carries the service code and status, and never the API key', async () => {
      const { fetch } = answering(409, { error: 'SESSION_LIMIT_REACHED', message: 'the subject holds MAX_SESSIONS live sessions' });
      const error = await rejection(new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch }).sign({ sub: 'user-42' }));
      expect(error).toMatchObject({
        code: 'SESSION_LIMIT_REACHED',
        status: 409,
        message: 'POST /auth/token answered 409 SESSION_LIMIT_REACHED: the subject holds MAX_SESSIONS live sessions',
      });
      expect(String(error.stack)).not.toContain(API_KEY);
    });

    it("a wrong key is API Gateway's own 403, HTTP_ERROR", async () => {
      const { fetch } = answering(403, { message: 'Forbidden' });
      expect(await rejection(new AuthBackend({ baseUrl: BASE, apiKey: 'wrong', fetch }).revoke({ sub: 'x' }))).toMatchObject({
        code: 'HTTP_ERROR',
        status: 403,
      });
    });

    it('a success answer that is not JSON is BAD_RESPONSE', async () => {
      const { fetch } = answering(200, 'ok');
      expect(await rejection(new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch }).introspect('t'))).toMatchObject({ code: 'BAD_RESPONSE', status: 200 });
    });

    it('a success answer that is a JSON array is BAD_RESPONSE', async () => {
      const { fetch } = answering(200, []);
      expect(await rejection(new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch }).revoke({ sub: 'x' }))).toMatchObject({ code: 'BAD_RESPONSE' });
    });

    it('an error answer whose body breaks off is still an error of its status', async () => {
      const broken = new ReadableStream({ start: (controller) => controller.error(new TypeError('terminated')) });
      const backend = new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch: async () => new Response(broken, { status: 503 }) });
      expect(await rejection(backend.revoke({ sub: 'x' }))).toMatchObject({ code: 'HTTP_ERROR', status: 503 });
    });

    it('an answer whose error body is not JSON is HTTP_ERROR with its status', async () => {
      const { fetch } = answering(502, '<html>Bad Gateway</html>');
      expect(await rejection(new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch }).introspect('t'))).toMatchObject({
        code: 'HTTP_ERROR',
        status: 502,
        message: 'POST /auth/introspect answered 502',
      });
    });

    it('no answer is NETWORK_ERROR, its cause kept', async () => {
      const cause = new TypeError('fetch failed');
      const backend = new AuthBackend({ baseUrl: BASE, apiKey: API_KEY, fetch: () => Promise.reject(cause) });
      expect(await rejection(backend.revoke({ sub: 'x' }))).toMatchObject({
        code: 'NETWORK_ERROR',
        status: undefined,
        cause,
        message: 'POST /prod/auth/revoke got no answer',
      });
    });
  });
});

/** x-amz-date (20250101T000000Z) as a Date. */
function signingDate(amzDate: string): Date {
  return new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
}
