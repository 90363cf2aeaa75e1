// @ts-check
// `npm start`: serves the API locally with serverless offline, behind a small gateway (local-gateway.js)
// that applies API Gateway's CORS rules, which offline gets wrong, and serves the demo page at /demo/
// (demo-page.js: demo/, bundled with the typed client at startup).
//
//   PORT          HTTP port (default 3000): the REST API under /<stage>, e.g. http://localhost:3000/dev/me,
//                 the HTTP API at the root, e.g. http://localhost:3000/me. Offline itself runs on a free port.
//   LAMBDA_PORT   offline's Lambda invoke endpoint (`aws lambda invoke --endpoint-url`); default a free port
//   REDIS_URL     Redis to use; when unset, a throwaway redis-server is started on a free port and stopped on exit
//   SIGN_API_KEY  x-api-key for POST /auth/token; when unset, a random one is generated and printed
//   JWT_SECRET    (or JWT_KEYS) when unset, handlers use the public development secret, accepted under offline only
//   CORS_ORIGINS  origins allowed to call the Bearer routes and POST /auth/refresh from a page, e.g. http://localhost:5173; unset: none
//
// A port given in PORT or LAMBDA_PORT that is invalid or in use stops the script at once, naming the variable;
// so do offline's own --httpPort, --lambdaPort and --host, which would bypass the gateway.
// Arguments are passed on to `serverless offline start`, e.g. `npm start -- --stage local`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import cors from '../deploy/cors.js';
import demoPage from './demo-page.js';
import localGateway from './local-gateway.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SERVERLESS_BIN = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const READY_LINE = /Server ready: http:\/\//;
const REDIS_START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;

/** @typedef {import('node:child_process').ChildProcess} ChildProcess */

/** @type {ChildProcess | undefined} */
let redisServer;
/** @type {ChildProcess | undefined} */
let offline;
/** @type {string | undefined} */
let workFolder;
let stopping = false;

function fail(/** @type {string} */ message) {
  console.error(`\nnpm start: ${message}\n`);
}

/**
 * Offline's own options for what this script owns: passed on, they would put offline where the gateway is not
 * (its CORS unfiltered, the banner wrong). The variables say the same.
 */
const OWNED_OPTIONS = {
  '--httpPort': 'set PORT instead',
  '--lambdaPort': 'set LAMBDA_PORT instead',
  '--host': 'npm start serves on localhost only',
};

