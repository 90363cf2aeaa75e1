// A Node.js binary of the Lambda runtime's major version, whatever Node runs the tests: taken from the npm
// registry's node-<platform>-<arch> package (the official binary, no install script) and cached in
// node_modules/.cache. Run directly (`tsx testkit/runtime-node.ts`) to warm the cache, as .ci/run does.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const REPO_ROOT = join(__dirname, '..');
const CACHE_ROOT = join(REPO_ROOT, 'node_modules', '.cache', 'runtime-node');
/** About 50 MB: generous, for a slow registry mirror. */
const DOWNLOAD_TIMEOUT_MS = 300_000;

const run = promisify(execFile);

/** The NN of serverless.yml's `provider.runtime: nodejsNN.x`. */
export function serviceRuntimeMajor(): number {
  const yaml = readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8');
  // The top-level `provider:` block runs until the next line that starts in column 0 with a key.
  const provider = /^provider:[ \t]*\n((?:[ \t#].*\n|[ \t]*\n)*)/m.exec(yaml)?.[1] ?? '';
  const runtime = /^ {2}runtime:[ \t]*['"]?nodejs(\d+)\.x['"]?[ \t]*(?:#.*)?$/m.exec(provider);
  if (runtime === null) throw new Error('serverless.yml: no provider.runtime of the form nodejsNN.x');
  return Number(runtime[1]);
}

/**
 * The path of a `node` binary of the given major for this machine: the cached one, or else one fetched with
 * `npm pack`. Throws when it cannot be had, never skips: a test run without the runtime's Node proves nothing.
 */
export async function runtimeNode(major: number): Promise<string> {
  const dir = join(CACHE_ROOT, String(major));
  const binary = join(dir, 'bin', 'node');
  if (!existsSync(binary)) await download(major, dir);
  const { stdout } = await run(binary, ['-p', 'process.versions.node']);
  const version = stdout.trim();
  if (Number(version.split('.')[0]) !== major) throw new Error(`${binary} is Node.js ${version}, not ${major}`);
  return binary;
}

async function download(major: number, dir: string): Promise<void> {
  const spec = `node-${process.platform}-${process.arch}@${major}`;
  mkdirSync(CACHE_ROOT, { recursive: true });
  // Unpacked beside its final place, then renamed into it in one step: a concurrent caller (another jest
  // worker, .ci/run) sees either no binary or a whole one.
  const staging = mkdtempSync(join(CACHE_ROOT, `.${major}-`));
  try {
    const { stdout } = await run('npm', ['pack', spec, '--json', '--pack-destination', staging], {
      cwd: staging,
      timeout: DOWNLOAD_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    if (packed === undefined) throw new Error('npm pack reported no tarball');
    const tarball = join(staging, packed.filename);
    await run('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1', 'package/bin/node']);
    rmSync(tarball);
    try {
      renameSync(staging, dir);
    } catch (error) {
      // Another caller got there first; its binary is as good as ours.
      if (!existsSync(join(dir, 'bin', 'node'))) throw error;
    }
  } catch (cause) {
    throw new Error(
      `cannot get Node.js ${major} for the Lambda runtime: \`npm pack ${spec}\` failed (the npm registry is needed once, to fill ${CACHE_ROOT})`,
      { cause },
    );
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runtimeNode(serviceRuntimeMajor()).then(
    (binary) => console.log(binary),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
