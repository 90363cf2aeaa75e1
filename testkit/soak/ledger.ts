// What the run counted: requests by kind, decisions by category, and every wrong one, with the first few
// described. Redis trouble is told apart by StoreUnavailableError: a refusal for the right reason (fail closed),
// not a wrong decision.
import { StoreUnavailableError } from '../../shared/errors';
import { CATEGORIES, type Category, type RefreshTally, type Tally } from './model';

const MAX_FAILURES = 20;

export type FailureKind = 'wrong-allow' | 'wrong-denial' | 'failed-closed' | 'error';

/** The authorizer's refusal when Redis could not answer in time. */
const isStoreUnavailable = (error: unknown) => error instanceof StoreUnavailableError;

/** Authorizer latency in 0.1 ms buckets up to 2 s; the last bucket holds everything slower. */
export class LatencyHistogram {
  private readonly buckets = new Uint32Array(20_001);
  max = 0;

  record(ms: number): void {
    this.buckets[Math.min(Math.floor(ms * 10), this.buckets.length - 1)]! += 1;
    if (ms > this.max) this.max = ms;
  }

  /** The upper edge, in ms, of the bucket holding that fraction of the samples. */
  percentile(fraction: number): number {
    const total = this.buckets.reduce((sum, count) => sum + count, 0);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i += 1) {
      seen += this.buckets[i] ?? 0;
      if (seen >= total * fraction) return (i + 1) / 10;
    }
    return Infinity;
  }
}

export class Ledger {
  readonly authorizations = Object.fromEntries(CATEGORIES.map((category) => [category, { allow: 0, deny: 0, error: 0 }])) as Record<Category, Tally>;
  readonly requests = { total: 0, authorize: 0, sign: 0, refresh: 0, logout: 0, logoutAll: 0 };
  readonly signs = { issued: 0, refused400: 0 };
  readonly refreshes: RefreshTally = { rotated: 0, replayed: 0, refusedEnded: 0, reuseDetected: 0, acceptedAfterUse: 0, refusedInvalid: 0, refused400: 0 };
  readonly logouts = { local: 0, others: 0, global: 0 };
  readonly authorizeLatency = new LatencyHistogram();
  revocationsAcknowledged = 0;
  logoutAllsAcknowledged = 0;
  checksAfterRevocation = 0;
  wrongAllows = 0;
  wrongDenials = 0;
  failedClosed = 0;
  unhandledErrors = 0;
  readonly failures: string[] = [];

  /** One more request of that kind. */
  count(kind: 'authorize' | 'sign' | 'refresh' | 'logout' | 'logoutAll'): void {
    this.requests[kind] += 1;
    this.requests.total += 1;
  }

  fail(kind: FailureKind, detail: string): void {
    if (kind === 'wrong-allow') this.wrongAllows += 1;
    else if (kind === 'wrong-denial') this.wrongDenials += 1;
    else if (kind === 'failed-closed') this.failedClosed += 1;
    else this.unhandledErrors += 1;
    if (this.failures.length < MAX_FAILURES) this.failures.push(`${kind}: ${detail}`);
  }

  /** An authorizer that threw rather than allow or deny: failed closed on Redis trouble, else an error. */
  threw(error: unknown, detail: string): void {
    this.fail(isStoreUnavailable(error) ? 'failed-closed' : 'error', detail);
  }

  /** A route that did not answer as it should: 503 is failing closed, anything else an error. */
  answered(statusCode: number, detail: string): void {
    this.fail(statusCode === 503 ? 'failed-closed' : 'error', detail);
  }
}
