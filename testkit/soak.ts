// The soak: `concurrency` requests in flight through the real handlers of one container, against a real
// redis-server, for a bounded time. Every answer is checked against an oracle that knows what each token
// is (live, refreshed, its session logged out or ended by a reused refresh token, expired, forged, tampered,
// signed by a removed key…) and what each refresh token is (current, just rotated, used, of an ended session),
// so every decision is counted as right or wrong. Heap (after GC) and the server's open connections are
// sampled along the way.
//
// Run it with `npm run soak` (long) or through test/load/soak.test.ts (short, inside `npm test`). It needs
// `node --expose-gc` for the heap figures; without it they are reported as unavailable.
//
// Its parts, in testkit/soak/: the deployment under test, the oracle's catalogue of tokens and sessions, the
// tokens that must be refused, the requests and their checks (refreshes in refreshes.ts), the ledger of what
// was counted, the sampler and the report.
import { TokenCatalogue } from './soak/catalogue';
import { startDeployment } from './soak/deployment';
import { Ledger } from './soak/ledger';
import type { SoakOptions, SoakReport } from './soak/model';
import { SeededRandom } from './soak/random';
import { addForgedAndExpired, addRemovedKey, addTampered } from './soak/refused';
import { soakReport } from './soak/report';
import { SoakRequests } from './soak/requests';
import { Sampler } from './soak/sampler';

export { CATEGORIES, MUTATIONS, type Category, type Checkpoint, type Mutation, type SoakOptions, type SoakReport, type Tally } from './soak/model';
export { HEAP_GROWTH_LIMIT_MIB, problemsOf, summaryLine } from './soak/report';

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const random = new SeededRandom(options.seed);
  const deployment = await startDeployment(options);
  const unhandled = collectUnhandled();
  const ledger = new Ledger();
  const catalogue = new TokenCatalogue(random);
  const requests = new SoakRequests(deployment, catalogue, ledger, random);
  const sampler = new Sampler(deployment.admin, ledger, options.progress);

  let mainConnectCount = -1;
  try {
    await deployment.connectAll();
    await addForgedAndExpired(catalogue, deployment.admin);
    await addTampered(catalogue, deployment.main);
    await addRemovedKey(catalogue, () => requests.signRemoved());
    await requests.fillPools();
    await runFor(options, requests, ledger, sampler);
  } finally {
    unhandled.stop();
    mainConnectCount = deployment.main.services.redis.connectCount;
    await deployment.close();
  }
  for (const error of unhandled.errors) ledger.fail('error', `unhandled: ${String(error)}`);
  return soakReport(options, ledger, sampler, mainConnectCount);
}

/** Unhandled rejections and uncaught exceptions while the run goes on: each is an error of the run. */
function collectUnhandled(): { errors: unknown[]; stop: () => void } {
  const errors: unknown[] = [];
  const onUnhandled = (error: unknown) => void errors.push(error);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  return {
    errors,
    stop() {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
    },
  };
}

/** The run proper: `concurrency` workers until the duration (and the minimum of requests) is reached, with checkpoints. */
async function runFor(options: SoakOptions, requests: SoakRequests, ledger: Ledger, sampler: Sampler): Promise<void> {
  const endAt = sampler.begin() + options.durationMs;
  const minimum = options.minRequests ?? 0;
  // Heap and connections after the pools have filled, half-way, and at the end.
  const warmAt = Math.min(Math.max(options.durationMs * 0.25, 2000), options.durationMs * 0.5);
  const marks = [warmAt, options.durationMs * 0.5, options.durationMs * 0.75];
  const timers = marks.map((at) => setTimeout(() => void sampler.checkpoint(), at));
  const workers = Array.from({ length: options.concurrency }, async () => {
    while (performance.now() < endAt || ledger.requests.total < minimum) await requests.step();
  });
  await Promise.all(workers);
  timers.forEach(clearTimeout);
  await sampler.checkpoint();
}
