// The README's walkthrough, run as a reader would run it: its shell block, as written, against `npm start`. Only
// the line that starts the server is left out (the test starts it) and API points at the test's server. So the
// walkthrough cannot drift from the service: sign, refresh, the same pair on a retry, the used refresh token
// replayed after the grace window, and every token of that session refused. Each answer curl gets passes a proxy
// that checks it against docs/openapi.yaml.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readDoc } from '../../testkit/docs';
import { freePort } from '../../testkit/redis-server';
import { startContractProxy, type ContractProxy } from './contract-proxy';
import { startApi, type RunningApi } from './start-api';

jest.setTimeout(90_000);

const SIGN_API_KEY = 'local-sign-key-change-me-0123456789';

/** The shell block under the README's "### Walkthrough". */
function walkthroughScript(): string {
  const section = /### Walkthrough\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readDoc('README.md'))?.[1];
  if (section === undefined) throw new Error('README.md has no "### Walkthrough" section with a sh block');
  return section;
}

let api: RunningApi | undefined;
let proxy: ContractProxy | undefined;
afterAll(async () => {
  await proxy?.close();
  await api?.stop();
});

test("the README's walkthrough: sign, refresh, retry, replay after the grace window, then every token of the session refused", async () => {
  const script = walkthroughScript();
  expect(script).toMatch(/^npm start &/m);
  const port = await freePort();
  api = await startApi({ PORT: String(port), LAMBDA_PORT: String(await freePort()), SIGN_API_KEY });
  const restApi = new URL(api.banner.baseUrl);
  proxy = await startContractProxy(restApi.origin);
  const runnable = script.replace(/^npm start &.*$/m, '').replace(/^API=.*$/m, `API=${proxy.url}${restApi.pathname}`);
  // Not spawnSync: the proxy answers curl from this process. No stdin: on a socket, bash would take itself for an
  // ssh session and read bashrc.
  const child = spawn('bash', ['-euo', 'pipefail', '-c', runnable], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    env: { ...process.env, SIGN_API_KEY },
  });
  const run = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  await once(child, 'close');
  expect(run.stderr).toBe('');
  const lines = run.stdout.trim().split('\n');
  // 2. /me and the session list, 4. the same pair, 5. the replay refused, 6. both access tokens and the newest refresh token refused.
  expect(lines).toHaveLength(7);
  expect(JSON.parse(lines[0] as string)).toMatchObject({ sub: 'user-42', claims: { role: 'admin' } });
  expect(JSON.parse(lines[1] as string)).toMatchObject({ sessions: [{ device: 'Firefox on macOS', current: true }] });
  expect(lines[2]).toBe('same pair');
  expect(lines[3]).toBe('{"error":"REFRESH_TOKEN_INVALID","message":"refresh token is not valid: sign in again"} 401');
  expect(lines.slice(4)).toEqual(['401', '401', '{"error":"REFRESH_TOKEN_INVALID","message":"refresh token is not valid: sign in again"} 401']);
  // Every curl line's answer, checked: 1. sign, 2. /me and the sessions, 3. the refresh, 4. its retry, 5. the replay, 6. three refusals.
  expect(proxy.answers.filter(({ problem }) => problem !== undefined)).toEqual([]);
  expect(proxy.answers).toHaveLength(9);
});
