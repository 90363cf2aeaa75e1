// The run's report, what is wrong with it, and its one-line summary.
import type { Ledger } from './ledger';
import type { Category, SoakOptions, SoakReport } from './model';
import type { Sampler } from './sampler';

/** Heap growth from the first checkpoint (pools full) to the last that a healthy run stays under. */
export const HEAP_GROWTH_LIMIT_MIB = 16;

export function soakReport(options: SoakOptions, ledger: Ledger, sampler: Sampler, mainConnectCount: number): SoakReport {
  const { checkpoints } = sampler;
  const heaps = checkpoints.map((point) => point.heapMiB).filter((heap): heap is number => heap !== undefined);
  const latency = ledger.authorizeLatency;
  return {
    seed: options.seed,
    mutation: options.mutation,
    concurrency: options.concurrency,
    durationMs: Math.round(sampler.elapsedMs()),
    requests: ledger.requests,
    authorizations: ledger.authorizations,
    signs: ledger.signs,
    refreshes: ledger.refreshes,
    logouts: ledger.logouts,
    revocationsAcknowledged: ledger.revocationsAcknowledged,
    logoutAllsAcknowledged: ledger.logoutAllsAcknowledged,
    checksAfterRevocation: ledger.checksAfterRevocation,
    wrongAllows: ledger.wrongAllows,
    wrongDenials: ledger.wrongDenials,
    failedClosed: ledger.failedClosed,
    unhandledErrors: ledger.unhandledErrors,
    checkpoints,
    heapGrowthMiB: heaps.length >= 2 ? Math.round(((heaps.at(-1) as number) - (heaps[0] as number)) * 100) / 100 : undefined,
    mainConnectCount,
    authorizeLatencyMs: { p50: latency.percentile(0.5), p99: latency.percentile(0.99), max: Math.round(latency.max * 10) / 10 },
    failures: ledger.failures,
  };
}

/** What is wrong with a run, as sentences; empty when it passed. */
export function problemsOf(report: SoakReport): string[] {
  const problems: string[] = [];
  if (report.wrongAllows > 0) problems.push(`${report.wrongAllows} wrong allows`);
  if (report.wrongDenials > 0) problems.push(`${report.wrongDenials} wrong denials`);
  if (report.unhandledErrors > 0) problems.push(`${report.unhandledErrors} unhandled errors`);
  if (report.failedClosed > 0)
    problems.push(`${report.failedClosed} requests failed closed: Redis answered later than REDIS_TIMEOUT_MS (was the machine busy?)`);
  const connections = new Set(report.checkpoints.map((point) => point.connections));
  if (connections.size !== 1) problems.push(`open connections changed: ${report.checkpoints.map((point) => point.connections).join(' → ')}`);
  if (report.mainConnectCount !== 1) problems.push(`the container connected ${report.mainConnectCount} times (expected once)`);
  if (report.heapGrowthMiB !== undefined && report.heapGrowthMiB > HEAP_GROWTH_LIMIT_MIB) {
    problems.push(`heap grew by ${report.heapGrowthMiB} MiB (limit ${HEAP_GROWTH_LIMIT_MIB})`);
  }
  return problems;
}

export function summaryLine(report: SoakReport): string {
  const a = report.authorizations;
  const heaps = report.checkpoints.map((point) => point.heapMiB);
  const deniedOf = (...categories: Category[]) => categories.reduce((sum, category) => sum + a[category].deny, 0);
  const checkedOf = (...categories: Category[]) => categories.reduce((sum, category) => sum + a[category].allow + a[category].deny + a[category].error, 0);
  const live = ['live', 'live-previous-key', 'live-refreshed'] as const;
  const { refreshes: r, logouts } = report;
  return [
    `soak: ${report.requests.total} requests checked in ${(report.durationMs / 1000).toFixed(1)} s with ${report.concurrency} in flight`,
    `(${report.requests.authorize} authorizations, ${report.requests.sign} signs, ${report.requests.refresh} refreshes, ${report.requests.logout + report.requests.logoutAll} logouts)`,
    `| live allowed ${live.reduce((sum, category) => sum + a[category].allow, 0)}/${checkedOf(...live)} (refreshed ${a['live-refreshed'].allow}/${checkedOf('live-refreshed')})`,
    `| refused: revoked ${deniedOf('revoked')}/${checkedOf('revoked')}, reused ${deniedOf('reused')}/${checkedOf('reused')}, expired ${deniedOf('expired')}/${checkedOf('expired')},`,
    `forged ${deniedOf('forged')}/${checkedOf('forged')}, tampered ${deniedOf('tampered')}/${checkedOf('tampered')},`,
    `removed key ${deniedOf('removed-key')}/${checkedOf('removed-key')}, malformed ${deniedOf('malformed')}/${checkedOf('malformed')}`,
    `| refreshes: rotated ${r.rotated}, retries replayed ${r.replayed}, ended sessions refused ${r.refusedEnded}, reuse caught ${r.reuseDetected}, used accepted ${r.acceptedAfterUse}, invalid refused ${r.refusedInvalid} + ${r.refused400} (400)`,
    `| logouts acknowledged ${report.revocationsAcknowledged} (local ${logouts.local}, others ${logouts.others}, global ${logouts.global}), logouts-all ${report.logoutAllsAcknowledged}, checks after revocation ${report.checksAfterRevocation}`,
    `| wrong allows ${report.wrongAllows}, wrong denials ${report.wrongDenials}, unhandled errors ${report.unhandledErrors}, failed closed ${report.failedClosed}`,
    `| heap ${heaps.every((heap) => heap !== undefined) ? `${heaps.join(' → ')} MiB` : 'n/a (run node with --expose-gc)'}`,
    `| Redis connections ${report.checkpoints.map((point) => point.connections).join(' → ')}`,
    `| authorize p50 ${report.authorizeLatencyMs.p50} ms, p99 ${report.authorizeLatencyMs.p99} ms, max ${report.authorizeLatencyMs.max} ms`,
    `| seed ${report.seed}${report.mutation === 'none' ? '' : `, mutation ${report.mutation}`}`,
  ].join(' ');
}
