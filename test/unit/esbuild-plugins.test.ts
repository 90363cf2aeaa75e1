// deploy/esbuild-plugins.js patches the installed node-redis at bundle time: these fail when an upgrade
// changes the code it patches, instead of the cold start silently getting slower again.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { build } from 'esbuild';
import { LAMBDA_BUILD } from '../../deploy/esbuild-options';
import lambdaPlugins from '../../deploy/esbuild-plugins';

/** As esbuild prints the statements the plugin inserts. */
const DICTIONARY_SWITCH = /Class\.prototype\.__dictionaryMode = 0;\s*delete Class\.prototype\.__dictionaryMode;/;

async function bundle(contents: string, resolveDir: string) {
  return build({
    stdin: { contents, resolveDir, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    plugins: lambdaPlugins,
  });
}

describe('esbuild plugins: node-redis client class built cheaply', () => {
  it('are what every function bundle is built with (deploy/esbuild-options.js)', () => {
    expect(LAMBDA_BUILD.plugins).toBe(lambdaPlugins);
  });

  it('patches the installed @redis/client, and the bundled client still has every command', async () => {
    const result = await bundle(
      "import { createClient } from '@redis/client'; export const client = createClient({ url: 'redis://127.0.0.1:1' });",
      join(__dirname, '../..'),
    );

    expect(result.warnings).toEqual([]);
    const code = result.outputFiles[0]?.text ?? '';
    expect(code).toMatch(DICTIONARY_SWITCH);
    const module = { exports: {} as { client?: Record<string, unknown> } };
    // Evaluated as Node evaluates a CommonJS module: the bundle is the code under test.
    const evaluate = runInThisContext(`(function (module, exports, require) {\n${code}\n})`) as (module: object, exports: object, load: NodeJS.Require) => void;
    evaluate(module, module.exports, require);
    const client = module.exports.client ?? {};
    for (const command of ['get', 'set', 'del', 'evalSha', 'scanIterator', 'multi']) expect(typeof client[command]).toBe('function');
    expect('__dictionaryMode' in client).toBe(false);
  });

  it('builds unpatched, with a warning, when node-redis no longer has the code it patches', async () => {
    const root = mkdtempSync(join(tmpdir(), 'esbuild-plugins-'));
    try {
      const lib = join(root, 'node_modules/@redis/client/dist/lib');
      mkdirSync(lib, { recursive: true });
      writeFileSync(join(lib, 'commander.js'), 'exports.attachConfig = (BaseClass) => class Changed extends BaseClass {};\n');
      const result = await bundle("export * from './node_modules/@redis/client/dist/lib/commander.js';", root);

      expect(result.warnings.map((warning) => warning.text)).toEqual([expect.stringContaining('node-redis commander.js changed')]);
      expect(result.outputFiles[0]?.text).not.toContain('__dictionaryMode');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
