// The requests of the run, each checked as it answers: authorizations of every category of token, signs
// (valid and not, with a refresh token or not), refreshes (testkit/soak/refreshes.ts), logouts of each scope and
// logouts-all, in the mix step() draws from.
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { proxyEvent, tokenAuthorizerEvent } from '../events';
import type { Container } from '../cold-start';
import { decodeJws } from '../jws';
import type { Issued, Refused, SoakSession, TokenCatalogue } from './catalogue';
import { KEYS, type Deployment } from './deployment';
import type { Ledger } from './ledger';
import type { Tally } from './model';
import { RefreshRequests } from './refreshes';
import { malformedHeader } from './refused';
import type { SeededRandom } from './random';

const SUBJECTS = Array.from({ length: 256 }, (_, i) => `soak-user-${i}`);

const INVALID_SIGN_BODIES = [
  '{"sub":',
  '[]',
  '{"sub":""}',
  '{"sub":"u","claims":{"exp":1}}',
  '{"sub":"u","claims":{"__proto__":{"admin":true}}}',
  '{"sub":"u","constructor":{"prototype":{"admin":true}}}',
  '{"sub":"u","ttl":999999999}',
  JSON.stringify({ sub: 'u', claims: { big: 'x'.repeat(17_000) } }),
  '{"sub":"u","claims":{"toString":1}}',
  '{"sub":"u\\ud800"}',
  `{"sub":"u","claims":{"deep":${'['.repeat(6000)}${']'.repeat(6000)}}}`,
];

interface Decision {
  outcome: keyof Tally;
  result?: APIGatewayAuthorizerResult;
  error?: unknown;
}

/** The policy and context the authorizer must give `record`'s token, and nothing else. */
function allowsExactly(result: APIGatewayAuthorizerResult | undefined, record: Issued): boolean {
  const statement = result?.policyDocument.Statement[0] as { Effect?: string; Resource?: string } | undefined;
  return (
    result !== undefined &&
    result.principalId === record.sub &&
    result.context?.jti === record.jti &&
    result.context.sid === record.session.sid &&
    result.context?.customClaims === JSON.stringify(record.claims) &&
    statement?.Effect === 'Allow' &&
    statement.Resource === 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*'
  );
}

export class SoakRequests {
  private readonly refreshes: RefreshRequests;

  constructor(
    private readonly deployment: Deployment,
    private readonly catalogue: TokenCatalogue,
    private readonly ledger: Ledger,
    private readonly random: SeededRandom,
  ) {
    this.refreshes = new RefreshRequests({ refresh: deployment.refreshContainer, replay: deployment.replayContainer }, catalogue, ledger, random);
  }

  /** One request of the mix. */
  async step(): Promise<void> {
    const { random, catalogue, refreshes } = this;
    const roll = random.next();
    if (roll < 0.42) {
      const record = catalogue.pickIssued();
      if (record !== undefined) await this.authorizeIssued(record);
    } else if (roll < 0.5) {
      if (catalogue.recentlyRevoked.length > 0) await this.authorizeIssued(random.pick(catalogue.recentlyRevoked));
    } else if (roll < 0.63) {
      await this.authorizeRefused(random.pick(catalogue.refused[random.pick(['forged', 'tampered', 'removed-key', 'expired'] as const)]));
    } else if (roll < 0.67) {
      await this.authorizeRefused(malformedHeader(random, random.pick(catalogue.pool)?.token ?? 'a.b.c'));
    } else if (roll < 0.75) {
      await this.sign(this.deployment.main, 'current', this.signBody());
    } else if (roll < 0.76) {
      await this.sign(this.deployment.previousSigner, 'previous', this.signBody());
    } else if (roll < 0.77) {
      const issued = await this.signRemoved();
      if (issued !== undefined) catalogue.replaceRemovedKey(issued.token);
    } else if (roll < 0.78) {
      await this.signInvalid();
    } else if (roll < 0.84) {
      await refreshes.refresh();
    } else if (roll < 0.845) {
      await refreshes.replayUsed();
    } else if (roll < 0.85) {
      await refreshes.refreshInvalid();
    } else if (roll < 0.88) {
      await this.logout(random.pick([undefined, 'local'] as const));
    } else if (roll < 0.886) {
      await this.logout('others');
    } else if (roll < 0.887) {
      await this.logout('global');
    } else if (roll < 0.889) {
      await this.logoutAll();
    } else {
      // The race: a token many requests are using right now is logged out while they run.
      const record = catalogue.hot.length > 0 ? random.pick(catalogue.hot) : undefined;
      if (record !== undefined) await this.authorizeIssued(record);
    }
  }

