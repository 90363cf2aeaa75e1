// `npm run bench`: starts a redis-server of its own, measures the warm handlers in a child process, then
// cold start, and writes latest.md, latest.svg and latest.json.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { loadConfig } from '../../shared/config';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { TokenService } from '../../shared/auth/tokens';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { buildBundles, LAMBDA_BUILD, measureCold } from './cold';
import { childEnv, machineInfo, redisVersionOf, repoRoot, startRedisServer } from './env';
import type { BenchOptions } from './options';
import type { WarmMessage, WarmResult, WarmSettings } from './protocol';
import { evaluateTargets, markdown, svg, type BenchResult } from './report';

export interface BenchRun {
  result: BenchResult;
  markdown: string;
  files: string[];
}

/** Defaults of bench/lib/options.ts at or above which a run is not called a smoke run. */
const SMOKE_BELOW = { iterations: 2000, coldRuns: 5 };

function runWarm(file: string, env: Record<string, string>, settings: WarmSettings, progress: (line: string) => void): Promise<WarmResult> {
  return new Promise((resolve, reject) => {
    // stdout to /dev/null: the handlers' log lines are written (and paid for), not collected.
    // execArgv: [] so that a loader this process runs under (tsx, ts-node) is not measured along.
    const child = fork(file, [], {
      env: childEnv({ ...env, BENCH_WARM: JSON.stringify(settings) }),
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let settled = false;
    child.on('message', (message: WarmMessage) => {
      if (message.type === 'progress') progress(`  ${message.line}`);
      else if (message.type === 'result') {
        settled = true;
        resolve(message.result);
      } else {
        settled = true;
        // Its connections may still be open (a client that reconnects keeps a process alive): end it.
        child.kill();
        reject(new Error(`warm benchmark failed: ${message.message}`));
      }
    });
    child.on('error', (error) => {
      if (!settled) reject(error);
      settled = true;
    });
    child.on('exit', (code, signal) => {
      if (!settled) reject(new Error(`warm benchmark exited early (${signal ?? code})`));
      settled = true;
    });
  });
}

export async function runBench(options: BenchOptions, command = 'npm run bench'): Promise<BenchRun> {
  const root = repoRoot();
  const { progress } = options;
  // The parent's own connection (tokens for cold-start events) needs no 'redis connected' lines.
  setLogLevel('warn');
  const work = mkdtempSync(join(tmpdir(), 'revocable-jwt-bench-'));
  const server = await startRedisServer();
  const parentRedis = new RedisConnection({ url: server.url, timeoutMs: 5000 });
  try {
    const redisVersion = redisVersionOf(await (await server.admin()).info('server'));
    const machine = machineInfo(root, redisVersion);
    const secret = randomBytes(48).toString('base64url');
    const env = { REDIS_URL: server.url, JWT_SECRET: secret, LOG_LEVEL: 'info', REDIS_TIMEOUT_MS: '1000' };

    progress(`bench: redis-server ${redisVersion} on port ${server.port}; building bundles in ${work}`);
    for (const entry of ['warm', 'first-invoke']) {
      await build({ ...LAMBDA_BUILD, absWorkingDir: root, entryPoints: [join(root, 'bench', 'procs', `${entry}.ts`)], outfile: join(work, `${entry}.js`) });
    }
    const { core, redisMeta, coreWithClient, coreWithClientUnpatched, bundles } = await buildBundles(root, work);

    const settings: WarmSettings = {
      iterations: options.iterations,
      batch: options.batch,
      warmup: options.warmup,
      inFlight: options.inFlight,
      flightCalls: options.flightCalls,
      flightRounds: options.flightRounds,
    };
    progress('bench: warm handlers and their floors');
    const warm = await runWarm(join(work, 'warm.js'), env, settings, progress);

    // Tokens for the cold-start invocations, issued as the handlers would (same config, same Redis).
    const config = loadConfig(env);
    const sessions = new SessionStore(parentRedis);
    const tokens = new TokenService(parentRedis, sessions, config.tokens);
    let coldSubject = 0;
    const issue = () => tokens.issue({ sub: `bench-cold-${(coldSubject += 1)}`, claims: { role: 'user' }, ttlSeconds: 900 });
    const logoutEvent = async () => {
      const issued = await issue();
      const iat = issued.expiresAt - issued.expiresIn;
      return proxyEvent({
        method: 'POST',
        path: '/auth/logout',
        authorizer: {
          sub: issued.sub,
          jti: issued.jti,
          sid: issued.sid,
          iat: String(iat),
          exp: String(issued.expiresAt),
          customClaims: '{"role":"user"}',
        },
      });
    };
    const signEvent = () =>
      proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `bench-cold-${(coldSubject += 1)}`, claims: { role: 'user' } }) });
    const reader = await issue();
    const authEvent = tokenAuthorizerEvent(`Bearer ${reader.token}`);

    const cold = {
      core,
      redisMeta,
      coreWithClient,
      coreWithClientUnpatched,
      bundles,
      ...(await measureCold({
        root,
        dir: work,
        core,
        coreWithClient,
        coreWithClientUnpatched,
        bundles,
        loaded: ['authorizer', 'sign', 'logout'],
        env,
        runs: options.coldRuns,
        events: {
          authorizer: async () => [authEvent, authEvent],
          sign: async () => [signEvent(), signEvent()],
          logout: async () => [await logoutEvent(), await logoutEvent()],
        },
        firstInvokeEntry: join(work, 'first-invoke.js'),
        progress,
      })),
    };

    const result: BenchResult = {
      machine,
      command,
      settings: { ...settings, coldRuns: options.coldRuns },
      smoke: options.iterations < SMOKE_BELOW.iterations || options.coldRuns < SMOKE_BELOW.coldRuns,
      warm,
      cold,
      targets: evaluateTargets(warm, cold, options.inFlight),
    };
    // Paths on this machine mean nothing elsewhere.
    for (const bundle of [cold.core, cold.redisMeta, cold.coreWithClient, cold.coreWithClientUnpatched, ...cold.bundles])
      bundle.file = relative(work, bundle.file);

    const text = markdown(result);
    mkdirSync(options.out, { recursive: true });
    const files = [join(options.out, 'latest.md'), join(options.out, 'latest.svg'), join(options.out, 'latest.json')];
    writeFileSync(files[0] as string, `${text}\n`);
    writeFileSync(files[1] as string, svg(result));
    writeFileSync(files[2] as string, `${JSON.stringify(result, null, 2)}\n`);
    return { result, markdown: text, files };
  } finally {
    await parentRedis.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
