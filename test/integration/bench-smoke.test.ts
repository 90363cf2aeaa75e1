// Keeps `npm run bench`, `bench:memory` and `bench:cap` from rotting: a tiny run of each, written to a temporary
// folder (never bench/results). Benchmarks are not tests: nothing here asserts a time, only that the runs
// complete, that every handler call answered as it should, and that the reports carry their rows.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import esbuildOptions from '../../deploy/esbuild-options';
import lambdaPlugins from '../../deploy/esbuild-plugins';
import { runBench } from '../../bench/lib/bench';
import { capMarkdown, runCap } from '../../bench/lib/cap';
import { LAMBDA_BUILD, UNPATCHED_CLIENT } from '../../bench/lib/cold';
import { runMemory } from '../../bench/lib/memory';
import type { BenchResult } from '../../bench/lib/report';
import { serviceRuntimeMajor } from '../../testkit/runtime-node';

jest.setTimeout(180_000);

const ROOT = join(__dirname, '..', '..');

const LATENCY_ROWS = [
  'get',
  'mget',
  'set',
  'evalsha',
  'evalsha-register',
  'evalsha-end',
  'hmac',
  'jwt-sign-key',
  'jwt-verify-key',
  'jwt-verify-string',
  'jwtr-naive',
  'jwtr-key',
  'floor-authorizer',
  'floor-authorizer-line',
  'floor-sign',
  'floor-logout',
  'authorizer-info',
  'authorizer-silent',
  'sign-info',
  'sign-silent',
  'logout-info',
  'logout-silent',
  'evalsha-rotate',
  'floor-refresh',
  'refresh-crypto',
  'refresh-info',
  'refresh-silent',
  'ecdsa',
  'floor-authorizer-es256',
  'authorizer-es256-info',
  'authorizer-es256-silent',
];