  /** Fills the pools before the run: live tokens of the current key, and some of the previous one. */
  async fillPools(): Promise<void> {
    const { main, previousSigner } = this.deployment;
    for (let i = 0; i < 256; i += 1) await this.sign(main, 'current', { ...this.signBody(), ttl: this.random.int(300, 600) });
    for (let i = 0; i < 32; i += 1) await this.sign(previousSigner, 'previous', { ...this.signBody(), ttl: this.random.int(300, 600) });
  }

  /** A token of the key taken out of the main container's ring. */
  signRemoved(): Promise<{ token: string; jti: string } | undefined> {
    return this.sign(this.deployment.removedSigner, 'removed', this.signBody());
  }

  private async decisionOf(header: string | undefined): Promise<Decision> {
    const started = performance.now();
    this.ledger.count('authorize');
    try {
      const result = await this.deployment.main.authorizer(tokenAuthorizerEvent(header));
      return { outcome: 'allow', result };
    } catch (error) {
      return error instanceof Error && error.message === 'Unauthorized' ? { outcome: 'deny' } : { outcome: 'error', error };
    } finally {
      this.ledger.authorizeLatency.record(performance.now() - started);
    }
  }

  /** Authorizes an issued token and checks the decision. Resolves the authorizer context when allowed. */
  private async authorizeIssued(record: Issued): Promise<Record<string, unknown> | undefined> {
    const { ledger } = this;
    const startedWall = Date.now();
    const started = performance.now();
    const decision = await this.decisionOf(`Bearer ${record.token}`);
    const answered = performance.now();
    const answeredWall = Date.now();
    const { category, expected } = this.catalogue.expectation(record, { started, answered, startedWall, answeredWall });
    ledger.authorizations[category][decision.outcome] += 1;
    if (category === 'revoked' || category === 'reused') ledger.checksAfterRevocation += 1;
    const what = `${category} token (kid ${KEYS[record.key].kid}, jti ${record.jti})`;
    if (decision.outcome === 'error') {
      ledger.threw(decision.error, `authorizer threw on a ${what}: ${String(decision.error)}`);
      return undefined;
    }
    if (decision.outcome === 'allow') {
      if (expected === 'deny') ledger.fail('wrong-allow', `allowed a ${what}`);
      else if (!allowsExactly(decision.result, record)) ledger.fail('wrong-allow', `allowed a ${what} with the wrong identity or policy`);
      return decision.result?.context as Record<string, unknown>;
    }
    if (expected === 'allow') ledger.fail('wrong-denial', `refused a ${what}`);
    return undefined;
  }

  private async authorizeRefused(entry: Refused): Promise<void> {
    const { ledger } = this;
    const decision = await this.decisionOf(entry.header);
    ledger.authorizations[entry.category][decision.outcome] += 1;
    if (decision.outcome === 'allow') ledger.fail('wrong-allow', `allowed a ${entry.category} token (${entry.variant})`);
    if (decision.outcome === 'error')
      ledger.threw(decision.error, `authorizer threw on a ${entry.category} token (${entry.variant}): ${String(decision.error)}`);
  }

  private signBody(): { sub: string; claims: Record<string, unknown>; ttl: number; refresh?: true; session?: { device: string; ip: string } } {
    const { random } = this;
    // Mostly minutes; some tokens of 1-3 s, so that tokens expire while the run goes on.
    const ttl = random.next() < 0.15 ? random.int(1, 3) : random.int(30, 600);
    return {
      sub: random.pick(SUBJECTS),
      claims: { role: random.pick(['user', 'admin', 'auditor']), n: random.int(0, 1e6) },
      ttl,
      // Half the sessions can be refreshed; some say where they were signed in from.
      ...(random.next() < 0.5 ? { refresh: true } : {}),
      ...(random.next() < 0.2 ? { session: { device: `soak device ${random.int(0, 99)}`, ip: `192.0.2.${random.int(1, 254)}` } } : {}),
    };
  }

