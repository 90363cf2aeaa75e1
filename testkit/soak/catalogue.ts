// The oracle: every token and session the run holds, what has been done to them, and so what the authorizer and
// refresh must decide. Every way a token dies is recorded as a span, from when its request began to when it
// answered (never, if it failed: its effect is then unknown for ever): a check that began after the span answered
// must be refused, one that overlapped it may go either way, and anything else must be allowed.
// - A session ends (its access tokens and its refresh token with it) by a logout of it (scope local), by a used
//   refresh token of it presented again after the grace window, or, as a refresh refused shows, by anything else.
//   Whatever was issued for it, whenever, is dead once that end answered: a refresh after the end is refused, and a
//   refresh before it listed its token in the session, which the end deletes.
// - A logout of all a subject's sessions (global, logout-all) or of all but the caller's (others) ends the
//   sessions signed before it began. A session signed while it ran may or may not have been ended by it: its tokens
//   from then are in doubt, but a token a refresh issued after it answered shows the session outlived it.
import { MAX_TOKENS_PER_SESSION } from '../../shared/sessions/lua';
import { REUSE_GRACE_MS } from './deployment';
import type { Category } from './model';
import type { SeededRandom } from './random';

const POOL_SIZE = 2048;
const HOT_SIZE = 16;
const RECENTLY_REVOKED = 256;
const REFRESHABLE_SIZE = 512;
const REPLAYABLE_SIZE = 256;
/** Tokens live at most this long (the longest ttl the soak asks for), so older subject-wide ends matter no more. */
const SUBJECT_END_MEMORY_MS = 700_000;
/** A session's refresh token is used only this long after its sign, well within SUBJECT_END_MEMORY_MS. */
const CHAIN_LIFE_MS = 600_000;
/**
 * Refreshes of one session: one more access token would end its oldest (MAX_TOKENS_PER_SESSION), an end the
 * oracle does not model (sessions.test.ts covers it).
 */
const MAX_REFRESHES = MAX_TOKENS_PER_SESSION - 1;
/** How much later than its grace window a used refresh token is presented again: clocks and timers are not exact. */
const GRACE_MARGIN_MS = 50;

/** A request that ends tokens: performance.now() when it was sent and when it answered as it should. */
export interface Span {
  started: number;
  /** Undefined while it runs, and for ever if it failed: its effect is then unknown. */
  answered: number | undefined;
}

/** What ended one session: a logout of it, a used refresh token presented again, or a refresh refused for it. */
export interface SessionEnd extends Span {
  cause: 'logout' | 'reuse' | 'refused';
}

/** A logout of every session of a subject (global, logout-all), or of every one but `kept` (others). */
export interface SubjectEnd extends Span {
  kept?: string;
}

/** A session's refresh token, as its client holds it: one refresh of it at a time, so that the oracle knows which is current. */
export interface RefreshChain {
  current: string;
  /** Refresh tokens rotated already, oldest first. */
  used: string[];
  /** performance.now() when the last rotation answered. */
  rotatedAt: number | undefined;
  rotations: number;
  /** A refresh of it is under way. */
  busy: boolean;
  /** No more refreshes: it had its share, its session was seen to end, or a failure left its state unknown. */
  retired: boolean;
}

export interface SoakSession {
  sid: string;
  sub: string;
  /** performance.now() when its sign was called and when it answered. */
  signStarted: number;
  signAnswered: number;
  ends: SessionEnd[];
  /** Its access tokens, at most MAX_TOKENS_PER_SESSION. */
  tokens: Issued[];
  refresh?: RefreshChain;
}

export interface Issued {
  token: string;
  jti: string;
  sub: string;
  /** Seconds since the epoch. */
  exp: number;
  /** The key it was signed with. */
  key: 'current' | 'previous';
  claims: Record<string, unknown>;
  session: SoakSession;
  /** Issued by a refresh, not by sign. */
  refreshed: boolean;
  /** performance.now() when the sign or refresh that issued it was called and when it answered. */
  signStarted: number;
  signAnswered: number;
}

/** Categories of tokens that must always be refused. */
export type RefusedCategory = Exclude<Category, 'live' | 'live-previous-key' | 'live-refreshed' | 'revoked' | 'reused' | 'revocation-in-flight' | 'at-expiry'>;

export interface Refused {
  header: string | undefined;
  category: RefusedCategory;
  variant: string;
}

/** The refused categories made once before the run (malformed headers are made on the spot). */
export type PreparedCategory = Exclude<RefusedCategory, 'malformed'>;

/** When one request ran, by both clocks: performance.now() to order it, Date.now() against exp. */
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

/** What a session's ends mean for a request over [started, answered]. */
type Effect = { effect: 'none' | 'either' } | { effect: 'ended'; cause: SessionEnd['cause'] };