async function main() {
  const args = process.argv.slice(2);
  for (const arg of args) {
    const option = Object.keys(OWNED_OPTIONS).find((name) => arg === name || arg.startsWith(`${name}=`));
    if (option !== undefined)
      throw new Error(`${option} is not passed on to serverless offline: ${OWNED_OPTIONS[/** @type {keyof typeof OWNED_OPTIONS} */ (option)]}`);
  }
  const port = portFrom('PORT', '3000');
  const stage = stageFrom(args);
  // Validated as the functions will (a ConfigError naming CORS_ORIGINS), before anything starts.
  const origins = cors.parseOrigins(process.env.CORS_ORIGINS);

  // The API does not need the demo page: a page that does not build is said, and not served.
  const files = await demoPage.buildDemoPage().catch((/** @type {unknown} */ error) => {
    fail(`the demo page did not build, and is not served: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  });

  // The ports first: a clash fails here, in one line, not in a stack trace from offline after startup.
  const offlinePort = await freePort();
  const gateway = localGateway.createLocalGateway({ upstreamPort: offlinePort, stage, origins, files });
  await listen(gateway, Number(port), 'PORT');
  const lambdaPort = portFrom('LAMBDA_PORT', undefined) ?? String(await freePort());
  // Only a check: offline binds it itself, a moment later.
  const probe = await listen(createServer(), Number(lambdaPort), 'LAMBDA_PORT');
  await new Promise((resolve) => probe.close(resolve));

  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(signal, () => void shutdown(signal, 128 + constants.signals[signal]));
  }
  // npm runs this under `sh -c`; a SIGTERM sent to npm alone kills that shell, which does not pass it on.
  // Being re-parented is the only sign of it: stop then, rather than leave offline and Redis running.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown('SIGTERM', 143);
  }, 250).unref();

  let redisUrl = nonEmpty(process.env.REDIS_URL);
  if (redisUrl === undefined) {
    const redisPort = await freePort();
    await startRedisServer(redisPort);
    redisUrl = `redis://127.0.0.1:${redisPort}`;
  }
  if (stopping) return;

  // Empty counts as unset: an apiKeys entry without a value makes serverless offline accept its public default key.
  const signApiKey = nonEmpty(process.env.SIGN_API_KEY) ?? randomBytes(20).toString('hex');

  // A private bundle folder, so `serverless package` or a second server cannot delete this one's handlers.
  let workFolderSetting = nonEmpty(process.env.ESBUILD_WORK_FOLDER);
  if (workFolderSetting === undefined) {
    workFolder = mkdtempSync(join(tmpdir(), 'revocable-jwt-offline-'));
    workFolderSetting = relative(ROOT, workFolder);
  }

  offline = spawn(process.execPath, [SERVERLESS_BIN, 'offline', 'start', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(offlinePort),
      LAMBDA_PORT: lambdaPort,
      REDIS_URL: redisUrl,
      SIGN_API_KEY: signApiKey,
      ESBUILD_WORK_FOLDER: workFolderSetting,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  offline.once('exit', (code, signal) => {
    offline = undefined;
    if (!stopping) {
      fail(`serverless offline exited (${signal ?? `code ${code}`})`);
      void shutdown(undefined, code === 0 || code === null ? 1 : code);
    }
  });

  // Offline prints its routes with its own port, which skips the gateway: show the one to call instead,
  // padded to the same width so that its table stays aligned.
  const offlineAddress = new RegExp(`localhost:${offlinePort}(\\S*)( *)`, 'g');
  const showPublicPort = (/** @type {string} */ text) => text.replace(offlineAddress, (found, path) => `localhost:${port}${path}`.padEnd(found.length));
  offline.stdout?.setEncoding('utf8');
  offline.stdout?.on('data', (/** @type {string} */ chunk) => process.stdout.write(showPublicPort(chunk)));

  // Offline reports readiness on stderr; relay everything and print the banner once it is up.
  /** @type {string | undefined} Stderr so far, until the ready line is seen. */
  let beforeReady = '';
  offline.stderr?.setEncoding('utf8');
  offline.stderr?.on('data', (/** @type {string} */ chunk) => {
    process.stderr.write(showPublicPort(chunk));
    if (beforeReady === undefined) return;
    beforeReady = (beforeReady + chunk).slice(-4096); // the line may arrive split across chunks
    if (READY_LINE.test(beforeReady)) {
      beforeReady = undefined;
      printBanner({ origin: `http://localhost:${port}`, stage, signApiKey, redisUrl, ownRedis: redisServer !== undefined, origins, demo: files !== undefined });
    }
  });
}

/**
 * @param {{ origin: string, stage: string, signApiKey: string, redisUrl: string, ownRedis: boolean, origins: string[], demo: boolean }} info
 */
function printBanner({ origin, stage, signApiKey, redisUrl, ownRedis, origins, demo }) {
  const base = `${origin}/${stage}`;
  const secret =
    nonEmpty(process.env.JWT_KEYS) !== undefined
      ? 'from JWT_KEYS'
      : nonEmpty(process.env.JWT_SECRET) !== undefined
        ? 'from JWT_SECRET'
        : 'public development secret (offline only)';
  const lines = [
    '',
    '  revocable-jwt is up',
    `    API          ${base}`,
    `    HTTP API     ${origin}`,
    `    Demo         ${demo ? `${origin}/demo/   (sign in as a demo user, no password)` : 'not served (it did not build, see above)'}`,
    `    x-api-key    ${signApiKey}${nonEmpty(process.env.SIGN_API_KEY) === undefined ? '   (generated for this run)' : ''}`,
    `    Redis        ${redactUrl(redisUrl)}${ownRedis ? '   (started for this run, stopped on exit)' : ''}`,
    `    JWT secret   ${secret}`,
    `    CORS         ${origins.length === 0 ? 'none (CORS_ORIGINS is unset)' : origins.join(', ')}`,
    '',
    `  curl -s -X POST ${base}/auth/token -H 'x-api-key: ${signApiKey}' -H 'content-type: application/json' -d '{"sub":"alice"}'`,
    `  curl -s ${base}/me -H "Authorization: Bearer $TOKEN"`,
    `  curl -s -X POST ${base}/auth/logout -H "Authorization: Bearer $TOKEN"`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Stops offline, then the redis-server this script started, then exits.
 * @param {NodeJS.Signals | undefined} signal the signal to forward to offline, if it is still running
 * @param {number} exitCode
 */
async function shutdown(signal, exitCode) {
  if (stopping) return;
  stopping = true;
  await stopChild(offline, signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
  await stopChild(redisServer, 'SIGTERM');
  if (workFolder !== undefined) rmSync(workFolder, { recursive: true, force: true });
  process.exit(exitCode);
}

/**
 * @param {ChildProcess | undefined} child
 * @param {NodeJS.Signals} signal
 */
async function stopChild(child, signal) {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Starts redis-server as `redisServer`, so a shutdown even during startup stops it. @param {number} port */
async function startRedisServer(port) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  redisServer = child;
  // Kept only to explain a failed start; capped, since the pipes stay open for the server's lifetime.
  let output = '';
  const keep = (/** @type {Buffer} */ chunk) => {
    if (output.length < 8192) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => {
      redisServer = undefined; // never started: nothing to stop
      const notInstalled = /** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT';
      reject(
        new Error(
          notInstalled
            ? 'REDIS_URL is unset and redis-server is not on PATH.\n' +
                '  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server, macOS: brew install redis)\n' +
                '  or point REDIS_URL at a running server, e.g. REDIS_URL=redis://127.0.0.1:6379 npm start'
            : `cannot start redis-server: ${error.message}`,
        ),
      );
    });
  });
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  while (!(await answersPing(port))) {
    if (stopping) return;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.once('exit', (code, signal) => {
    // Without its Redis the server is useless: stop it too.
    if (!stopping) {
      fail(`the redis-server started for this run exited (${signal ?? `code ${code}`}); stopping`);
      void shutdown('SIGTERM', code === 0 || code === null ? 1 : code);
    }
  });
  return child;
}

/** @param {number} port */
function answersPing(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) socket.end();
    });
    socket.on('close', () => resolve(reply.startsWith('+PONG')));
    socket.on('error', () => undefined);
  });
}

/**
 * Listens on the port, or fails with one line naming the variable it came from.
 * @template {import('node:net').Server} S
 * @param {S} server @param {number} port @param {string} variable
 * @returns {Promise<S>}
 */
function listen(server, port, variable) {
  return new Promise((resolve, reject) => {
    server.once('error', (/** @type {NodeJS.ErrnoException} */ error) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `${variable} ${port} is in use; set ${variable} to a free port`
            : `cannot listen on ${variable} ${port}: ${error.message}`,
        ),
      ),
    );
    // Where offline listens by default.
    server.listen(port, 'localhost', () => resolve(server));
  });
}

/**
 * A port number from the variable, or the fallback when it is unset.
 * @template {string | undefined} F
 * @param {string} variable @param {F} fallback
 * @returns {string | F}
 */
function portFrom(variable, fallback) {
  const raw = nonEmpty(process.env[variable]);
  if (raw === undefined) return fallback;
  const port = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || port < 1 || port > 65535) throw new Error(`${variable} must be a port number from 1 to 65535, got "${raw}"`);
  return String(port);
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * Where REDIS_URL points, fit to print: scheme, host, port, database, and `***@` for any credentials. A URL
 * with a fragment, a query or another path is not shown at all: that is a password cut at an unencoded
 * # ? or /, whose rest the parser took for those (and its first digits for a port). The functions refuse
 * it and say why.
 * @param {string} raw
 */
function redactUrl(raw) {
  let url;
  try {
    url = new URL(raw.trim());
  } catch {
    return '(REDIS_URL is not a valid URL)';
  }
  if (url.hash !== '' || url.search !== '' || !/^\/?\d*$/.test(url.pathname)) return '(REDIS_URL is not valid: the functions will say why)';
  return `${url.protocol}//${url.username !== '' || url.password !== '' ? '***@' : ''}${url.host}${url.pathname}`;
}

/** @param {string[]} args */
function stageFrom(args) {
  const index = args.findIndex((arg) => arg === '--stage' || arg === '-s');
  const inline = args.find((arg) => arg.startsWith('--stage='));
  return (index >= 0 ? args[index + 1] : inline?.slice('--stage='.length)) ?? 'dev';
}

/** @param {string | undefined} value */
function nonEmpty(value) {
  return value === undefined || value.trim() === '' ? undefined : value;
}

main().catch((error) => {
  fail(error instanceof Error ? error.message : String(error));
  void shutdown(undefined, 1);
});
