// `npm run bench:memory`: Redis memory per live session. Knobs: BENCH_SESSIONS (100000), BENCH_USERS (10000),
// BENCH_TTL (900 s), BENCH_OUT (bench/results), or the same as flags after `--`.
import { repoRoot } from './lib/env';
import { runMemory } from './lib/memory';
import { memoryOptions } from './lib/options';

function command(): string {
  const variables = Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([name, value]) => `${name}=${value ?? ''} `)
    .join('');
  const args = process.argv.slice(2);
  return `${variables}npm run bench:memory${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

runMemory(memoryOptions(repoRoot()), command()).then(
  (run) => {
    console.log(`\n${run.markdown}`);
    console.log(`written: ${run.files.join(', ')}`);
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
