// The refreshes of the run, each checked as it answers against the oracle (testkit/soak/catalogue.ts): a session's
// current refresh token rotates into a new pair, sometimes retried at once for the same pair (the grace window); a
// used one presented again after the grace window is theft, and ends the session with every access token it
// issued; a refresh token of no session, or of a live one with the wrong family secret, changes nothing.
import type { APIGatewayProxyResult } from 'aws-lambda';
import { formatRefreshToken, parseRefreshToken } from '../../shared/sessions/refresh-token';
import type { Container } from '../cold-start';
import { proxyEvent } from '../events';
import { decodeJws } from '../jws';
import type { RefreshChain, SoakSession, TokenCatalogue } from './catalogue';
import type { Ledger } from './ledger';
import type { SeededRandom } from './random';

/** Bodies POST /auth/refresh must answer 400, changing nothing. */
const INVALID_BODIES = ['{}', '[]', 'null', '{"refreshToken":1}', '{"refreshToken":""}', '{"refreshToken":"x","sub":"soak-user-1"}', '{"refreshToken":'];
/** Share of rotations retried at once with the same refresh token, as a client whose answer was lost would. */
const RETRY_SHARE = 0.1;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

interface Pair {
  token: string;
  jti: string;
  sid: string;
  refreshToken: string;
}

interface Sent {
  response: APIGatewayProxyResult;
  started: number;
  answered: number;
}

const isRefusal = (response: APIGatewayProxyResult) =>
  response.statusCode === 401 && (JSON.parse(response.body) as { error?: unknown }).error === 'REFRESH_TOKEN_INVALID';

export class RefreshRequests {
  constructor(
    private readonly containers: { refresh: Container; replay: Container },
    private readonly catalogue: TokenCatalogue,
    private readonly ledger: Ledger,
    private readonly random: SeededRandom,
  ) {}

  /** Refreshes a session's current refresh token; one time in ten, retries it at once. */
  async refresh(): Promise<void> {
    const { catalogue, ledger } = this;
    const session = catalogue.pickRefreshable();
    if (session === undefined) return;
    const chain = session.refresh as RefreshChain;
    try {
      const presented = chain.current;
      const sent = await this.send(JSON.stringify({ refreshToken: presented }));
      const expected = catalogue.refreshExpectation(session, sent.started, sent.answered);
      const pair = this.judge(sent.response, expected, `the current refresh token of session ${session.sid}`);
      if (pair === 'refused') {
        ledger.refreshes.refusedEnded += 1;
        // Refused while something may have been ending it: it has ended, and its tokens with it.
        if (expected === 'either') catalogue.startSessionEnd(session, 'refused', sent.started).answered = sent.answered;
        catalogue.retire(session);
        return;
      }
      if (pair === undefined || !this.isOf(pair, session)) {
        catalogue.retire(session);
        return;
      }
      ledger.refreshes.rotated += 1;
      const { exp } = decodeJws(pair.token).payload as { exp: number };
      const first = session.tokens[0];
      catalogue.addIssued({
        token: pair.token,
        jti: pair.jti,
        sub: session.sub,
        exp,
        key: 'current',
        claims: first?.claims ?? {},
        session,
        refreshed: true,
        signStarted: sent.started,
        signAnswered: sent.answered,
      });
      catalogue.rotated(session, presented, pair.refreshToken, sent.answered);
      if (this.random.next() < RETRY_SHARE) await this.retry(session, presented, pair, sent);
    } finally {
      chain.busy = false;
    }
  }

  /**
   * Presents a used refresh token of a session again, after its grace window: the session must end, every access
   * token it issued with it, and the refusal is the answer that ended them. Half the time the one just rotated.
   */
  async replayUsed(): Promise<void> {
    const { catalogue, ledger, random } = this;
    const session = catalogue.pickReplayable();
    if (session === undefined) return;
    const chain = session.refresh as RefreshChain;
    try {
      const presented = random.next() < 0.5 ? (chain.used.at(-1) as string) : random.pick(chain.used);
      const wasLive = catalogue.isLive(session, performance.now());
      const end = catalogue.startSessionEnd(session, 'reuse');
      const sent = await this.send(JSON.stringify({ refreshToken: presented }), this.containers.replay);
      catalogue.retire(session);
      if (sent.response.statusCode === 200) {
        ledger.refreshes.acceptedAfterUse += 1;
        ledger.fail('wrong-allow', `refresh accepted a used refresh token of session ${session.sid} after the grace window`);
        // Accepted as a retry or rotated: either way nothing was ended, so nothing is expected refused.
        session.ends.splice(session.ends.indexOf(end), 1);
        return;
      }
      if (!isRefusal(sent.response)) {
        ledger.answered(sent.response.statusCode, `refresh answered ${sent.response.statusCode} to a used refresh token: ${sent.response.body}`);
        return;
      }
      end.answered = sent.answered;
      if (wasLive) ledger.refreshes.reuseDetected += 1;
      else ledger.refreshes.refusedEnded += 1;
      catalogue.rememberRevoked(session);
    } finally {
      chain.busy = false;
    }
  }