/** Keeps `item` in a pool of at most `size`, in place of one at random once full. */
function keep<T>(pool: T[], size: number, item: T, random: SeededRandom): void {
  if (pool.length < size) pool.push(item);
  else pool[Math.floor(random.next() * size)] = item;
}

function drop<T>(pool: T[], item: T): void {
  const at = pool.indexOf(item);
  if (at >= 0) pool[at] = pool[pool.length - 1] as T;
  if (at >= 0) pool.pop();
}

export class TokenCatalogue {
  readonly pool: Issued[] = [];
  /** Tokens many requests use at once, so that logouts race their checks. */
  readonly hot: Issued[] = [];
  readonly recentlyRevoked: Issued[] = [];
  private recentlyRevokedNext = 0;
  /** Sessions whose refresh token can be refreshed. */
  private readonly refreshable: SoakSession[] = [];
  /** Sessions with used refresh tokens to present again. */
  private readonly replayable: SoakSession[] = [];
  private readonly subjectEnds = new Map<string, SubjectEnd[]>();
  /** Tokens that must always be refused, by category, so that each keeps its share of the run. */
  readonly refused: Record<PreparedCategory, Refused[]> = { forged: [], tampered: [], 'removed-key': [], expired: [] };

  constructor(private readonly random: SeededRandom) {}

  /** A new session, with its first token; one with a refresh token joins those that refreshes draw from. */
  addSession(session: SoakSession, first: Issued): void {
    this.addIssued(first);
    if (session.refresh !== undefined) keep(this.refreshable, REFRESHABLE_SIZE, session, this.random);
  }

