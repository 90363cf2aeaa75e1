// What a browser page gets from the API, checked against docs/openapi.yaml as request() checks its own answers. A
// page's event handler cannot fail a test: the check registers jest hooks that do, so a browser test calls it once,
// at the top level of its file, and watches each page it opens.
import { expect } from '@jest/globals';
import { type Page, type Response } from 'playwright-core';
import { checkAgainstContract, isApiUrl } from './start-api';

export interface PageAnswerOptions {
  /**
   * Paths on the API's origin whose answers are not the service's, by name: the static files `npm start`'s gateway
   * serves itself (isApiUrl counts /demo/ as the HTTP API's). Matched exactly, query left out; every other is checked.
   */
  staticPaths?: readonly string[];
  /** The fewest answers, body included, that the file's pages must have had checked: a check that never ran fails the file. */
  atLeast: number;
}

/** Statuses that never have a body: Chromium keeps none for the check to read, and there is none to check. */
const NO_BODY = new Set([204, 304]);

/**
 * Checks every answer a watched page gets from an API startApi started. Each test fails on what was found wrong with
 * the answers received while it ran (afterEach); the file fails if fewer than `atLeast` were checked (afterAll).
 *
 * What goes unchecked: Chromium's CORS preflights, and the answers it withholds from a page (another origin's, a
 * simple request's to an API-key route), reach no `response` event: it keeps them from its tooling as from the page.
 * A body the page dropped unread (the client cancels a refused answer's before it refreshes and retries) is kept by
 * Chromium no more than by the page: such an answer is checked by its status, headers and media type alone, and not
 * counted towards `atLeast`.
 * @returns watch: checks the page's answers from then on (call it before the page loads anything)
 */
export function checkPageAnswers({ staticPaths = [], atLeast }: PageAnswerOptions): (page: Page) => void {
  /** What checking each answer found: a problem, or undefined. */
  const checks: Array<Promise<string | undefined>> = [];
  let checked = 0;

  function check(response: Response): void {
    const url = response.url();
    // The test's own pages are on no API; the gateway's static files are on its origin, but no operation's.
    if (!isApiUrl(url) || staticPaths.includes(new URL(url).pathname)) return;
    const method = response.request().method();
    const status = response.status();
    const body = response.body().then(
      (bytes) => bytes.toString('utf8'),
      () => (NO_BODY.has(status) ? '' : undefined),
    );
    checks.push(
      body.then((body) => {
        const problem = problemOf(url, method, { status, headers: response.headers(), body });
        if (problem === undefined && body !== undefined) checked += 1;
        return problem;
      }),
    );
  }

  afterEach(async () => {
    const problems = await Promise.all(checks.splice(0));
    expect(problems.filter((problem) => problem !== undefined)).toEqual([]);
  });

  afterAll(() => {
    // The pages' answers were checked, not skipped.
    expect(checked).toBeGreaterThanOrEqual(atLeast);
  });

  return (page) => {
    page.on('response', check);
  };
}

function problemOf(url: string, method: string, answer: Parameters<typeof checkAgainstContract>[2]): string | undefined {
  try {
    checkAgainstContract(url, method, answer);
    return undefined;
  } catch (error) {
    return `${method} ${url}: ${(error as Error).message}`;
  }
}
