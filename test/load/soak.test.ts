// The short soak of `npm test` (the long one is `npm run soak`): the soak runs as its own node process with
// --expose-gc, so its heap figures are its own and not jest's, and this suite checks its report.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CATEGORIES, HEAP_GROWTH_LIMIT_MIB, type Mutation, type SoakReport } from '../../testkit/soak';

const ROOT = join(__dirname, '..', '..');
const SOAK_SECONDS = Number(process.env.SOAK_TEST_SECONDS ?? '12');

async function soak(seconds: number, mutation: Mutation = 'none', minRequests = 0): Promise<{ report: SoakReport; summary: string; code: number }> {
  // A generous Redis bound: this run shares two cores with the rest of `npm test`, and a scheduling stall
  // past the bound would fail requests closed (counted apart, as failedClosed). The faults suite covers the bound.
  const args = [
    '--expose-gc',
    '--import',
    'tsx',
    'scripts/soak.ts',
    '--duration',
    String(seconds),
    '--mutation',
    mutation,
    '--redis-timeout-ms',
    '5000',
    '--min-requests',
    String(minRequests),
    '--json',
    '--quiet',
  ];
  let stdout: string;
  let code = 0;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT, timeout: (seconds + 60) * 1000, maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    if (failed.code !== 1) throw new Error(`soak crashed (exit ${failed.code}): ${failed.stderr}`);
    ({ stdout, code } = failed);
  }
  const lines = stdout.trim().split('\n');
  const json = lines.find((line) => line.startsWith('SOAK_REPORT '));
  if (json === undefined) throw new Error(`soak printed no report:\n${stdout}`);
  return { report: JSON.parse(json.slice('SOAK_REPORT '.length)) as SoakReport, summary: lines[0] ?? '', code };
}

describe('Soak: 64 requests in flight through the real handlers against a real redis-server', () => {
  it(
    `makes no wrong decision in ${SOAK_SECONDS} s, with heap and open connections flat`,
    async () => {
      const { report, summary, code } = await soak(SOAK_SECONDS);
      console.log(`${summary}\n${report.failures.join('\n')}`);

      expect(report.failures).toEqual([]);
      expect({
        wrongAllows: report.wrongAllows,
        wrongDenials: report.wrongDenials,
        unhandledErrors: report.unhandledErrors,
        failedClosed: report.failedClosed,
      }).toEqual({
        wrongAllows: 0,
        wrongDenials: 0,
        unhandledErrors: 0,
        failedClosed: 0,
      });
      expect(code).toBe(0);
      expect(report.concurrency).toBe(64);

      // It checked something of every kind, and a lot of it.
      expect(report.requests.total).toBeGreaterThan(5_000);
      for (const category of [
        'live',
        'live-previous-key',
        'live-refreshed',
        'revoked',
        'reused',
        'expired',
        'forged',
        'tampered',
        'removed-key',
        'malformed',
      ] as const) {
        const tally = report.authorizations[category];
        expect({ category, checkedMoreThan20: tally.allow + tally.deny + tally.error > 20 }).toEqual({ category, checkedMoreThan20: true });
      }
      expect(Object.keys(report.authorizations).sort()).toEqual([...CATEGORIES].sort());
      expect(report.revocationsAcknowledged).toBeGreaterThan(100);
      expect(report.logouts.local).toBeGreaterThan(100);
      expect(report.logouts.others).toBeGreaterThan(20);
      expect(report.logouts.global).toBeGreaterThan(5);
      expect(report.logoutAllsAcknowledged).toBeGreaterThan(5);
      expect(report.checksAfterRevocation).toBeGreaterThan(100);
      expect(report.signs.refused400).toBeGreaterThan(10);
      // Refresh tokens rotated, retried within the grace window, presented again after it (theft, caught),
      // presented after their session ended, and forged: each many times over.
      const { refreshes } = report;
      expect(refreshes.rotated).toBeGreaterThan(500);
      expect(refreshes.replayed).toBeGreaterThan(20);
      expect(refreshes.reuseDetected).toBeGreaterThan(10);
      expect(refreshes.refusedEnded).toBeGreaterThan(20);
      expect(refreshes.refusedInvalid).toBeGreaterThan(20);
      expect(refreshes.refused400).toBeGreaterThan(10);
      expect(refreshes.acceptedAfterUse).toBe(0);

      // Live tokens were all allowed, everything else refused.
      expect(report.authorizations.live.deny + report.authorizations['live-previous-key'].deny + report.authorizations['live-refreshed'].deny).toBe(0);
      for (const category of ['revoked', 'reused', 'expired', 'forged', 'tampered', 'removed-key', 'malformed'] as const) {
        expect({ category, allowed: report.authorizations[category].allow }).toEqual({ category, allowed: 0 });
      }

      // One connection per container (main, previous-key signer, removed-key signer), the same throughout,
      // and the main container never had to reconnect.
      expect(report.checkpoints.length).toBeGreaterThanOrEqual(4);
      expect(report.checkpoints.map((point) => point.connections)).toEqual(report.checkpoints.map(() => 3));
      expect(report.mainConnectCount).toBe(1);
      expect(report.checkpoints.every((point) => typeof point.heapMiB === 'number')).toBe(true);
      expect(report.heapGrowthMiB).toBeLessThanOrEqual(HEAP_GROWTH_LIMIT_MIB);
    },
    (SOAK_SECONDS + 90) * 1000,
  );

  // The soak must be able to fail: each run misconfigures the container in a way the oracle is not told of.
  it('notices a wrong allow, a wrong denial, a lost logout, a used refresh token accepted and a reuse that ended nothing when the deployment is broken on purpose', async () => {
    // A used refresh token is presented again once its grace window (1 s) has passed: those runs last longer.
    const [removedKeyKept, previousKeyDropped, logoutLost, longGrace, reuseLost] = await Promise.all([
      soak(1, 'keep-removed-key', 3000),
      soak(1, 'drop-previous-key', 3000),
      soak(1, 'logout-to-another-redis', 3000),
      soak(3, 'long-reuse-grace', 3000),
      soak(3, 'reuse-to-another-redis', 3000),
    ]);
    expect(removedKeyKept.code).toBe(1);
    expect(removedKeyKept.report.wrongAllows).toBeGreaterThan(0);
    expect(removedKeyKept.report.authorizations['removed-key'].allow).toBe(removedKeyKept.report.wrongAllows);

    expect(previousKeyDropped.code).toBe(1);
    expect(previousKeyDropped.report.wrongDenials).toBeGreaterThan(0);
    expect(previousKeyDropped.report.wrongAllows).toBe(0);

    expect(logoutLost.code).toBe(1);
    expect(logoutLost.report.authorizations.revoked.allow).toBeGreaterThan(0);
    expect(logoutLost.report.wrongAllows).toBeGreaterThanOrEqual(logoutLost.report.authorizations.revoked.allow);

    // Answered as a retry long after the window: each is a wrong allow, and nothing else is.
    expect(longGrace.code).toBe(1);
    expect(longGrace.report.refreshes.acceptedAfterUse).toBeGreaterThan(0);
    expect(longGrace.report.wrongAllows).toBe(longGrace.report.refreshes.acceptedAfterUse);

    // Refused, but on another Redis: the session's access tokens were allowed after the answer that should have ended them.
    expect(reuseLost.code).toBe(1);
    expect(reuseLost.report.refreshes.acceptedAfterUse).toBe(0);
    expect(reuseLost.report.authorizations.reused.allow).toBeGreaterThan(0);
    expect(reuseLost.report.wrongAllows).toBe(reuseLost.report.authorizations.reused.allow);
  }, 120_000);
});
