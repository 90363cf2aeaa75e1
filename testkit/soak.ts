// The soak: `concurrency` requests in flight through the real handlers of one container, against a real
// redis-server, for a bounded time. Every answer is checked against an oracle that knows what each token
// is (live, revoked, expired, forged, tampered, signed by a removed key…), so every decision is counted as
// right or wrong. Heap (after GC) and the server's open connections are sampled along the way.
//
// Run it with `npm run soak` (long) or through test/load/soak.test.ts (short, inside `npm test`). It needs
// `node --expose-gc` for the heap figures; without it they are reported as unavailable.
import type { APIGatewayAuthorizerResult, APIGatewayProxyResult } from 'aws-lambda';
import { StoreUnavailableError } from '../shared/errors';
import { labelKey, newJti } from '../shared/sessions/store';
import { proxyEvent, tokenAuthorizerEvent } from './events';
import { coldStart, type Container } from './cold-start';
import { ALL_ALGS, b64url, decodeJws, encodeSegment, forgeJws } from './jws';
import { startRedisServer, type RedisServer } from './redis-server';

export const MUTATIONS = ['none', 'keep-removed-key', 'drop-previous-key', 'logout-to-another-redis'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface SoakOptions {
  durationMs: number;
  /** Requests in flight at every moment. */
  concurrency: number;
  seed: number;
  redisTimeoutMs: number;
  /**
   * A deliberate misconfiguration the oracle is not told about, to show that the soak notices: with
   * `keep-removed-key` the container still trusts the removed key (wrong allows), with `drop-previous-key`
   * it no longer trusts a key that was not removed (wrong denials), with `logout-to-another-redis` logouts
   * go to a container whose REDIS_URL is another server, so each 204 is a logout lost (wrong allows).
   */
  mutation: Mutation;
  /** Go on past the duration until this many requests were checked (for short runs on a busy machine). */
  minRequests?: number;
  /** Called with a line now and then; the soak prints nothing itself. */
  progress?: (line: string) => void;
}

/** What the authorizer did with a token in one category. */
export interface Tally {
  allow: number;
  deny: number;
  error: number;
}

export const CATEGORIES = [
  'live',
  'live-previous-key',
  'revoked',
  'revocation-in-flight',
  'at-expiry',
  'expired',
  'forged',
  'tampered',
  'removed-key',
  'malformed',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Checkpoint {
  atMs: number;
  requests: number;
  heapMiB: number | undefined;
  /** Clients connected to the server, not counting the soak's own admin connection. */
  connections: number;
}

export interface SoakReport {
  seed: number;
  mutation: Mutation;
  concurrency: number;
  durationMs: number;
  requests: { total: number; authorize: number; sign: number; logout: number; logoutAll: number };
  authorizations: Record<Category, Tally>;
  signs: { issued: number; refused400: number };
  /** Logouts answered 204, after which every authorization of the token must deny. */
  revocationsAcknowledged: number;
  /** Logouts-all answered 204, after which every token of the subject signed before it must be refused. */
  logoutAllsAcknowledged: number;
  /** Authorizations of a token that started after its revocation was acknowledged (all must deny). */
  checksAfterRevocation: number;
  wrongAllows: number;
  wrongDenials: number;
  /**
   * Requests that failed closed because Redis did not answer within REDIS_TIMEOUT_MS (authorizer error
   * "Redis … failed", or 503). Never wrong in kind, but with a healthy Redis there should be none: a count
   * here means the process or the machine stalled for longer than the bound.
   */
  failedClosed: number;
  /** Anything else: a 500, an exception that is not a refusal, an unhandled rejection. */
  unhandledErrors: number;
  checkpoints: Checkpoint[];
  heapGrowthMiB: number | undefined;
  /** Connections the main container opened over the run: 1 means it never had to reconnect. */
  mainConnectCount: number;
  authorizeLatencyMs: { p50: number; p99: number; max: number };
  failures: string[];
}

const KEYS = {
  current: { kid: '2026-12', secret: 'soak-current-key-0123456789abcdefghijklmnop' },
  previous: { kid: '2026-10', secret: 'soak-previous-key-0123456789abcdefghijklmno' },
  removed: { kid: '2026-11', secret: 'soak-removed-key-0123456789abcdefghijklmnopq' },
};
type KeyName = keyof typeof KEYS;
const ring = (...names: KeyName[]) => names.map((name) => `${KEYS[name].kid}:${KEYS[name].secret}`).join(',');
const ISSUER = 'revocable-jwt';
const AUDIENCE = 'revocable-jwt-api';

const POOL_SIZE = 2048;
const HOT_SIZE = 16;
const RECENTLY_REVOKED = 256;
const SUBJECTS = 256;
const MAX_FAILURES = 20;

/** A token's own logout only ever moves forward: none → in-flight → uncertain (it failed) → acknowledged. */
type Revocation = 'none' | 'in-flight' | 'uncertain' | 'acknowledged';
const REVOCATION_RANK: Record<Revocation, number> = { none: 0, 'in-flight': 1, uncertain: 2, acknowledged: 3 };

interface Issued {
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

interface Refused {
  header: string | undefined;
  category: Exclude<Category, 'live' | 'live-previous-key' | 'revoked' | 'revocation-in-flight' | 'at-expiry'>;
  variant: string;
}

/** A logout-all of one subject: performance.now() when it was called and when it answered 204. */
interface LogoutAllRun {
  started: number;
  /** Undefined while it runs, and for ever if it failed: its effect is then unknown. */
  answered: number | undefined;
}
/** Tokens live at most this long (the longest ttl the soak asks for), so older logout-all runs matter no more. */
const LOGOUT_ALL_MEMORY_MS = 700_000;

/** Mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The authorizer's refusal when Redis could not answer in time. */
const isStoreUnavailable = (error: unknown) => error instanceof StoreUnavailableError;

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const random = prng(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const gc = (globalThis as { gc?: () => void }).gc;

  const server: RedisServer = await startRedisServer();
  const admin = await server.admin();
  // The oracle does not model MAX_SESSIONS ending the oldest sessions (session-cap.test.ts does), and a
  // subject here signs about ten tokens a second: the highest cap keeps it out of reach.
  const containerEnv = (keys: string) => ({ REDIS_URL: server.url, JWT_KEYS: keys, REDIS_TIMEOUT_MS: String(options.redisTimeoutMs), LOG_LEVEL: 'silent', MAX_SESSIONS: '1000' });
  const mainRing = options.mutation === 'keep-removed-key' ? ring('current', 'previous', 'removed') : options.mutation === 'drop-previous-key' ? ring('current') : ring('current', 'previous');
  const main = coldStart(containerEnv(mainRing));
  const elsewhere = options.mutation === 'logout-to-another-redis' ? await startRedisServer() : undefined;
  const logoutContainer = elsewhere === undefined ? main : coldStart({ ...containerEnv(mainRing), REDIS_URL: elsewhere.url });
  // Containers of other deployments: one still signing with the previous key (its tokens must keep working
  // after the rotation), one from before the removed key was taken out of the ring.
  const previousSigner = coldStart(containerEnv(ring('previous')));
  const removedSigner = coldStart(containerEnv(ring('removed', 'previous')));

  const unhandled: unknown[] = [];
  const onUnhandled = (error: unknown) => void unhandled.push(error);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);

  const authorizations = Object.fromEntries(CATEGORIES.map((category) => [category, { allow: 0, deny: 0, error: 0 }])) as Record<Category, Tally>;
  const requests = { total: 0, authorize: 0, sign: 0, logout: 0, logoutAll: 0 };
  const signs = { issued: 0, refused400: 0 };
  let revocationsAcknowledged = 0;
  let logoutAllsAcknowledged = 0;
  let checksAfterRevocation = 0;
  let wrongAllows = 0;
  let wrongDenials = 0;
  let failedClosed = 0;
  let unhandledErrors = 0;
  const failures: string[] = [];
  const fail = (kind: 'wrong-allow' | 'wrong-denial' | 'failed-closed' | 'error', detail: string) => {
    if (kind === 'wrong-allow') wrongAllows += 1;
    else if (kind === 'wrong-denial') wrongDenials += 1;
    else if (kind === 'failed-closed') failedClosed += 1;
    else unhandledErrors += 1;
    if (failures.length < MAX_FAILURES) failures.push(`${kind}: ${detail}`);
  };
  // Authorizer latency in 0.1 ms buckets up to 2 s; the last bucket holds everything slower.
  const latencyBuckets = new Uint32Array(20_001);
  let latencyMax = 0;

  const subjects = Array.from({ length: SUBJECTS }, (_, i) => `soak-user-${i}`);
  const pool: Issued[] = [];
  const hot: Issued[] = [];
  const recentlyRevoked: Issued[] = [];
  let recentlyRevokedNext = 0;
  const logoutAllRuns = new Map<string, LogoutAllRun[]>();
  /** Tokens that must always be refused, by category, so that each keeps its share of the run. */
  const refused = { forged: [] as Refused[], tampered: [] as Refused[], 'removed-key': [] as Refused[], expired: [] as Refused[] };

  const advance = (record: Issued, to: Revocation) => {
    if (REVOCATION_RANK[to] > REVOCATION_RANK[record.revocation]) record.revocation = to;
  };

  function addIssued(record: Issued): void {
    if (pool.length < POOL_SIZE) pool.push(record);
    else pool[Math.floor(random() * POOL_SIZE)] = record;
    if (hot.length < HOT_SIZE) hot.push(record);
    else if (random() < 0.25) hot[Math.floor(random() * HOT_SIZE)] = record;
  }

  /**
   * What the logouts-all of the token's subject mean for an authorization that ran from `started` to
   * `answered`: a run ends every token whose sign answered before the run began; a token signed while a run
   * went on may or may not be ended by it (the README's promise is only that it is never left alive *and*
   * out of the index), and a run still going may or may not have reached the token yet.
   */
  function logoutAllEffect(record: Issued, started: number, answered: number): 'none' | 'revoked' | 'either' {
    let effect: 'none' | 'revoked' | 'either' = 'none';
    for (const run of logoutAllRuns.get(record.sub) ?? []) {
      if (run.started > answered) continue;
      const signedBefore = record.signAnswered < run.started;
      const signedDuring = !signedBefore && (run.answered === undefined || run.answered > record.signStarted);
      if (signedBefore && run.answered !== undefined && run.answered < started) return 'revoked';
      if (signedBefore || signedDuring) effect = 'either';
    }
    return effect;
  }

  const decisionOf = async (header: string | undefined): Promise<{ outcome: keyof Tally; result?: APIGatewayAuthorizerResult; error?: unknown }> => {
    const started = performance.now();
    requests.authorize += 1;
    requests.total += 1;
    try {
      const result = await main.authorizer(tokenAuthorizerEvent(header));
      return { outcome: 'allow', result };
    } catch (error) {
      return error instanceof Error && error.message === 'Unauthorized' ? { outcome: 'deny' } : { outcome: 'error', error };
    } finally {
      const latency = performance.now() - started;
      latencyBuckets[Math.min(Math.floor(latency * 10), latencyBuckets.length - 1)]! += 1;
      if (latency > latencyMax) latencyMax = latency;
    }
  };

  const allowsExactly = (result: APIGatewayAuthorizerResult | undefined, record: Issued): boolean => {
    const statement = result?.policyDocument.Statement[0] as { Effect?: string; Resource?: string } | undefined;
    return (
      result !== undefined &&
      result.principalId === record.sub &&
      result.context?.jti === record.jti &&
      result.context?.customClaims === JSON.stringify(record.claims) &&
      statement?.Effect === 'Allow' &&
      statement.Resource === 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/*'
    );
  };

  /** Authorizes an issued token and checks the decision. Resolves the authorizer context when allowed. */
  async function authorizeIssued(record: Issued): Promise<Record<string, unknown> | undefined> {
    const revocationBefore = record.revocation;
    const startedWall = Date.now();
    const started = performance.now();
    const decision = await decisionOf(`Bearer ${record.token}`);
    const answered = performance.now();
    const answeredWall = Date.now();
    const bulk = logoutAllEffect(record, started, answered);
    const expiresMs = record.exp * 1000;
    let category: Category;
    let expected: 'allow' | 'deny' | 'either';
    if (startedWall >= expiresMs) [category, expected] = ['expired', 'deny'];
    else if (revocationBefore === 'acknowledged' || bulk === 'revoked') [category, expected] = ['revoked', 'deny'];
    else if (revocationBefore !== 'none' || record.revocation !== 'none' || bulk === 'either') [category, expected] = ['revocation-in-flight', 'either'];
    // Its exp or its label's PX may pass while the request runs: either answer is right.
    else if (answeredWall >= expiresMs - 50) [category, expected] = ['at-expiry', 'either'];
    else [category, expected] = [record.key === 'current' ? 'live' : 'live-previous-key', 'allow'];
    authorizations[category][decision.outcome] += 1;
    if (category === 'revoked') checksAfterRevocation += 1;
    const what = `${category} token (kid ${KEYS[record.key].kid}, jti ${record.jti})`;
    if (decision.outcome === 'error') {
      fail(isStoreUnavailable(decision.error) ? 'failed-closed' : 'error', `authorizer threw on a ${what}: ${String(decision.error)}`);
      return undefined;
    }
    if (decision.outcome === 'allow') {
      if (expected === 'deny') fail('wrong-allow', `allowed a ${what}`);
      else if (!allowsExactly(decision.result, record)) fail('wrong-allow', `allowed a ${what} with the wrong identity or policy`);
      return decision.result?.context as Record<string, unknown>;
    }
    if (expected === 'allow') fail('wrong-denial', `refused a ${what}`);
    return undefined;
  }

  async function authorizeRefused(entry: Refused): Promise<void> {
    const decision = await decisionOf(entry.header);
    authorizations[entry.category][decision.outcome] += 1;
    if (decision.outcome === 'allow') fail('wrong-allow', `allowed a ${entry.category} token (${entry.variant})`);
    if (decision.outcome === 'error') {
      fail(isStoreUnavailable(decision.error) ? 'failed-closed' : 'error', `authorizer threw on a ${entry.category} token (${entry.variant}): ${String(decision.error)}`);
    }
  }

  async function sign(signer: Container, key: 'current' | 'previous' | 'removed', body: Record<string, unknown>): Promise<{ token: string; jti: string } | undefined> {
    requests.sign += 1;
    requests.total += 1;
    const started = performance.now();
    const response: APIGatewayProxyResult = await signer.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify(body) }));
    if (response.statusCode !== 201) {
      fail(response.statusCode === 503 ? 'failed-closed' : 'error', `sign answered ${response.statusCode}: ${response.body}`);
      return undefined;
    }
    signs.issued += 1;
    const issued = JSON.parse(response.body) as { token: string; jti: string; expiresIn: number };
    if (key !== 'removed') {
      const { exp } = decodeJws(issued.token).payload as { exp: number };
      addIssued({
        token: issued.token,
        jti: issued.jti,
        sub: String(body.sub),
        exp,
        key,
        claims: (body.claims as Record<string, unknown> | undefined) ?? {},
        revocation: 'none',
        signStarted: started,
        signAnswered: performance.now(),
      });
    }
    return issued;
  }

  const signBody = () => {
    // Mostly minutes; some tokens of 1-3 s, so that tokens expire while the run goes on.
    const ttl = random() < 0.15 ? int(1, 3) : int(30, 600);
    return { sub: pick(subjects), claims: { role: pick(['user', 'admin', 'auditor']), n: int(0, 1e6) }, ttl };
  };

  async function signInvalid(): Promise<void> {
    requests.sign += 1;
    requests.total += 1;
    const body = pick([
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
    ]);
    const response = await main.sign(proxyEvent({ method: 'POST', path: '/auth/token', body }));
    if (response.statusCode === 400) signs.refused400 += 1;
    else fail('error', `sign answered ${response.statusCode} to an invalid body`);
  }

  function rememberRevoked(record: Issued): void {
    if (recentlyRevoked.length < RECENTLY_REVOKED) recentlyRevoked.push(record);
    else recentlyRevoked[(recentlyRevokedNext = (recentlyRevokedNext + 1) % RECENTLY_REVOKED)] = record;
  }

  const pickIssued = (): Issued | undefined => (hot.length > 0 && random() < 0.35 ? pick(hot) : pool.length > 0 ? pick(pool) : undefined);

  /** A token that should be allowed for a while yet: the target of a logout. */
  function pickLive(): Issued | undefined {
    for (let tries = 0; tries < 8; tries += 1) {
      const candidate = random() < 0.5 && hot.length > 0 ? pick(hot) : pick(pool);
      if (candidate !== undefined && candidate.revocation === 'none' && candidate.exp * 1000 > Date.now() + 2000) return candidate;
    }
    return undefined;
  }

  async function logout(): Promise<void> {
    const record = pickLive();
    if (record === undefined) return;
    // As API Gateway does: the authorizer first, then the route with the context it returned.
    const context = await authorizeIssued(record);
    if (context === undefined || record.revocation !== 'none') return;
    advance(record, 'in-flight');
    requests.logout += 1;
    requests.total += 1;
    const response = await logoutContainer.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context }));
    if (response.statusCode === 204) {
      advance(record, 'acknowledged');
      revocationsAcknowledged += 1;
      rememberRevoked(record);
    } else {
      advance(record, 'uncertain');
      fail(response.statusCode === 503 ? 'failed-closed' : 'error', `logout answered ${response.statusCode}: ${response.body}`);
    }
  }

  async function logoutAll(): Promise<void> {
    const record = pickLive();
    if (record === undefined) return;
    const context = await authorizeIssued(record);
    if (context === undefined) return;
    const run: LogoutAllRun = { started: performance.now(), answered: undefined };
    const runs = (logoutAllRuns.get(record.sub) ?? []).filter((old) => old.started > run.started - LOGOUT_ALL_MEMORY_MS);
    logoutAllRuns.set(record.sub, [...runs, run]);
    requests.logoutAll += 1;
    requests.total += 1;
    const response = await logoutContainer.logoutAll(proxyEvent({ method: 'POST', path: '/auth/logout-all', authorizer: context }));
    if (response.statusCode !== 204) {
      fail(response.statusCode === 503 ? 'failed-closed' : 'error', `logout-all answered ${response.statusCode}: ${response.body}`);
      return;
    }
    run.answered = performance.now();
    logoutAllsAcknowledged += 1;
    rememberRevoked(record);
  }

  /** A header that is not "Bearer <one compact JWS>", built around a real token where that makes it harder. */
  function malformedHeader(): Refused {
    const live = pick(pool)?.token ?? 'a.b.c';
    const [variant, header] = pick<() => [string, string | undefined]>([
      () => ['no header', undefined],
      () => ['empty', ''],
      () => ['scheme only', 'Bearer'],
      () => ['scheme and a space', 'Bearer '],
      () => ['Basic', `Basic ${b64url('user:password')}`],
      () => ['another scheme, real token', `Token ${live}`],
      () => ['no scheme, real token', live],
      () => ['two tokens', `Bearer ${live} ${live}`],
      () => ['two tokens, comma', `Bearer ${live},${live}`],
      () => ['four segments', `Bearer ${live}.${live.split('.')[2]}`],
      () => ['two segments', `Bearer ${live.split('.').slice(0, 2).join('.')}`],
      () => ['header line break inside', `Bearer ${live.slice(0, 20)}\n${live.slice(20)}`],
      () => ['oversize', `Bearer ${'A'.repeat(9000)}.${'B'.repeat(10)}.${'C'.repeat(10)}`],
      () => ['random UTF-16', `Bearer ${Array.from({ length: int(1, 40) }, () => String.fromCharCode(int(0, 0xffff))).join('')}`],
      () => ['random ASCII', Array.from({ length: int(1, 80) }, () => String.fromCharCode(int(0, 0x7f))).join('')],
      () => ['payload not JSON', `Bearer ${encodeSegment({ alg: 'HS256' })}.${encodeSegment('not json')}.${b64url('x')}`],
      () => ['header not JSON', `Bearer ${encodeSegment('[')}.${encodeSegment({})}.${b64url('x')}`],
      () => ['typ JWT, payload not JSON', `Bearer ${encodeSegment({ alg: 'HS256', typ: 'JWT', kid: KEYS.current.kid })}.${b64url('not json')}.${b64url('x')}`],
    ])();
    return { header, category: 'malformed', variant };
  }

  async function prepareRefused(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const claimsFor = (sub: string, jti = newJti(sub)) => ({ sub, jti, iat: now, exp: now + 3600, iss: ISSUER, aud: AUDIENCE });
    const withLabel = async (token: string) => {
      const { jti } = decodeJws(token).payload;
      // Give forgeries a label, so that only the signature and claim checks can stop them.
      if (typeof jti === 'string') await admin.set(labelKey(jti), String(Date.now()), { EX: 3600 });
      return token;
    };
    const add = (category: keyof typeof refused, variant: string, token: string) => refused[category].push({ header: `Bearer ${token}`, category, variant });
    const current = KEYS.current;
    const header = (extra: Record<string, unknown> = {}) => ({ alg: 'HS256', typ: 'JWT', kid: current.kid, ...extra });
    for (let copy = 0; copy < 4; copy += 1) {
      const sub = `forged-${copy}`;
      const forged = async (variant: string, options: Parameters<typeof forgeJws>[0]) => add('forged', variant, await withLabel(forgeJws(options)));
      await forged('unknown secret', { header: header(), payload: claimsFor(sub), secret: 'an-attacker-secret-0123456789abcdefghij' });
      add('forged', 'our key, never issued (no label)', forgeJws({ header: header(), payload: claimsFor(sub), secret: current.secret }));
      await forged('wrong iss', { header: header(), payload: { ...claimsFor(sub), iss: 'someone-else' }, secret: current.secret });
      await forged('wrong aud', { header: header(), payload: { ...claimsFor(sub), aud: 'another-api' }, secret: current.secret });
      await forged('no aud', { header: header(), payload: { ...claimsFor(sub), aud: undefined }, secret: current.secret });
      await forged('no exp', { header: header(), payload: { ...claimsFor(sub), exp: undefined }, secret: current.secret });
      await forged('exp as a string', { header: header(), payload: { ...claimsFor(sub), exp: String(now + 3600) }, secret: current.secret });
      await forged('not valid before an hour', { header: header(), payload: { ...claimsFor(sub), nbf: now + 3600 }, secret: current.secret });
      await forged("another subject's jti", { header: header(), payload: claimsFor(sub, newJti('someone-else')), secret: current.secret });
      await forged('jti not ours', { header: header(), payload: { ...claimsFor(sub), jti: `plain-${copy}` }, secret: current.secret });
      await forged('empty sub', { header: header(), payload: claimsFor(''), secret: current.secret });
      for (const alg of ALL_ALGS.filter((name) => name !== 'HS256')) {
        await forged(`alg ${alg}`, { header: header({ alg }), payload: claimsFor(sub), secret: current.secret });
      }
      await forged('alg none with an HS256 signature', { header: header({ alg: 'none' }), payload: claimsFor(sub), secret: current.secret, signingAlg: 'HS256' });
      await forged('alg hs256 (lower case)', { header: header({ alg: 'hs256' }), payload: claimsFor(sub), secret: current.secret, signingAlg: 'HS256' });
      await forged('no alg', { header: { typ: 'JWT', kid: current.kid }, payload: claimsFor(sub), secret: current.secret, signingAlg: 'HS256' });
      await forged('previous key, current kid', { header: header(), payload: claimsFor(sub), secret: KEYS.previous.secret });
      await forged('current key, previous kid', { header: header({ kid: KEYS.previous.kid }), payload: claimsFor(sub), secret: current.secret });
      await forged('current key, removed kid', { header: header({ kid: KEYS.removed.kid }), payload: claimsFor(sub), secret: current.secret });
      for (const kid of [undefined, '', 42, ['2026-12'], { kid: '2026-12' }, '../../etc/passwd', '__proto__', 'constructor', 'toString', '2026-12 ']) {
        await forged(`kid ${JSON.stringify(kid)}`, { header: header({ kid }), payload: claimsFor(sub), secret: current.secret });
      }
      await forged('embedded jwk', { header: header({ jwk: { kty: 'oct', k: b64url('attacker') } }), payload: claimsFor(sub), secret: 'attacker' });
      add('expired', 'our key, expired, label still there', await withLabel(forgeJws({ header: header(), payload: { ...claimsFor(sub), iat: now - 120, exp: now - 60 }, secret: current.secret })));
    }

    // Tampered: real tokens of a subject nobody logs out, changed after signing.
    const originals: Array<{ token: string }> = [];
    for (let i = 0; i < 8; i += 1) {
      const issued = await main.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `tamper-source-${i}`, claims: { role: 'user' }, ttl: 86_400 }) }));
      if (issued.statusCode !== 201) throw new Error(`soak setup: sign answered ${issued.statusCode}`);
      originals.push(JSON.parse(issued.body) as { token: string });
    }
    originals.forEach(({ token }, i) => {
      const { header: head, payload, segments } = decodeJws(token);
      const other = decodeJws((originals[(i + 1) % originals.length] as { token: string }).token);
      const [h, p, s] = segments;
      add('tampered', 'role raised', `${h}.${encodeSegment({ ...payload, role: 'admin' })}.${s}`);
      add('tampered', 'exp extended', `${h}.${encodeSegment({ ...payload, exp: (payload.exp as number) + 86_400 })}.${s}`);
      add('tampered', 'sub changed', `${h}.${encodeSegment({ ...payload, sub: 'tamper-source-admin' })}.${s}`);
      add('tampered', "another token's signature", `${h}.${p}.${other.segments[2]}`);
      add('tampered', "another token's payload", `${h}.${other.segments[1]}.${s}`);
      add('tampered', 'alg none, signature dropped', `${encodeSegment({ ...head, alg: 'none' })}.${p}.`);
      add('tampered', 'kid switched', `${encodeSegment({ ...head, kid: KEYS.previous.kid })}.${p}.${s}`);
      add('tampered', 'signature truncated', `${h}.${p}.${s.slice(0, -4)}`);
      add('tampered', 'signature first byte flipped', `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`);
      add('tampered', 'payload re-encoded with padding', `${h}.${p}==.${s}`);
    });

    // Signed by a deployment whose key has since been removed from the ring: labels and all.
    for (let i = 0; i < 32; i += 1) {
      const issued = await sign(removedSigner, 'removed', signBody());
      if (issued === undefined) throw new Error('soak setup: the removed-key container could not sign');
      add('removed-key', 'signed by a removed key', issued.token);
    }
  }

  async function step(): Promise<void> {
    const roll = random();
    if (roll < 0.45) {
      const record = pickIssued();
      if (record !== undefined) await authorizeIssued(record);
    } else if (roll < 0.53) {
      if (recentlyRevoked.length > 0) await authorizeIssued(pick(recentlyRevoked));
    } else if (roll < 0.67) {
      await authorizeRefused(pick(refused[pick(['forged', 'tampered', 'removed-key', 'expired'] as const)]));
    } else if (roll < 0.72) {
      await authorizeRefused(malformedHeader());
    } else if (roll < 0.82) {
      await sign(main, 'current', signBody());
    } else if (roll < 0.83) {
      await sign(previousSigner, 'previous', signBody());
    } else if (roll < 0.84) {
      const issued = await sign(removedSigner, 'removed', signBody());
      const pool = refused['removed-key'];
      if (issued !== undefined) pool[Math.floor(random() * pool.length)] = { header: `Bearer ${issued.token}`, category: 'removed-key', variant: 'signed by a removed key' };
    } else if (roll < 0.85) {
      await signInvalid();
    } else if (roll < 0.892) {
      await logout();
    } else if (roll < 0.894) {
      await logoutAll();
    } else {
      // The race: a token many requests are using right now is logged out while they run.
      const record = hot.length > 0 ? pick(hot) : undefined;
      if (record !== undefined) await authorizeIssued(record);
    }
  }

  async function clientCount(): Promise<number> {
    const list = String(await admin.sendCommand(['CLIENT', 'LIST', 'TYPE', 'normal']));
    return list.split('\n').filter((line) => line.trim() !== '').length - 1;
  }

  const checkpoints: Checkpoint[] = [];
  /** When the run proper starts, after the setup. */
  let started = performance.now();
  async function checkpoint(): Promise<void> {
    let heapMiB: number | undefined;
    if (gc !== undefined) {
      gc();
      gc();
      heapMiB = mib(process.memoryUsage().heapUsed);
    }
    checkpoints.push({ atMs: Math.round(performance.now() - started), requests: requests.total, heapMiB, connections: await clientCount() });
    options.progress?.(
      `soak: ${Math.round((performance.now() - started) / 1000)} s, ${requests.total} requests, wrong allows ${wrongAllows}, wrong denials ${wrongDenials}, errors ${unhandledErrors}, failed closed ${failedClosed}` +
        (heapMiB === undefined ? '' : `, heap ${heapMiB} MiB`),
    );
  }

  let mainConnectCount = -1;
  try {
    // Every container connects before the run, so the connection count is steady from the start.
    const warmUp = (container: Container) => container.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: '{"sub":"soak-warm-up","ttl":1}' }));
    await Promise.all([main, previousSigner, removedSigner].map(warmUp));
    await prepareRefused();
    for (let i = 0; i < 256; i += 1) await sign(main, 'current', { ...signBody(), ttl: int(300, 600) });
    for (let i = 0; i < 32; i += 1) await sign(previousSigner, 'previous', { ...signBody(), ttl: int(300, 600) });

    started = performance.now();
    const endAt = started + options.durationMs;
    const minimum = options.minRequests ?? 0;
    // Heap and connections after the pools have filled, half-way, and at the end.
    const warmAt = Math.min(Math.max(options.durationMs * 0.25, 2000), options.durationMs * 0.5);
    const marks = [warmAt, options.durationMs * 0.5, options.durationMs * 0.75];
    const timers = marks.map((at) => setTimeout(() => void checkpoint(), at));
    const workers = Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < endAt || requests.total < minimum) await step();
    });
    await Promise.all(workers);
    timers.forEach(clearTimeout);
    await checkpoint();
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    mainConnectCount = main.services().redis.connectCount;
    await Promise.all([main, previousSigner, removedSigner, logoutContainer].map((container) => container.resetServices()));
    await server.stop();
    await elsewhere?.stop();
  }
  for (const error of unhandled) fail('error', `unhandled: ${String(error)}`);

  const percentile = (fraction: number) => {
    const total = latencyBuckets.reduce((sum, count) => sum + count, 0);
    let seen = 0;
    for (let i = 0; i < latencyBuckets.length; i += 1) {
      seen += latencyBuckets[i] ?? 0;
      if (seen >= total * fraction) return (i + 1) / 10;
    }
    return Infinity;
  };
  const heaps = checkpoints.map((point) => point.heapMiB).filter((heap): heap is number => heap !== undefined);
  return {
    seed: options.seed,
    mutation: options.mutation,
    concurrency: options.concurrency,
    durationMs: Math.round(performance.now() - started),
    requests,
    authorizations,
    signs,
    revocationsAcknowledged,
    logoutAllsAcknowledged,
    checksAfterRevocation,
    wrongAllows,
    wrongDenials,
    failedClosed,
    unhandledErrors,
    checkpoints,
    heapGrowthMiB: heaps.length >= 2 ? Math.round(((heaps.at(-1) as number) - (heaps[0] as number)) * 100) / 100 : undefined,
    mainConnectCount,
    authorizeLatencyMs: { p50: percentile(0.5), p99: percentile(0.99), max: Math.round(latencyMax * 10) / 10 },
    failures,
  };
}

