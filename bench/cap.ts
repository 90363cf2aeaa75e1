// `npm run bench:cap`: Redis time of the per-subject operations at the default MAX_SESSIONS and at its maximum.
import { capMarkdown, runCap } from './lib/cap';

const CAPS = [100, 1000];
const ROUNDS = 20;

async function main(): Promise<void> {
  if (process.argv.length > 2) throw new Error(`npm run bench:cap takes no arguments, got ${process.argv.slice(2).join(' ')}`);
  const { rows, redis } = await runCap({ caps: CAPS, rounds: ROUNDS, progress: (line) => console.log(line) });
  console.log(`\n${capMarkdown(rows, redis, 'npm run bench:cap')}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