describe('bench smoke run (no timing asserted)', () => {
  it('bundles as serverless.yml does: its custom.esbuild.config, deploy/esbuild-options.js', async () => {
    const yml = load(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as { custom: { esbuild: Record<string, unknown> } };
    const { config } = yml.custom.esbuild;
    expect(config).toBe('./deploy/esbuild-options.js');
    // As serverless-esbuild 1.57 loads it: the module at that path from the service directory, called with serverless.
    const serverlessOptions = ((await import(join(ROOT, String(config)))) as { default: typeof esbuildOptions }).default;
    expect(serverlessOptions).toBe(esbuildOptions);
    const resolved = serverlessOptions({ service: { custom: { esbuild: yml.custom.esbuild } } });
    const { exclude, outputWorkFolder, watch, ...esbuildsOwn } = resolved;
    expect(esbuildsOwn).toEqual(esbuildOptions.LAMBDA_BUILD);
    expect(exclude).toEqual(esbuildOptions.LAMBDA_BUILD.external);
    expect({ outputWorkFolder, watch }).toEqual({ outputWorkFolder: yml.custom.esbuild.outputWorkFolder, watch: yml.custom.esbuild.watch });

    const { logLevel, ...bench } = LAMBDA_BUILD;
    expect(logLevel).toBe('silent');
    expect(bench).toEqual(esbuildOptions.LAMBDA_BUILD);
    expect(LAMBDA_BUILD.plugins).toBe(lambdaPlugins);
  });

  it('bundles as serverless.yml does: bundler settings in serverless.yml are refused, not silently ignored', () => {
    expect(() => esbuildOptions({ service: { custom: { esbuild: { config: './deploy/esbuild-options.js', target: 'node20', exclude: [] } } } })).toThrow(
      'serverless.yml custom.esbuild sets target, exclude: bundler settings belong in deploy/esbuild-options.js',
    );
  });

  it("bundles for the Node.js of serverless.yml's provider.runtime", () => {
    expect(LAMBDA_BUILD.target).toBe(`node${serviceRuntimeMajor()}`);
  });

  let out: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  });

  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it('npm run bench: completes and reports every candidate, floor, bundle and target', async () => {
    const run = await runBench(
      { iterations: 300, batch: 100, warmup: 50, inFlight: 64, flightCalls: 200, flightRounds: 1, coldRuns: 1, out, progress: () => undefined },
      'bench smoke test',
    );

    expect(run.files.map((file) => file.slice(out.length + 1))).toEqual(['latest.md', 'latest.svg', 'latest.json']);
    const saved = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchResult;
    expect(saved.smoke).toBe(true);

    expect(saved.warm.latency.map((row) => row.id).sort()).toEqual([...LATENCY_ROWS].sort());
    for (const row of saved.warm.latency) {
      expect(row.summary.n).toBeGreaterThan(0);
      expect(Number.isFinite(row.summary.p50)).toBe(true);
    }
    expect(saved.warm.throughput.map((row) => row.id)).toEqual(
      expect.arrayContaining([
        'get',
        'mget',
        'floor-authorizer',
        'floor-sign',
        'floor-logout',
        'authorizer-info',
        'authorizer-silent',
        'sign-info',
        'logout-info',
      ]),
    );

    // Correctness, not speed: every timed call got the answer it should, and logout revoked at once.
    expect(saved.warm.failures).toBe(0);
    expect(saved.warm.sanity).toEqual({ signed: true, allowedBeforeLogout: true, loggedOut: true, deniedAfterLogout: true, naiveDeniedAfterLogout: true });

    expect(saved.cold.bundles.map((bundle) => bundle.name)).toEqual(expect.arrayContaining(['authorizer', 'sign', 'logout']));
    expect(saved.cold.load.map((row) => row.name).sort()).toEqual(
      ['authorizer', 'dependency core', 'dependency core + createClient()', UNPATCHED_CLIENT, 'logout', 'sign'].sort(),
    );
    expect(saved.cold.firstInvoke.map((row) => row.name)).toEqual(['authorizer', 'sign', 'logout']);

    // The targets issue 11 decided: each handler against its own floor, the request line's allowance at log
    // info, throughput against the floor's own, load against the core plus its createClient().
    expect(saved.targets.map((target) => [target.target, target.limit])).toEqual([
      ['authorizer warm p50 vs its floor (HMAC check + MGET), log silent', '≤ 1.25×'],
      ['authorizer warm p50 vs its floor (HMAC check + MGET), log info (one JSON line per request)', '≤ 1.35×'],
      ['sign warm p50 vs its floor (HMAC + EVALSHA registerSession), log info (one JSON line per request)', '≤ 1.25×'],
      ['logout warm p50 vs its floor (HMAC + DEL), log silent', '≤ 1.25×'],
      ['logout warm p50 vs its floor (HMAC + DEL), log info (one JSON line per request)', '≤ 1.35×'],
      ['refresh warm p50 vs its floor (HMAC-SHA256 sign + EVALSHA rotateRefresh), log silent', '≤ 1.25×'],
      ['authorizer-es256 warm p50 vs its floor (ECDSA P-256 verify + GET), log silent', '≤ 1.25×'],
      ["authorizer throughput vs its floor's (HMAC check + MGET), 64 in flight, log silent", '≥ 80 %'],
      ['largest function bundle vs dependency core (minified)', '≤ 1.10×'],
      ['bundles carrying @redis/bloom, json, search or time-series', 'none'],
      ['slowest function load (require in a fresh node) vs dependency core + its createClient()', '≤ 1.10×'],
      ['revocation immediate: the very next check after logout refuses', 'yes'],
      ['every timed call answered as expected (no check weakened)', 'yes'],
    ]);
    expect(saved.targets.find((target) => target.target.startsWith('sign warm'))?.measured).toContain('log silent');
    expect(saved.targets.find((target) => target.target.startsWith('refresh warm'))?.measured).toContain('log info');
    expect(saved.targets.find((target) => target.target.startsWith('authorizer throughput'))?.measured).toContain('log info');

    const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
    for (const heading of ['## Reach targets', '## Warm latency', '## Throughput', '## Cold start']) expect(markdown).toContain(heading);
    expect(markdown).toContain('**floor: HMAC check + MGET**');
    expect(markdown).toContain('**floor: HMAC + EVALSHA registerSession**');
    expect(markdown).toContain('**floor: HMAC-SHA256 sign + EVALSHA rotateRefresh**');
    expect(markdown).toContain('| Candidate | calls/s (median of rounds) | vs its floor | vs bare MGET |');
    expect(readFileSync(join(out, 'latest.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  });

  it('npm run bench:cap: completes and reports the Redis time of each per-subject operation', async () => {
    const { rows, redis } = await runCap({ caps: [10], rounds: 2, progress: () => undefined });
    expect(rows.map((row) => [row.cap, row.operation])).toEqual([
      [10, 'GET /auth/sessions'],
      [10, 'sign at the cap (ends the oldest)'],
      [10, 'logout-all, POST /auth/revoke {sub}'],
    ]);
    for (const row of rows) expect(row.medianUs).toBeGreaterThan(0);
    expect(capMarkdown(rows, redis, 'npm run bench:cap')).toContain('| 10 | logout-all, POST /auth/revoke {sub} |');
  });

  it('npm run bench:memory: completes and reports bytes per session, without and with a refresh token, and refreshed', async () => {
    const run = await runMemory({ sessions: 2000, users: 200, ttlSeconds: 900, refreshes: 2, out, progress: () => undefined }, 'bench smoke test');

    expect(existsSync(join(out, 'memory.md'))).toBe(true);
    const { variants } = run.result;
    expect(variants.map((variant) => [variant.name, variant.labelsPerSession])).toEqual([
      ['no refresh token', 1],
      ['with a refresh token', 1],
      ['after 1 refresh', 2],
      ['after 2 refreshes', 3],
    ]);
    // A record and a label per session, a label more per refresh; an index and a revocation counter per subject.
    // Every key expires: nothing a session leaves outlives it.
    expect(variants.map((variant) => [variant.keys, variant.keysWithTtl])).toEqual([
      [4400, 4400],
      [4400, 4400],
      [6400, 6400],
      [8400, 8400],
    ]);
    expect(run.result.sampleIndex.entries).toBe(10);
    expect(run.result.sampleRecord.fields).toEqual(expect.arrayContaining(['family', 'rt', 'rtExp']));
    expect(run.result.replayKeyBytes).toBeGreaterThan(0);
    // A refresh token and each live access token take room of their own, key by key.
    const keysBytes = variants.map((variant) => variant.keysBytesPerSession);
    expect([...keysBytes].sort((a, b) => a - b)).toEqual(keysBytes);
    expect(new Set(keysBytes).size).toBe(keysBytes.length);
    for (const variant of variants) expect(variant.bytesPerSession).toBeGreaterThan(0);
    expect(run.markdown).toContain('| **used_memory** (records, labels, indexes, counters, keyspace overhead) |');
  });
});
