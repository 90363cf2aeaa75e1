// npm run soak [-- --duration 600 --concurrency 64 --seed 42 --redis-timeout-ms 1000 --min-requests 0 --json]
//
// Drives the real handlers of one container against a throwaway redis-server with requests always in
// flight, checks every answer against an oracle, and prints a one-line summary (and, with --json, the full
// report as a last line starting with SOAK_REPORT). Exits 1 on any wrong decision, unhandled error,
// change in open connections or heap growth past the limit. Needs `redis-server` on the PATH; run through
// `node --expose-gc` (npm run soak does) for the heap figures.
import { parseArgs } from 'node:util';
import { MUTATIONS, problemsOf, runSoak, summaryLine, type Mutation } from '../testkit/soak';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: process.env.SOAK_SECONDS ?? '300' },
      concurrency: { type: 'string', default: '64' },
      seed: { type: 'string' },
      'redis-timeout-ms': { type: 'string', default: '1000' },
      mutation: { type: 'string', default: 'none' },
      'min-requests': { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const mutation = values.mutation as Mutation;
  if (!MUTATIONS.includes(mutation)) throw new Error(`unknown --mutation ${values.mutation}`);
  const seconds = Number(values.duration);
  const concurrency = Number(values.concurrency);
  if (!(seconds > 0) || !Number.isInteger(concurrency) || concurrency < 1) throw new Error('--duration and --concurrency must be positive');
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if ((globalThis as { gc?: unknown }).gc === undefined) console.error('soak: no heap figures: run node with --expose-gc');

  const report = await runSoak({
    durationMs: seconds * 1000,
    concurrency,
    seed,
    redisTimeoutMs: Number(values['redis-timeout-ms']),
    mutation,
    minRequests: Number(values['min-requests']),
    progress: values.quiet ? undefined : (line) => console.error(line),
  });
  console.log(summaryLine(report));
  for (const failure of report.failures) console.log(`  ${failure}`);
  const problems = problemsOf(report);
  console.log(problems.length === 0 ? 'soak: PASS' : `soak: FAIL: ${problems.join('; ')}`);
  if (values.json) console.log(`SOAK_REPORT ${JSON.stringify(report)}`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
