// Cold start: what each function's bundle carries, how long a fresh `node` takes to load it beside the
// dependency core alone and bare node, and the first invocation of a fresh process, connect included.
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build as esbuild, type BuildOptions, type Metafile } from 'esbuild';
import { LAMBDA_BUILD as SHIPPED } from '../../deploy/esbuild-options';
import { FUNCTIONS, functionsOn } from '../../shared/handlers/table';
import { KEY_VARIABLES } from '../../shared/config';
import { childEnv } from './env';
import { median } from './stats';

/** As the functions ship (deploy/esbuild-options.js, serverless.yml's `custom.esbuild.config`), but quiet. */
export const LAMBDA_BUILD = { ...SHIPPED, logLevel: 'silent' } satisfies BuildOptions;

/**
 * What every function needs and nothing else: the Redis client. Tokens are signed and checked with
 * node:crypto, which the runtime provides.
 */
export const CORE_ENTRY = "export { createClient } from '@redis/client';";

/** For scale only: the same core with the `redis` meta-package in place of @redis/client. */
const META_ENTRY = CORE_ENTRY.replace("from '@redis/client'", "from 'redis'");

/**
 * The core plus the one thing every function's init does with it: construct a client (not connected).
 * node-redis builds its client class, ~800 command methods, on the first createClient().
 */
const CLIENT_ENTRY = `import { createClient } from '@redis/client';
export const client = createClient({ url: 'redis://127.0.0.1:6379' });`;

export const UNPATCHED_CLIENT = 'dependency core + createClient(), without our esbuild plugins';

const UNUSED_REDIS_MODULE = /node_modules\/@redis\/(bloom|json|search|time-series)\//;

export interface Bundle {
  name: string;
  file: string;
  bytes: number;
  /** Bytes in the output per package ("project" for functions/ and shared/). */
  packages: Record<string, number>;
  /** @redis/bloom, json, search or time-series files that landed in the bundle. */
  unusedRedisModules: string[];
}

export interface BundleRow extends Bundle {
  /** Size over the dependency core's. */
  vsCore: number;
  /** Packages with more bytes here than in the core, largest first. */
  extra: Array<{ name: string; bytes: number }>;
}

export interface LoadRow {
  name: string;
  /** Spawn to exit of `node loader.js <bundle>`, median. */
  wallMs: number;
  /** The require() alone, timed inside the process, median. */
  requireMs: number;
  requireVsCore: number;
  /** require() over the core's plus its createClient(): what init costs beyond constructing the client. */
  requireVsCoreWithClient: number;
  /** Wall time above bare node's, over the core's. */
  netWallVsCore: number;
}

export interface FirstInvokeRow {
  name: string;
  runs: number;
  loadMs: number;
  /** First invocation right after load: the connect started at init is still in progress. */
  firstMs: number;
  secondMs: number;
  initPlusFirstMs: number;
}

export interface ColdResult {
  core: Bundle;
  redisMeta: Bundle;
  coreWithClient: Bundle;
  /** As coreWithClient, built without deploy/esbuild-plugins.js. */
  coreWithClientUnpatched: Bundle;
  bundles: BundleRow[];
  bare: { wallMs: number };
  load: LoadRow[];
  firstInvoke: FirstInvokeRow[];
}

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  return match?.[1] ?? 'project';
}

function describe(name: string, file: string, metafile: Metafile): Bundle {
  const output = Object.values(metafile.outputs)[0];
  const packages: Record<string, number> = {};
  for (const [path, input] of Object.entries(output?.inputs ?? {})) {
    const pkg = packageOf(path);
    packages[pkg] = (packages[pkg] ?? 0) + input.bytesInOutput;
  }
  const unusedRedisModules = Object.keys(metafile.inputs).filter((path) => UNUSED_REDIS_MODULE.test(path));
  return { name, file, bytes: statSync(file).size, packages, unusedRedisModules };
}

async function build(
  root: string,
  name: string,
  outfile: string,
  entry: { path: string } | { contents: string },
  options: BuildOptions = LAMBDA_BUILD,
): Promise<Bundle> {
  const result = await esbuild({
    ...options,
    absWorkingDir: root,
    metafile: true,
    outfile,
    ...('path' in entry ? { entryPoints: [entry.path] } : { stdin: { contents: entry.contents, resolveDir: root, loader: 'ts', sourcefile: `${name}.ts` } }),
  });
  return describe(name, outfile, result.metafile);
}

