// The one error the client throws. `code` is stable: the service's own `error` code when it gave one
// (REFRESH_TOKEN_INVALID, SESSION_NOT_FOUND, STORE_UNAVAILABLE, …), else one of the client's below.
// A message never holds a token: it names the route, the status and the answer's message, with anything
// shaped like a token (a JWT or a refresh token: dot-separated base64url runs) cut out, as a gateway may echo
// a header it refused.

/** Codes the client gives when the service gave none. */
export type ClientErrorCode =
  /** The request never got an answer (fetch rejected: offline, DNS, refused, CORS). */
  | 'NETWORK_ERROR'
  /** A success answer that is not what the route returns: not JSON, or a field missing. */
  | 'BAD_RESPONSE'
  /** An error status whose body names no code: API Gateway's own answers, such as `{"message":"Forbidden"}`. */
  | 'HTTP_ERROR'
  /**
   * The session holds no tokens (never started, logged out, or ended), or no longer the session a call was for: a
   * start() (or another tab sharing the storage) put another one in its place while the call waited.
   */
  | 'SIGNED_OUT';

export class RevocableJwtError extends Error {
  /** The service's `error` code, or a ClientErrorCode. */
  readonly code: string;
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;

  constructor(message: string, options: { code: string; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.status = options.status;
  }
}

const TOKEN_SHAPED = /[\w-]{8,}(?:\.[\w-]{8,}){2,}/g;

/** The error for a non-success answer: its `{ error, message }` body when the service wrote one. */
export async function errorFromResponse(route: string, response: Response): Promise<RevocableJwtError> {
  const body = await response.text().then(
    (text) => parseJson(text),
    () => undefined,
  );
  const service = isRecord(body) && typeof body.error === 'string' ? body.error : undefined;
  const said = isRecord(body) && typeof body.message === 'string' ? `: ${body.message.replace(TOKEN_SHAPED, '[redacted]')}` : '';
  return new RevocableJwtError(`${route} answered ${response.status}${service === undefined ? '' : ` ${service}`}${said}`, {
    code: service ?? 'HTTP_ERROR',
    status: response.status,
  });
}

/** A fetch that never got an answer; an abort (the caller's own signal) is not a network error and passes as it is. */
export function networkError(route: string, cause: unknown): unknown {
  if (!(cause instanceof TypeError)) return cause;
  return new RevocableJwtError(`${route} got no answer`, { code: 'NETWORK_ERROR', cause });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