  /** A body that is not a refresh request (400), or a refresh token that names no session or the wrong family (401): nothing changes. */
  async refreshInvalid(): Promise<void> {
    const { ledger, random } = this;
    const roll = random.next();
    if (roll < 0.3) {
      const { response } = await this.send(random.pick(INVALID_BODIES));
      if (response.statusCode === 400) ledger.refreshes.refused400 += 1;
      else ledger.fail('error', `refresh answered ${response.statusCode} to an invalid body: ${response.body}`);
      return;
    }
    let token: string;
    let what: string;
    const live = roll < 0.7 ? this.catalogue.pickAnyRefreshable() : undefined;
    const parts = live === undefined ? undefined : parseRefreshToken((live.refresh as RefreshChain).current);
    if (parts !== undefined) {
      // Whoever knows a sid cannot end its session: without the family secret, nothing is touched.
      token = formatRefreshToken({ ...parts, family: this.randomText(22) });
      what = `a refresh token of session ${parts.sid} with the wrong family secret`;
    } else if (random.next() < 0.5) {
      token = formatRefreshToken({ tag: this.randomText(22), session: this.randomText(22), family: this.randomText(22), secret: this.randomText(43) });
      what = 'a refresh token of no session';
    } else {
      token = random.pick(['soak-not-a-refresh-token', 'a.b.c.d', `${this.randomText(22)}.${this.randomText(22)}`]);
      what = 'a malformed refresh token';
    }
    const { response } = await this.send(JSON.stringify({ refreshToken: token }));
    if (isRefusal(response)) ledger.refreshes.refusedInvalid += 1;
    else if (response.statusCode === 200) ledger.fail('wrong-allow', `refresh accepted ${what}`);
    else ledger.answered(response.statusCode, `refresh answered ${response.statusCode} to ${what}: ${response.body}`);
  }

  /** The rotation that answered `rotated` retried at once, as a client whose answer was lost would: the same pair, within the grace window. */
  private async retry(session: SoakSession, presented: string, rotated: Pair, rotation: Sent): Promise<void> {
    const { catalogue, ledger } = this;
    const sent = await this.send(JSON.stringify({ refreshToken: presented }));
    const expected = catalogue.retryExpectation(session, { started: rotation.started, answered: rotation.answered }, sent.started, sent.answered);
    const pair = this.judge(sent.response, expected, `a retry of a rotation of session ${session.sid}`);
    if (pair === 'refused') {
      // After the grace window, or with its session ended meanwhile: theft, or an end; its tokens are dead.
      catalogue.startSessionEnd(session, 'reuse', sent.started).answered = sent.answered;
      catalogue.retire(session);
      catalogue.rememberRevoked(session);
    } else if (pair !== undefined) {
      if (pair.jti === rotated.jti && pair.token === rotated.token && pair.refreshToken === rotated.refreshToken) ledger.refreshes.replayed += 1;
      else ledger.fail('wrong-allow', `a retry of a rotation of session ${session.sid} got a second pair: two live chains`);
    }
  }

  private async send(body: string, container = this.containers.refresh): Promise<Sent> {
    this.ledger.count('refresh');
    const started = performance.now();
    const response = await container.refresh(proxyEvent({ method: 'POST', path: '/auth/refresh', body }));
    return { response, started, answered: performance.now() };
  }

  /** The pair a refresh answered, if it was right to; 'refused' if it was refused and could be; undefined (and counted) otherwise. */
  private judge(response: APIGatewayProxyResult, expected: 'allow' | 'deny' | 'either', what: string): Pair | 'refused' | undefined {
    const { ledger } = this;
    if (response.statusCode === 200) {
      if (expected !== 'deny') return JSON.parse(response.body) as Pair;
      ledger.fail('wrong-allow', `refresh accepted ${what} after its session ended`);
    } else if (isRefusal(response)) {
      if (expected !== 'allow') return 'refused';
      ledger.fail('wrong-denial', `refresh refused ${what}`);
    } else ledger.answered(response.statusCode, `refresh answered ${response.statusCode} to ${what}: ${response.body}`);
    return undefined;
  }

  /** Whether a new pair is of `session`: its sid, and an access token of its subject and session. */
  private isOf(pair: Pair, session: SoakSession): boolean {
    const payload = decodeJws(pair.token).payload as { sub?: unknown; sid?: unknown; jti?: unknown };
    if (pair.sid === session.sid && payload.sid === session.sid && payload.sub === session.sub && payload.jti === pair.jti) return true;
    this.ledger.fail('wrong-allow', `a refresh of session ${session.sid} answered a token of another session or subject`);
    return false;
  }

  private randomText(length: number): string {
    return Array.from({ length }, () => BASE64URL[this.random.int(0, 63)] as string).join('');
  }
}