export async function buildBundles(
  root: string,
  dir: string,
): Promise<Pick<ColdResult, 'core' | 'redisMeta' | 'coreWithClient' | 'coreWithClientUnpatched' | 'bundles'>> {
  const core = await build(root, 'dependency core', join(dir, 'core.js'), { contents: CORE_ENTRY });
  const redisMeta = await build(root, 'core with the redis meta-package', join(dir, 'redis-meta.js'), { contents: META_ENTRY });
  const coreWithClient = await build(root, 'dependency core + createClient()', join(dir, 'core-client.js'), { contents: CLIENT_ENTRY });
  // What deploy/esbuild-plugins.js saves, for the record.
  const coreWithClientUnpatched = await build(
    root,
    UNPATCHED_CLIENT,
    join(dir, 'core-client-unpatched.js'),
    { contents: CLIENT_ENTRY },
    { ...LAMBDA_BUILD, plugins: [] },
  );
  const bundles: BundleRow[] = [];
  // What ships to AWS: the local target's demo login is no deployment's cost.
  for (const name of functionsOn('aws').sort((a, b) => a.localeCompare(b))) {
    const bundle = await build(root, name, join(dir, `${name}.js`), { path: join(root, FUNCTIONS[name].entry) });
    const extra = Object.entries(bundle.packages)
      .map(([pkg, bytes]) => ({ name: pkg, bytes: bytes - (core.packages[pkg] ?? 0) }))
      .filter((entry) => entry.bytes >= 100)
      .sort((a, b) => b.bytes - a.bytes);
    bundles.push({ ...bundle, vsCore: bundle.bytes / core.bytes, extra });
  }
  return { core, redisMeta, coreWithClient, coreWithClientUnpatched, bundles };
}

const LOADER = `
const t0 = process.hrtime.bigint();
if (process.argv[2]) require(process.argv[2]);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
require('fs').writeSync(1, '\\nBENCH_LOAD ' + ms + '\\n');
process.exit(0);
`;

function marked(stdout: string, marker: string): string {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(`${marker} `));
  if (line === undefined) throw new Error(`no ${marker} line in the child's output: ${stdout.slice(-500)}`);
  return line.slice(marker.length + 1);
}

export interface ColdInputs {
  root: string;
  dir: string;
  /** Built by buildBundles. */
  core: Bundle;
  coreWithClient: Bundle;
  coreWithClientUnpatched: Bundle;
  bundles: BundleRow[];
  /** Functions whose load is timed (every bundle's size is reported regardless). */
  loaded: string[];
  /** The handlers' environment: REDIS_URL, JWT_SECRET, LOG_LEVEL. */
  env: Record<string, string>;
  runs: number;
  /** Two events per run, for the functions whose first invocation is timed. */
  events: Record<string, () => Promise<[unknown, unknown]>>;
  firstInvokeEntry: string;
  progress: (line: string) => void;
}

