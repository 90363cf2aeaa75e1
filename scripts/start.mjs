// @ts-check
// `npm start`: serves the API locally with serverless offline.
//
//   PORT          HTTP port (default 3000); routes are under /<stage>, e.g. http://localhost:3000/dev/me
//   REDIS_URL     Redis to use; when unset, a throwaway redis-server is started on a free port and stopped on exit
//   SIGN_API_KEY  x-api-key for POST /auth/token; when unset, a random one is generated and printed
//   JWT_SECRET    (or JWT_KEYS) when unset, handlers use the public development secret, accepted under offline only
//
// Arguments are passed on to `serverless offline start`, e.g. `npm start -- --stage local`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SERVERLESS_BIN = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const READY_LINE = /Server ready: (http:\/\/\S+)/;
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

async function main() {
  const args = process.argv.slice(2);
  const port = nonEmpty(process.env.PORT) ?? '3000';
  const stage = stageFrom(args);

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
      PORT: port,
      REDIS_URL: redisUrl,
      SIGN_API_KEY: signApiKey,
      ESBUILD_WORK_FOLDER: workFolderSetting,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  offline.once('exit', (code, signal) => {
    offline = undefined;
    if (!stopping) {
      fail(`serverless offline exited (${signal ?? `code ${code}`})`);
      void shutdown(undefined, code === 0 || code === null ? 1 : code);
    }
  });

  // Offline reports readiness on stderr; relay everything and print the banner once it is up.
  /** @type {string | undefined} Stderr so far, until the ready line is seen. */
  let beforeReady = '';
  offline.stderr?.setEncoding('utf8');
  offline.stderr?.on('data', (/** @type {string} */ chunk) => {
    process.stderr.write(chunk);
    if (beforeReady === undefined) return;
    beforeReady = (beforeReady + chunk).slice(-4096); // the line may arrive split across chunks
    const ready = READY_LINE.exec(beforeReady);
    if (ready !== null) {
      beforeReady = undefined;
      printBanner({ base: `${ready[1]}/${stage}`, signApiKey, redisUrl, ownRedis: redisServer !== undefined });
    }
  });
}

/**
 * @param {{ base: string, signApiKey: string, redisUrl: string, ownRedis: boolean }} info
 */
function printBanner({ base, signApiKey, redisUrl, ownRedis }) {
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
    `    x-api-key    ${signApiKey}${nonEmpty(process.env.SIGN_API_KEY) === undefined ? '   (generated for this run)' : ''}`,
    `    Redis        ${redactUrl(redisUrl)}${ownRedis ? '   (started for this run, stopped on exit)' : ''}`,
    `    JWT secret   ${secret}`,
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
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
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

/** The URL with any password replaced, fit to print. @param {string} raw */
function redactUrl(raw) {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '(REDIS_URL is not a valid URL)';
  }
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
