// `npm run bench`: see bench/README.md; `npm run bench -- --help` lists the knobs, `--quick` runs a smoke-sized bench.
import { runBench } from './lib/bench';
import { repoRoot } from './lib/env';
import { benchInvocation, UsageError } from './lib/options';

function command(): string {
  const variables = Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([name, value]) => `${name}=${value ?? ''} `)
    .join('');
  const args = process.argv.slice(2);
  return `${variables}npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

async function main(): Promise<void> {
  const invocation = benchInvocation(repoRoot());
  if ('help' in invocation) {
    process.stdout.write(invocation.help);
    return;
  }
  const { options } = invocation;
  const started = Date.now();
  options.progress = (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);
  const run = await runBench(options, command());
  console.log(`\n${run.markdown}`);
  console.log(`written: ${run.files.join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (run.result.targets.some((target) => !target.pass)) console.log('some reach targets are not met: see the table above');
  // Speed never fails the run; a wrong answer does.
  const { warm } = run.result;
  if (warm.failures > 0 || Object.values(warm.sanity).includes(false)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `npm run bench: ${error.message}` : error);
  process.exitCode = 1;
});
