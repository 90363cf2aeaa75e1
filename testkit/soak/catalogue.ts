// The oracle: every token the run holds, what has been done to it, and so what the authorizer must decide.
import type { Category } from './model';
import type { SeededRandom } from './random';

const POOL_SIZE = 2048;
const HOT_SIZE = 16;
const RECENTLY_REVOKED = 256;
/** Tokens live at most this long (the longest ttl the soak asks for), so older logout-all runs matter no more. */
const LOGOUT_ALL_MEMORY_MS = 700_000;

/** A token's own logout only ever moves forward: none → in-flight → uncertain (it failed) → acknowledged. */
export type Revocation = 'none' | 'in-flight' | 'uncertain' | 'acknowledged';
const REVOCATION_RANK: Record<Revocation, number> = { none: 0, 'in-flight': 1, uncertain: 2, acknowledged: 3 };

export interface Issued {
  token: string;
  jti: string;
  sub: string;
  /** Seconds since the epoch. */
  exp: number;
  key: 'current' | 'previous';
  claims: Record<string, unknown>;
  revocation: Revocation;
  /** performance.now() when sign was called and when it answered. */
  signStarted: number;
  signAnswered: number;
}

/** Categories of tokens that must always be refused. */
export type RefusedCategory = Exclude<Category, 'live' | 'live-previous-key' | 'revoked' | 'revocation-in-flight' | 'at-expiry'>;

export interface Refused {
  header: string | undefined;
  category: RefusedCategory;
  variant: string;
}

/** The refused categories made once before the run (malformed headers are made on the spot). */
export type PreparedCategory = Exclude<RefusedCategory, 'malformed'>;

/** A logout-all of one subject: performance.now() when it was called and when it answered 204. */
export interface LogoutAllRun {
  started: number;
  /** Undefined while it runs, and for ever if it failed: its effect is then unknown. */
  answered: number | undefined;
}

/** When one authorization ran, by both clocks: performance.now() to order it, Date.now() against exp. */
export interface Timing {
  started: number;
  answered: number;
  startedWall: number;
  answeredWall: number;
}

export interface Expectation {
  category: Category;
  expected: 'allow' | 'deny' | 'either';
}

export function advance(record: Issued, to: Revocation): void {
  if (REVOCATION_RANK[to] > REVOCATION_RANK[record.revocation]) record.revocation = to;
}

export class TokenCatalogue {
  readonly pool: Issued[] = [];
  /** Tokens many requests use at once, so that logouts race their checks. */
  readonly hot: Issued[] = [];
  readonly recentlyRevoked: Issued[] = [];
  private recentlyRevokedNext = 0;
  private readonly logoutAllRuns = new Map<string, LogoutAllRun[]>();
  /** Tokens that must always be refused, by category, so that each keeps its share of the run. */
  readonly refused: Record<PreparedCategory, Refused[]> = { forged: [], tampered: [], 'removed-key': [], expired: [] };

  constructor(private readonly random: SeededRandom) {}

  addIssued(record: Issued): void {
    const { random, pool, hot } = this;
    if (pool.length < POOL_SIZE) pool.push(record);
    else pool[Math.floor(random.next() * POOL_SIZE)] = record;
    if (hot.length < HOT_SIZE) hot.push(record);
    else if (random.next() < 0.25) hot[Math.floor(random.next() * HOT_SIZE)] = record;
  }

  addRefused(category: PreparedCategory, variant: string, token: string): void {
    this.refused[category].push({ header: `Bearer ${token}`, category, variant });
  }

  /** A fresh removed-key token in place of one at random: they too must keep being refused as they age. */
  replaceRemovedKey(token: string): void {
    const pool = this.refused['removed-key'];
    pool[Math.floor(this.random.next() * pool.length)] = { header: `Bearer ${token}`, category: 'removed-key', variant: 'signed by a removed key' };
  }

  rememberRevoked(record: Issued): void {
    if (this.recentlyRevoked.length < RECENTLY_REVOKED) this.recentlyRevoked.push(record);
    else this.recentlyRevoked[(this.recentlyRevokedNext = (this.recentlyRevokedNext + 1) % RECENTLY_REVOKED)] = record;
  }

  pickIssued(): Issued | undefined {
    const { random, pool, hot } = this;
    return hot.length > 0 && random.next() < 0.35 ? random.pick(hot) : pool.length > 0 ? random.pick(pool) : undefined;
  }

  /** A token that should be allowed for a while yet: the target of a logout. */
  pickLive(): Issued | undefined {
    const { random, pool, hot } = this;
    for (let tries = 0; tries < 8; tries += 1) {
      const candidate = random.next() < 0.5 && hot.length > 0 ? random.pick(hot) : random.pick(pool);
      if (candidate !== undefined && candidate.revocation === 'none' && candidate.exp * 1000 > Date.now() + 2000) return candidate;
    }
    return undefined;
  }

  /** Records a logout-all of `sub` starting now; the caller sets `answered` once it answers 204. */
  startLogoutAll(sub: string): LogoutAllRun {
    const run: LogoutAllRun = { started: performance.now(), answered: undefined };
    const runs = (this.logoutAllRuns.get(sub) ?? []).filter((old) => old.started > run.started - LOGOUT_ALL_MEMORY_MS);
    this.logoutAllRuns.set(sub, [...runs, run]);
    return run;
  }

  /**
   * What the logouts-all of the token's subject mean for an authorization that ran from `started` to
   * `answered`: a run ends every token whose sign answered before the run began; a token signed while a run
   * went on may or may not be ended by it (the README's promise is only that it is never left alive *and*
   * out of the index), and a run still going may or may not have reached the token yet.
   */
  private logoutAllEffect(record: Issued, started: number, answered: number): 'none' | 'revoked' | 'either' {
    let effect: 'none' | 'revoked' | 'either' = 'none';
    for (const run of this.logoutAllRuns.get(record.sub) ?? []) {
      if (run.started > answered) continue;
      const signedBefore = record.signAnswered < run.started;
      const signedDuring = !signedBefore && (run.answered === undefined || run.answered > record.signStarted);
      if (signedBefore && run.answered !== undefined && run.answered < started) return 'revoked';
      if (signedBefore || signedDuring) effect = 'either';
    }
    return effect;
  }

  /** What an authorization of `record` over `timing` must decide, its own logout having been `revocationBefore` at the start. */
  expectation(record: Issued, revocationBefore: Revocation, timing: Timing): Expectation {
    const bulk = this.logoutAllEffect(record, timing.started, timing.answered);
    const expiresMs = record.exp * 1000;
    if (timing.startedWall >= expiresMs) return { category: 'expired', expected: 'deny' };
    if (revocationBefore === 'acknowledged' || bulk === 'revoked') return { category: 'revoked', expected: 'deny' };
    if (revocationBefore !== 'none' || record.revocation !== 'none' || bulk === 'either') return { category: 'revocation-in-flight', expected: 'either' };
    // Its exp or its label's PX may pass while the request runs: either answer is right.
    if (timing.answeredWall >= expiresMs - 50) return { category: 'at-expiry', expected: 'either' };
    return { category: record.key === 'current' ? 'live' : 'live-previous-key', expected: 'allow' };
  }
}