/** Heap growth from the first checkpoint (pools full) to the last that a healthy run stays under. */
export const HEAP_GROWTH_LIMIT_MIB = 16;

/** What is wrong with a run, as sentences; empty when it passed. */
export function problemsOf(report: SoakReport): string[] {
  const problems: string[] = [];
  if (report.wrongAllows > 0) problems.push(`${report.wrongAllows} wrong allows`);
  if (report.wrongDenials > 0) problems.push(`${report.wrongDenials} wrong denials`);
  if (report.unhandledErrors > 0) problems.push(`${report.unhandledErrors} unhandled errors`);
  if (report.failedClosed > 0) problems.push(`${report.failedClosed} requests failed closed: Redis answered later than REDIS_TIMEOUT_MS (was the machine busy?)`);
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
  return [
    `soak: ${report.requests.total} requests checked in ${(report.durationMs / 1000).toFixed(1)} s with ${report.concurrency} in flight`,
    `(${report.requests.authorize} authorizations, ${report.requests.sign} signs, ${report.requests.logout + report.requests.logoutAll} logouts)`,
    `| live allowed ${a.live.allow + a['live-previous-key'].allow}/${checkedOf('live', 'live-previous-key')}`,
    `| refused: revoked ${deniedOf('revoked')}/${checkedOf('revoked')}, expired ${deniedOf('expired')}/${checkedOf('expired')},`,
    `forged ${deniedOf('forged')}/${checkedOf('forged')}, tampered ${deniedOf('tampered')}/${checkedOf('tampered')},`,
    `removed key ${deniedOf('removed-key')}/${checkedOf('removed-key')}, malformed ${deniedOf('malformed')}/${checkedOf('malformed')}`,
    `| logouts acknowledged ${report.revocationsAcknowledged}, logouts-all ${report.logoutAllsAcknowledged}, checks after revocation ${report.checksAfterRevocation}`,
    `| wrong allows ${report.wrongAllows}, wrong denials ${report.wrongDenials}, unhandled errors ${report.unhandledErrors}, failed closed ${report.failedClosed}`,
    `| heap ${heaps.every((heap) => heap !== undefined) ? `${heaps.join(' → ')} MiB` : 'n/a (run node with --expose-gc)'}`,
    `| Redis connections ${report.checkpoints.map((point) => point.connections).join(' → ')}`,
    `| authorize p50 ${report.authorizeLatencyMs.p50} ms, p99 ${report.authorizeLatencyMs.p99} ms, max ${report.authorizeLatencyMs.max} ms`,
    `| seed ${report.seed}${report.mutation === 'none' ? '' : `, mutation ${report.mutation}`}`,
  ].join(' ');
}
