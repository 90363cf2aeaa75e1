// Runs `npm start`'s script (scripts/start.mjs → serverless offline) as a child in its own process group,
// waits for its banner, and keeps everything it prints so a test can inspect the logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CONFIG_VARIABLES } from '../../shared/config';
import { assertMatchesContract, type Api } from '../../testkit/openapi';

export const REPO_ROOT = join(__dirname, '..', '..');
const START_SCRIPT = join(REPO_ROOT, 'scripts', 'start.mjs');

/** Startup is ~5 s (esbuild bundling, then offline); allow for a busy machine. */
const READY_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 10_000;

/** Variables the service or the script read: none may leak in from the environment jest runs in. */
const CONTROLLED_VARIABLES = [...CONFIG_VARIABLES, 'PORT', 'LAMBDA_PORT', 'SIGN_API_KEY', 'ESBUILD_WORK_FOLDER', 'ESBUILD_WATCH_PATTERN'];

/** Matches no file: a test runs against the bundle made at startup, whatever is edited meanwhile. */
const WATCH_NOTHING = '.e2e-tests-watch-no-files/**';

export interface Banner {
  /** The REST API, e.g. http://localhost:3000/dev */
  baseUrl: string;
  /** The HTTP API, e.g. http://localhost:3000 */
  httpApiUrl: string;
  apiKey: string;
  redisUrl: string;
}

export interface RunningApi {
  readonly child: ChildProcess;
  readonly banner: Banner;
  /** Everything the script and serverless offline have written so far, stdout and stderr. */
  output(): string;
  /** Resolves with how the script exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole process group: the cleanup of last resort. */
  killGroup(): void;
  /** For afterAll: SIGTERM to the child, so the script stops its own children and removes its bundle folder; SIGKILL to the group if it takes too long. */
  stop(): Promise<void>;
}

export function apiEnvironment(variables: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONTROLLED_VARIABLES) delete env[name];
  return { ...env, ...variables };
}

/** `npm start` itself, or the script it runs. */
export type Launcher = 'npm' | 'script';

export function runStartScript(
  env: NodeJS.ProcessEnv,
  launcher: Launcher = 'script',
  scriptArgs: string[] = [],
): { child: ChildProcess; output: () => string } {
  const [command, args] = launcher === 'npm' ? ['npm', ['start', '--', ...scriptArgs]] : [process.execPath, [START_SCRIPT, ...scriptArgs]];
  // detached: a process group of its own, so a test can end offline and redis-server along with it.
  const child = spawn(command, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return { child, output: () => output };
}

export async function startApi(variables: Record<string, string>, launcher: Launcher = 'script'): Promise<RunningApi> {
  const { child, output } = runStartScript(apiEnvironment({ ESBUILD_WATCH_PATTERN: WATCH_NOTHING, ...variables }), launcher);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const killGroup = () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // ESRCH: the group is already gone.
    }
  };

  const banner = await new Promise<Banner>((resolve, reject) => {
    const poll = setInterval(() => {
      const parsed = parseBanner(output());
      if (parsed !== undefined) finish(() => resolve(parsed));
    }, 50);
    const timer = setTimeout(
      () => finish(() => reject(new Error(`start script printed no banner within ${READY_TIMEOUT_MS} ms:\n${output()}`))),
      READY_TIMEOUT_MS,
    );
    void exited.then(({ code, signal }) => finish(() => reject(new Error(`start script exited (${signal ?? code}) before it was ready:\n${output()}`))));
    function finish(settle: () => void) {
      clearInterval(poll);
      clearTimeout(timer);
      settle();
    }
  }).catch((error: unknown) => {
    killGroup();
    throw error;
  });
  runningBanners.add(banner);

  const stop = async () => {
    runningBanners.delete(banner);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(killGroup, STOP_TIMEOUT_MS);
    await exited;
    // Under npm the script notices within a moment that npm is gone; give it that moment.
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (groupAlive(child.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    clearTimeout(timer);
    // Whatever is left (nothing, if the script works) goes too.
    killGroup();
  };

  return { child, banner, output, exited, killGroup, stop };
}

/** True while any process of the group still exists (signal 0 only checks). */
export function groupAlive(pgid: number | undefined): boolean {
  if (pgid === undefined) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function parseBanner(text: string): Banner | undefined {
  const baseUrl = /^ +API +(http\S+)$/m.exec(text)?.[1];
  const httpApiUrl = /^ +HTTP API +(http\S+)$/m.exec(text)?.[1];
  const apiKey = /^ +x-api-key +(\S+)/m.exec(text)?.[1];
  const redisUrl = /^ +Redis +(redis\S+)/m.exec(text)?.[1];
  if (baseUrl === undefined || httpApiUrl === undefined || apiKey === undefined || redisUrl === undefined) return undefined;
  return { baseUrl, httpApiUrl, apiKey, redisUrl };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  body: unknown;
}

export interface RequestOptions {
  /**
   * Why this answer is not the service's, so not checked against docs/openapi.yaml: offline's own 404 for a route
   * the API does not have, offline's Lambda invoke endpoint. Every other answer is checked.
   */
  outsideContract?: string;
}

/** The answer, once docs/openapi.yaml has been found to document it (checkAgainstContract), unless `outsideContract` says why not. */
export async function request(url: string, init: RequestInit = {}, { outsideContract }: RequestOptions = {}): Promise<JsonResponse> {
  if (outsideContract?.trim() === '') throw new Error("request(): outsideContract must say why the answer is not the service's");
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  if (outsideContract === undefined) checkAgainstContract(url, init.method ?? 'GET', { status: response.status, headers: response.headers, body: text });
  let body: unknown;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** The APIs startApi started and did not stop yet: a URL's base says which of them answered, and on which API. */
const runningBanners = new Set<Banner>();

/** Whether the URL is on an API startApi started: the pages of a browser test are not. */
export function isApiUrl(url: string): boolean {
  return locate(url) !== undefined;
}

function locate(url: string): { api: Api; path: string } | undefined {
  for (const { baseUrl, httpApiUrl } of runningBanners) {
    // The REST API's base (…/dev) starts with the HTTP API's: it goes first.
    if (url.startsWith(`${baseUrl}/`)) return { api: 'rest', path: url.slice(baseUrl.length) };
    if (url.startsWith(`${httpApiUrl}/`)) return { api: 'http', path: url.slice(httpApiUrl.length) };
  }
  return undefined;
}

/**
 * Throws, naming the operation, the status and what is wrong, unless docs/openapi.yaml documents this answer from `url`.
 * A body that was not seen (undefined) is not checked.
 */
export function checkAgainstContract(
  url: string,
  method: string,
  answer: { status: number; headers: Headers | Record<string, string>; body: string | undefined },
): void {
  const located = locate(url);
  if (located === undefined) throw new Error(`${method} ${url} is on no API startApi started: if the answer is not the service's, say why (outsideContract)`);
  assertMatchesContract({ ...located, method, ...answer });
}