  private async sign(
    signer: Container,
    key: 'current' | 'previous' | 'removed',
    body: Record<string, unknown>,
  ): Promise<{ token: string; jti: string } | undefined> {
    const { ledger } = this;
    ledger.count('sign');
    const started = performance.now();
    const response: APIGatewayProxyResult = await signer.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(body) }));
    if (response.statusCode !== 201) {
      ledger.answered(response.statusCode, `sign answered ${response.statusCode}: ${response.body}`);
      return undefined;
    }
    const answered = performance.now();
    ledger.signs.issued += 1;
    const issued = JSON.parse(response.body) as { token: string; jti: string; sid: string; expiresIn: number; refreshToken?: string };
    if ((body.refresh === true) !== (typeof issued.refreshToken === 'string'))
      ledger.fail('error', `sign answered a refresh token: ${String(issued.refreshToken !== undefined)}, asked: ${String(body.refresh === true)}`);
    if (key !== 'removed') {
      const { exp } = decodeJws(issued.token).payload as { exp: number };
      const sub = String(body.sub);
      const session: SoakSession = {
        sid: issued.sid,
        sub,
        signStarted: started,
        signAnswered: answered,
        ends: [],
        tokens: [],
        ...(issued.refreshToken === undefined
          ? {}
          : { refresh: { current: issued.refreshToken, used: [], rotatedAt: undefined, rotations: 0, busy: false, retired: false } }),
      };
      const claims = (body.claims as Record<string, unknown> | undefined) ?? {};
      this.catalogue.addSession(session, {
        token: issued.token,
        jti: issued.jti,
        sub,
        exp,
        key,
        claims,
        session,
        refreshed: false,
        signStarted: started,
        signAnswered: answered,
      });
    }
    return issued;
  }

  private async signInvalid(): Promise<void> {
    const { ledger } = this;
    ledger.count('sign');
    const body = this.random.pick(INVALID_SIGN_BODIES);
    const response = await this.deployment.main.sign(proxyEvent({ method: 'POST', path: '/auth/token', body }));
    if (response.statusCode === 400) ledger.signs.refused400 += 1;
    else ledger.fail('error', `sign answered ${response.statusCode} to an invalid body`);
  }

  /**
   * POST /auth/logout with a token of a live session: no body (its default, local), or the scope given. local
   * ends that session, others every other session of the subject, global all of them.
   */
  private async logout(scope: 'local' | 'others' | 'global' | undefined): Promise<void> {
    const { ledger, catalogue } = this;
    const record = catalogue.pickLive();
    if (record === undefined) return;
    // As API Gateway does: the authorizer first, then the route with the context it returned.
    const context = await this.authorizeIssued(record);
    if (context === undefined) return;
    const { session } = record;
    const end =
      scope === 'others' || scope === 'global'
        ? catalogue.startSubjectEnd(record.sub, scope === 'others' ? session.sid : undefined)
        : catalogue.startSessionEnd(session, 'logout');
    ledger.count('logout');
    const body = scope === undefined ? null : JSON.stringify({ scope });
    const response = await this.deployment.logoutContainer.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context, body }));
    if (response.statusCode !== 204) {
      ledger.answered(response.statusCode, `logout (${scope ?? 'no body'}) answered ${response.statusCode}: ${response.body}`);
      return;
    }
    end.answered = performance.now();
    ledger.revocationsAcknowledged += 1;
    ledger.logouts[scope ?? 'local'] += 1;
    if (scope !== 'others') catalogue.rememberRevoked(session);
  }

  private async logoutAll(): Promise<void> {
    const { ledger } = this;
    const record = this.catalogue.pickLive();
    if (record === undefined) return;
    const context = await this.authorizeIssued(record);
    if (context === undefined) return;
    const run = this.catalogue.startSubjectEnd(record.sub);
    ledger.count('logoutAll');
    const response = await this.deployment.logoutContainer.logoutAll(proxyEvent({ method: 'POST', path: '/auth/logout-all', authorizer: context }));
    if (response.statusCode !== 204) {
      ledger.answered(response.statusCode, `logout-all answered ${response.statusCode}: ${response.body}`);
      return;
    }
    run.answered = performance.now();
    ledger.logoutAllsAcknowledged += 1;
    this.catalogue.rememberRevoked(record.session);
  }
}
