// `npm run bench:memory`: Redis memory per live session; `npm run bench:memory -- --help` lists the knobs.
import { repoRoot } from './lib/env';
import { runMemory } from './lib/memory';
import { memoryInvocation, UsageError } from './lib/options';

function command(): string {
  const variables = Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([name, value]) => `${name}=${value ?? ''} `)
    .join('');
  const args = process.argv.slice(2);
  return `${variables}npm run bench:memory${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

async function main(): Promise<void> {
  const invocation = memoryInvocation(repoRoot());
  if ('help' in invocation) {
    process.stdout.write(invocation.help);
    return;
  }
  const run = await runMemory(invocation.options, command());
  console.log(`\n${run.markdown}`);
  console.log(`written: ${run.files.join(', ')}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `npm run bench:memory: ${error.message}` : error);
  process.exitCode = 1;
});
