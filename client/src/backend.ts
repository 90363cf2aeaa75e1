// AuthBackend: a trusted backend's side, on the REST API (the trusted routes live only there): it starts
// sessions, revokes them and introspects tokens, with the API key or a SigV4 signature (IAM).
import { fetchOf, JSON_HEADERS, joinUrl, jsonOf, send, type FetchLike } from './http';
import type { IntrospectRequest, IntrospectResponse, RevokeRequest, RevokeResponse, SignRequest, SignResponse } from './wire';

/** The request a SigV4 signer signs: @smithy/types' HttpRequest, as much of it as is used here. */
export interface SigningRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * A SigV4 signer: `new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 })` from
 * @smithy/signature-v4 (an optional peer dependency; typed by shape here, so this client does not import it).
 */
export interface RequestSigner {
  sign(request: SigningRequest): Promise<{ headers: Record<string, string> }>;
}

interface BaseOptions {
  /** The REST API with its stage, e.g. `https://<id>.execute-api.<region>.amazonaws.com/prod`. */
  baseUrl: string;
  /** The platform's fetch by default. */
  fetch?: FetchLike;
}

/** The API key (`x-api-key`), or IAM through a SigV4 signer: one of them. */
export type AuthBackendOptions = BaseOptions & ({ apiKey: string; signer?: never } | { signer: RequestSigner; apiKey?: never });

/** Sign's answer when a refresh token was asked for. */
export type SignResponseWithRefresh = SignResponse & Required<Pick<SignResponse, 'refreshToken' | 'refreshExpiresIn'>>;

export class AuthBackend {
  private readonly baseUrl: string;
  private readonly send: FetchLike;
  private readonly authenticate: (url: URL, body: string) => Promise<Record<string, string>>;

  constructor(options: AuthBackendOptions) {
    this.baseUrl = options.baseUrl;
    this.send = fetchOf(options.fetch);
    const { apiKey, signer } = options;
    this.authenticate = signer === undefined ? async () => ({ ...JSON_HEADERS, 'x-api-key': apiKey }) : (url, body) => signedHeaders(signer, url, body);
  }

  /** POST /auth/token: starts a session for `sub`, with a refresh token when `refresh` is true. */
  sign(request: SignRequest & { refresh: true }): Promise<SignResponseWithRefresh>;
  sign(request: SignRequest): Promise<SignResponse>;
  async sign(request: SignRequest): Promise<SignResponse> {
    return (await this.post('/auth/token', request)) as unknown as SignResponse;
  }

  /** POST /auth/revoke: every session of a subject, one session, or one access token. */
  async revoke(target: RevokeRequest): Promise<RevokeResponse> {
    return (await this.post('/auth/revoke', target)) as unknown as RevokeResponse;
  }

  /** POST /auth/introspect: whether an access token is live, and whose. */
  async introspect(token: string): Promise<IntrospectResponse> {
    const body: IntrospectRequest = { token };
    return (await this.post('/auth/introspect', body)) as unknown as IntrospectResponse;
  }

  private async post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const url = new URL(joinUrl(this.baseUrl, path));
    const text = JSON.stringify(body);
    const request = new Request(url, { method: 'POST', headers: await this.authenticate(url, text), body: text });
    return jsonOf(`POST ${path}`, await send(this.send, request));
  }
}

async function signedHeaders(signer: RequestSigner, url: URL, body: string): Promise<Record<string, string>> {
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    path: url.pathname,
    // SigV4 signs the Host header: API Gateway checks it.
    headers: { ...JSON_HEADERS, host: url.host },
    body,
  });
  // fetch sends the same Host itself, from the URL; a browser refuses to be told it.
  return Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name.toLowerCase() !== 'host'));
}