export async function measureCold(inputs: ColdInputs): Promise<{ bare: { wallMs: number }; load: LoadRow[]; firstInvoke: FirstInvokeRow[] }> {
  const { dir, runs, progress } = inputs;
  const env = childEnv(inputs.env);
  // As deployed: a function that holds no key gets none, and would refuse one; the JWKS (`public`) only the
  // public keys (JWT_PUBLIC_KEYS), which an HS256 bench has none of.
  const envOf = (name: string): NodeJS.ProcessEnv => {
    const row = (FUNCTIONS as Record<string, { keys: string } | undefined>)[name];
    if (row?.keys !== 'none' && row?.keys !== 'public') return env;
    const kept = { ...env };
    for (const variable of KEY_VARIABLES) if (row.keys === 'none' || variable !== 'JWT_PUBLIC_KEYS') delete kept[variable];
    return kept;
  };
  const loader = join(dir, 'loader.js');
  writeFileSync(loader, LOADER);

  // Load: bare node, the core, every function, taking turns so drift hits all alike.
  const targets: Array<{ name: string; file: string | undefined }> = [
    { name: 'node (bare)', file: undefined },
    { name: inputs.core.name, file: inputs.core.file },
    { name: inputs.coreWithClient.name, file: inputs.coreWithClient.file },
    { name: inputs.coreWithClientUnpatched.name, file: inputs.coreWithClientUnpatched.file },
    ...inputs.bundles.filter((bundle) => inputs.loaded.includes(bundle.name)).map((bundle) => ({ name: bundle.name, file: bundle.file })),
  ];
  progress(`cold start: loading ${targets.length} targets in fresh node processes, ${runs} runs each`);
  const wall = new Map(targets.map((target) => [target.name, [] as number[]]));
  const required = new Map(targets.map((target) => [target.name, [] as number[]]));
  // The first run of each warms the file cache and is not counted (unless there are too few runs to spare one).
  const discarded = runs >= 3 ? 1 : 0;
  for (let run = 0; run < runs + discarded; run += 1) {
    for (let i = 0; i < targets.length; i += 1) {
      const target = targets[(i + run) % targets.length] as (typeof targets)[number];
      const t0 = process.hrtime.bigint();
      const child = spawnSync(process.execPath, target.file === undefined ? [loader] : [loader, target.file], {
        env: envOf(target.name),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (child.status !== 0) throw new Error(`loading ${target.name} failed: ${child.stderr}`);
      if (run < discarded) continue;
      wall.get(target.name)?.push(ms);
      required.get(target.name)?.push(Number(marked(child.stdout, 'BENCH_LOAD')));
    }
  }
  const medianOf = (map: Map<string, number[]>, name: string) => median(map.get(name) ?? []);
  const bareWall = medianOf(wall, 'node (bare)');
  const coreWall = medianOf(wall, inputs.core.name);
  const coreRequire = medianOf(required, inputs.core.name);
  const clientRequire = medianOf(required, inputs.coreWithClient.name);
  const load = targets
    .filter((target) => target.file !== undefined)
    .map((target): LoadRow => {
      const wallMs = medianOf(wall, target.name);
      const requireMs = medianOf(required, target.name);
      return {
        name: target.name,
        wallMs,
        requireMs,
        requireVsCore: requireMs / coreRequire,
        requireVsCoreWithClient: requireMs / clientRequire,
        netWallVsCore: (wallMs - bareWall) / (coreWall - bareWall),
      };
    });

  // First invocation, connect included, in a fresh process per run.
  const invoked = Object.keys(inputs.events);
  const invokeRuns = Math.max(1, Math.ceil(runs / 2));
  progress(`cold start: first invocation of ${invoked.join(', ')} in fresh node processes, ${invokeRuns} runs each`);
  const samples = new Map(invoked.map((name) => [name, [] as Array<{ loadMs: number; firstMs: number; secondMs: number }>]));
  for (let run = 0; run < invokeRuns; run += 1) {
    for (let i = 0; i < invoked.length; i += 1) {
      const name = invoked[(i + run) % invoked.length] as string;
      const events = await (inputs.events[name] as () => Promise<[unknown, unknown]>)();
      const bundle = inputs.bundles.find((candidate) => candidate.name === name);
      if (bundle === undefined) throw new Error(`no bundle for ${name}`);
      const child = spawnSync(process.execPath, [inputs.firstInvokeEntry, bundle.file], {
        env: { ...envOf(name), BENCH_EVENTS: JSON.stringify(events) },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const result = JSON.parse(marked(child.stdout, 'BENCH_RESULT')) as { ok: boolean; detail: string; loadMs: number; firstMs: number; secondMs: number };
      if (!result.ok) throw new Error(`first invocation of ${name} failed: ${result.detail} ${child.stderr}`);
      samples.get(name)?.push(result);
    }
  }
  const firstInvoke = invoked.map((name): FirstInvokeRow => {
    const rows = samples.get(name) ?? [];
    return {
      name,
      runs: rows.length,
      loadMs: median(rows.map((row) => row.loadMs)),
      firstMs: median(rows.map((row) => row.firstMs)),
      secondMs: median(rows.map((row) => row.secondMs)),
      initPlusFirstMs: median(rows.map((row) => row.loadMs + row.firstMs)),
    };
  });
  return { bare: { wallMs: bareWall }, load, firstInvoke };
}
