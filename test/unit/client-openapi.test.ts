// client/src/openapi.d.ts, the types client/src/wire.ts takes its bodies from, is generated from
// docs/openapi.yaml by `npm run client:openapi`. Regenerated here into a temporary file, it must be what is in
// the tree: a change to the document that was not regenerated fails this test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const GENERATED = 'client/src/openapi.d.ts';
const CLI = join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');

const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['client:openapi'] ?? '';

describe('client/src/openapi.d.ts', () => {
  it('is written by the npm script client:openapi, with openapi-typescript from docs/openapi.yaml', () => {
    expect(script.split(' ').slice(0, 4)).toEqual(['openapi-typescript', 'docs/openapi.yaml', '--output', GENERATED]);
  });

  it('is what `npm run client:openapi` generates now (if not, run it)', () => {
    const folder = mkdtempSync(join(tmpdir(), 'client-openapi-'));
    try {
      const output = join(folder, 'openapi.d.ts');
      const args = script
        .split(' ')
        .slice(1)
        .map((arg) => (arg === GENERATED ? output : arg));
      const run = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
      expect(readFileSync(join(ROOT, GENERATED), 'utf8')).toBe(readFileSync(output, 'utf8'));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
