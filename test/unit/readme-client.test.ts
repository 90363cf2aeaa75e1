// The README's "The client in ten lines": each block type-checks, as written, against client/src (the backend's
// with Node's types, the browser app's with the DOM's), so the quick start cannot drift from the client.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { readDoc } from '../../testkit/docs';

const ROOT = join(__dirname, '..', '..');

function clientBlocks(): string[] {
  const section = /### The client in ten lines\n([\s\S]*?)\n### /.exec(readDoc('README.md'))?.[1];
  if (section === undefined) throw new Error('README.md has no "### The client in ten lines" section');
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
}

/** tsc's diagnostics for `code` as a module of its own, importing the client by its package name. */
function diagnostics(code: string, environment: 'node' | 'browser'): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'readme-client-'));
  try {
    const file = join(dir, 'snippet.ts');
    writeFileSync(file, code);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      noUncheckedIndexedAccess: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: environment === 'browser' ? ['lib.es2022.d.ts', 'lib.dom.d.ts'] : ['lib.es2022.d.ts'],
      types: environment === 'node' ? ['node'] : [],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      baseUrl: ROOT,
      paths: { '@revocable-jwt/client': ['client/src/index.ts'] },
      skipLibCheck: true,
    });
    return ts
      .getPreEmitDiagnostics(program)
      .map((diagnostic) => `${diagnostic.file?.fileName.replace(ROOT, '') ?? ''}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('README: the client in ten lines', () => {
  it('has a block for a backend and one for a browser app, each at most ten lines of code', () => {
    const blocks = clientBlocks();
    expect(blocks).toHaveLength(2);
    for (const block of blocks) {
      const code = block.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('//') && !line.startsWith('import '));
      expect(code.length).toBeLessThanOrEqual(10);
    }
  });

  it.each([
    ['backend', 0, 'node'],
    ['browser app', 1, 'browser'],
  ] as const)("the %s's block type-checks against the client", (_face, index, environment) => {
    expect(diagnostics(clientBlocks()[index] ?? '', environment)).toEqual([]);
  });
});