  addIssued(record: Issued): void {
    const { random, pool, hot } = this;
    record.session.tokens.push(record);
    keep(pool, POOL_SIZE, record, random);
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

  /** Every access token of an ending session not expired yet, so that checks of them go on after it ended. */
  rememberRevoked(session: SoakSession): void {
    for (const record of session.tokens) {
      if (record.exp * 1000 <= Date.now()) continue;
      if (this.recentlyRevoked.length < RECENTLY_REVOKED) this.recentlyRevoked.push(record);
      else this.recentlyRevoked[(this.recentlyRevokedNext = (this.recentlyRevokedNext + 1) % RECENTLY_REVOKED)] = record;
    }
  }

  pickIssued(): Issued | undefined {
    const { random, pool, hot } = this;
    return hot.length > 0 && random.next() < 0.35 ? random.pick(hot) : pool.length > 0 ? random.pick(pool) : undefined;
  }

  /** A token that should be allowed for a while yet, of a session nothing has ended: the target of a logout. */
  pickLive(): Issued | undefined {
    const { random, pool, hot } = this;
    for (let tries = 0; tries < 8; tries += 1) {
      const candidate = random.next() < 0.5 && hot.length > 0 ? random.pick(hot) : random.pick(pool);
      if (candidate !== undefined && candidate.session.ends.length === 0 && candidate.exp * 1000 > Date.now() + 2000) return candidate;
    }
    return undefined;
  }

  /** A session whose refresh token may be refreshed now, marked busy; or undefined. */
  pickRefreshable(): SoakSession | undefined {
    const now = performance.now();
    for (let tries = 0; tries < 8 && this.refreshable.length > 0; tries += 1) {
      const session = this.random.pick(this.refreshable);
      const chain = session.refresh as RefreshChain;
      if (chain.retired || now - session.signAnswered > CHAIN_LIFE_MS) this.retire(session);
      else if (!chain.busy) {
        chain.busy = true;
        return session;
      }
    }
    return undefined;
  }

  /** A session whose refresh token may be refreshed now, busy or not: for refresh tokens that must change nothing. */
  pickAnyRefreshable(): SoakSession | undefined {
    return this.refreshable.length > 0 ? this.random.pick(this.refreshable) : undefined;
  }

  /**
   * A session with a used refresh token whose grace window has passed, marked busy and taken out of the pool: one
   * that nothing has ended if one comes up, where a reuse has something to end.
   */
  pickReplayable(): SoakSession | undefined {
    const now = performance.now();
    let found: SoakSession | undefined;
    for (let tries = 0; tries < 8 && this.replayable.length > 0; tries += 1) {
      const session = this.random.pick(this.replayable);
      const chain = session.refresh as RefreshChain;
      if (chain.busy || (chain.rotatedAt as number) + REUSE_GRACE_MS + GRACE_MARGIN_MS >= now) continue;
      found = session;
      if (this.isLive(session, now)) break;
    }
    if (found === undefined) return undefined;
    (found.refresh as RefreshChain).busy = true;
    drop(this.replayable, found);
    return found;
  }

  /** A refresh of `session` answered with a new pair: `presented` is used up, `next` is current. */
  rotated(session: SoakSession, presented: string, next: string, answered: number): void {
    const chain = session.refresh as RefreshChain;
    chain.used.push(presented);
    chain.current = next;
    chain.rotatedAt = answered;
    chain.rotations += 1;
    if (chain.rotations === 1) keep(this.replayable, REPLAYABLE_SIZE, session, this.random);
    if (chain.rotations >= MAX_REFRESHES) this.retire(session);
  }

  /** No more refreshes of this session's refresh token. */
  retire(session: SoakSession): void {
    (session.refresh as RefreshChain).retired = true;
    drop(this.refreshable, session);
  }

  /** Records an end of `session` starting now; the caller sets `answered` once it answered as it should. */
  startSessionEnd(session: SoakSession, cause: SessionEnd['cause'], started = performance.now()): SessionEnd {
    const end: SessionEnd = { started, answered: undefined, cause };
    session.ends.push(end);
    return end;
  }

  /** Records a logout of `sub`'s sessions (all, or all but `kept`) starting now; the caller sets `answered` once it answers 204. */
  startSubjectEnd(sub: string, kept?: string): SubjectEnd {
    const run: SubjectEnd = { started: performance.now(), answered: undefined, ...(kept === undefined ? {} : { kept }) };
    const runs = (this.subjectEnds.get(sub) ?? []).filter((old) => old.started > run.started - SUBJECT_END_MEMORY_MS);
    this.subjectEnds.set(sub, [...runs, run]);
    return run;
  }

  /**
   * What ended `session`, or may have, for a request over [started, answered]. `issuedStarted` is when the token
   * checked was asked for (its sign or refresh), undefined for a request on the session itself (a refresh).
   */
  private effect(session: SoakSession, started: number, answered: number, issuedStarted?: number): Effect {
    let either = false;
    // The end acknowledged first: what the session's tokens are refused for.
    let first: { answered: number; cause: SessionEnd['cause'] } | undefined;
    const ended = (at: number, cause: SessionEnd['cause']) => {
      if (first === undefined || at < first.answered) first = { answered: at, cause };
    };
    for (const end of session.ends) {
      if (end.answered !== undefined && end.answered < started) ended(end.answered, end.cause);
      else if (end.started < answered) either = true;
    }
    for (const run of this.subjectEnds.get(session.sub) ?? []) {
      if (run.started > answered || run.kept === session.sid) continue;
      if (session.signAnswered < run.started) {
        if (run.answered !== undefined && run.answered < started) ended(run.answered, 'logout');
        else either = true;
      } else if (run.answered === undefined || run.answered > session.signStarted) {
        // Signed while it ran: ended by it or not. A token asked for after it answered shows the session outlived it.
        if (issuedStarted === undefined || run.answered === undefined || issuedStarted < run.answered) either = true;
      }
    }
    if (first !== undefined) return { effect: 'ended', cause: first.cause };
    return { effect: either ? 'either' : 'none' };
  }

  /** What an authorization of `record` over `timing` must decide. */
  expectation(record: Issued, timing: Timing): Expectation {
    const expiresMs = record.exp * 1000;
    if (timing.startedWall >= expiresMs) return { category: 'expired', expected: 'deny' };
    const ended = this.effect(record.session, timing.started, timing.answered, record.signStarted);
    if (ended.effect === 'ended') return { category: ended.cause === 'reuse' ? 'reused' : 'revoked', expected: 'deny' };
    if (ended.effect === 'either') return { category: 'revocation-in-flight', expected: 'either' };
    // Its exp or its label's PX may pass while the request runs: either answer is right.
    if (timing.answeredWall >= expiresMs - 50) return { category: 'at-expiry', expected: 'either' };
    if (record.refreshed) return { category: 'live-refreshed', expected: 'allow' };
    return { category: record.key === 'current' ? 'live' : 'live-previous-key', expected: 'allow' };
  }

  /** Whether a refresh of `session`'s current refresh token over [started, answered] must rotate, must be refused, or may do either. */
  refreshExpectation(session: SoakSession, started: number, answered: number): 'allow' | 'deny' | 'either' {
    const { effect } = this.effect(session, started, answered);
    return effect === 'ended' ? 'deny' : effect === 'either' ? 'either' : 'allow';
  }

  /**
   * What a retry over [started, answered] of the rotation that ran over `rotation` must get: the same pair while
   * the grace window that rotation opened lasts, a refusal (theft) once it is over, unless the session ended.
   */
  retryExpectation(session: SoakSession, rotation: { started: number; answered: number }, started: number, answered: number): 'allow' | 'deny' | 'either' {
    const { effect } = this.effect(session, started, answered);
    if (effect === 'ended') return 'deny';
    if (effect === 'either') return 'either';
    // The window opens when the rotation's script runs, between its request and its answer.
    if (answered < rotation.started + REUSE_GRACE_MS) return 'allow';
    if (started > rotation.answered + REUSE_GRACE_MS) return 'deny';
    return 'either';
  }

  /** Whether nothing had ended `session`, or could have, by `started`: a reuse then ends a live session. */
  isLive(session: SoakSession, started: number): boolean {
    return this.effect(session, started, started).effect === 'none';
  }
}
