// What both faces share: sending a request through the platform's fetch, and reading the answer the route
// promises or the error it gave instead.
import { errorFromResponse, isRecord, networkError, parseJson, RevocableJwtError } from './errors';

/** The platform's fetch, or a stand-in: it is only ever given a Request. */
export type FetchLike = (request: Request) => Promise<Response>;

export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** `baseUrl` with `path` after it, whether or not the base ends with a slash. */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

/** How errors name a request: its method and path, never its query or headers. */
export function routeOf(request: Request): string {
  return `${request.method} ${new URL(request.url).pathname}`;
}

/** The fetch given, or the platform's, called as a plain function (a browser's refuses any other `this`). */
export function fetchOf(given: FetchLike | undefined): FetchLike {
  return (request) => (given ?? globalThis.fetch)(request);
}

export async function send(fetch: FetchLike, request: Request): Promise<Response> {
  try {
    return await fetch(request);
  } catch (error) {
    throw networkError(routeOf(request), error);
  }
}

/** A success answer's JSON object, or the error of any other answer. */
export async function jsonOf(route: string, response: Response): Promise<Record<string, unknown>> {
  if (!response.ok) throw await errorFromResponse(route, response);
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw networkError(route, error);
  }
  const body = parseJson(text);
  if (!isRecord(body))
    throw new RevocableJwtError(`${route} answered ${response.status} without a JSON object`, { code: 'BAD_RESPONSE', status: response.status });
  return body;
}

/** Nothing for a success answer (a 204), the error of any other. */
export async function emptyOf(route: string, response: Response): Promise<void> {
  if (!response.ok) throw await errorFromResponse(route, response);
}
