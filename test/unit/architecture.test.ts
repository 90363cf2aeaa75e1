// Which code may import which: shared/ is a graph without cycles, test/ is imported by nothing, testkit/ only
// by tests, tools and itself, shared/ never by way of functions/, and client/ imports nothing but itself.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|(?:^|\n)\s*import\s+['"](\.[^'"]+)['"]|\b(?:require|import)\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === 'tmp' || name === 'results' ? [] : sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The repository files `file` imports by a relative path, as paths from the root without extension. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(IMPORT)].map((match) =>
    relative(ROOT, resolve(ROOT, dirname(file), match[1] ?? match[2] ?? match[3] ?? '')).replace(/\.(ts|js|mjs)$/, ''),
  );
}

const FOLDERS = ['functions', 'shared', 'testkit', 'test', 'bench', 'scripts', 'deploy', 'client'];
const files = FOLDERS.flatMap(sourceFiles);
const edges = new Map(files.map((file) => [file.replace(/\.(ts|js|mjs)$/, ''), importsOf(file)]));

describe('the import graph', () => {
  it('has no cycle inside shared/', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'open') {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
        return;
      }
      state.set(node, 'open');
      for (const next of edges.get(node) ?? []) if (next.startsWith('shared/')) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of edges.keys()) if (node.startsWith('shared/')) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('lets nothing import from test/, and only tests, tools and itself from testkit/', () => {
    const wrong = [...edges].flatMap(([from, imports]) =>
      imports
        .filter((to) => (to.startsWith('test/') && !from.startsWith('test/')) || (to.startsWith('testkit/') && !/^(test|testkit|bench|scripts)\//.test(from)))
        .map((to) => `${from} → ${to}`),
    );
    expect(wrong).toEqual([]);
  });

  it('keeps shared/ free of functions/, tests and tools', () => {
    const wrong = [...edges]
      .filter(([from]) => from.startsWith('shared/'))
      .flatMap(([from, imports]) => imports.filter((to) => !to.startsWith('shared/')).map((to) => `${from} → ${to}`));
    expect(wrong).toEqual([]);
  });

  it('keeps client/ on its own: no import outside it, no package, no node: module (it runs in browsers, bundled alone)', () => {
    const ANY_IMPORT =
      /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g;
    const clientFiles = files.filter((file) => file.startsWith('client/'));
    const wrong = clientFiles.flatMap((file) =>
      [...readFileSync(join(ROOT, file), 'utf8').matchAll(ANY_IMPORT)]
        .map((match) => match[1] ?? match[2] ?? match[3] ?? '')
        .filter((specifier) => !specifier.startsWith('.') || !relative(ROOT, resolve(ROOT, dirname(file), specifier)).startsWith('client/'))
        .map((specifier) => `${file} → ${specifier}`),
    );
    expect(clientFiles).toContain('client/src/session.ts');
    expect(wrong).toEqual([]);
  });

  it('reads every relative import it checks (the scan is not blind)', () => {
    expect(edges.get('functions/sign')).toEqual(expect.arrayContaining(['shared/handlers/sign', 'shared/services']));
    expect(edges.get('shared/services')).toEqual(expect.arrayContaining(['shared/config', 'shared/redis/connection']));
  });
});
