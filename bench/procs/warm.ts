// The measured process of `npm run bench`: the real handlers, warm, beside the bare operations they are
// built from, all against the same redis-server. Candidates take turns in small batches, so machine drift
// (frequency scaling, a noisy neighbour, GC) hits every one alike. The parent starts this process with
// REDIS_URL, JWT_SECRET and LOG_LEVEL=info in its environment and stdout sent to /dev/null: handlers
// write their one JSON line per request, as on Lambda, and that cost is measured.
import { createHmac, createSecretKey, generateKeyPairSync, randomUUID, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { createClient, defineScript } from '@redis/client';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import jsonwebtoken, { type JwtPayload } from 'jsonwebtoken';
import JWTR, { TokenDestroyedError } from 'jwt-redis';
import type { RedisClientType } from 'redis';
import { handler as authorizer } from '../../functions/authorizer';
import { handler as logout } from '../../functions/logout';
import { handler as refresh } from '../../functions/refresh';
import { handler as sign } from '../../functions/sign';
import { loadSessionConfig } from '../../shared/config';
import { authorizerHandler } from '../../shared/handlers/authorizer';
import { containerServices, createServices, type Services } from '../../shared/services';
import { scripts, type NewSession, type PresentedRefresh, type RotationReply, type SessionCap, type SessionKeys } from '../../shared/sessions/lua';
import { counterKey, indexKey, labelKey, newId, recordKey, subjectTag } from '../../shared/sessions/keys';
import {
  hashSecret,
  newRefreshToken,
  newSecret,
  openNextSecret,
  parseRefreshToken,
  rotationOf,
  sealNextSecret,
  type RefreshToken,
} from '../../shared/sessions/refresh-token';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import type { FloorId, LatencyRow, SanityResult, ThroughputRow, WarmMessage, WarmResult, WarmSettings } from '../lib/protocol';
import { median, summarize } from '../lib/stats';

/** Tokens the authorizer candidates present, one subject each, cycled. */
const READERS = 256;
/** Subjects sign cycles through: a few live sessions each, as real users have. */
const SIGNERS = 1000;
const LABEL_TTL_MS = 900_000;
const CLAIMS = { role: 'user', plan: 'pro' };
/** The Lambda context the runtime passes: handlers put its request id on their log line. */
const CONTEXTS = Array.from({ length: 1024 }, () => ({ awsRequestId: randomUUID() }));
let invocations = 0;
const context = () => CONTEXTS[(invocations += 1) % CONTEXTS.length] as { awsRequestId: string };

type LogLevel = 'info' | 'silent';

interface Candidate {
  id: string;
  label: string;
  kind: LatencyRow['kind'];
  floor?: FloorId;
  /** The handlers' log level during this candidate's turns. */
  logLevel: LogLevel;
  /** Returns its answer rather than a promise (no await, no microtask). */
  sync?: boolean;
  /** Also measured with `inFlight` calls outstanding. */
  throughput: boolean;
  /** Fraction of the calls the others make: slow references would otherwise take most of the run. */
  share?: number;
  /** Untimed set-up of the next `n` calls. */
  prepare?: (n: number) => Promise<void>;
  call: (i: number) => unknown;
  /** Untimed: throws if the answer is not the expected one. */
  check: (result: unknown, i: number) => void;
}

interface Live {
  sub: string;
  jti: string;
  sid: string;
  iat: number;
  exp: number;
}

const settings = JSON.parse(process.env.BENCH_WARM ?? 'null') as WarmSettings | null;
const secret = process.env.JWT_SECRET ?? '';
const redisUrl = process.env.REDIS_URL ?? '';

function send(message: WarmMessage, then?: () => void): void {
  process.send?.(message, undefined, {}, () => then?.());
}

function progress(line: string): void {
  send({ type: 'progress', line });
}

function fail(what: string): never {
  throw new Error(what);
}

const setInLua = defineScript({
  SCRIPT: "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])",
  NUMBER_OF_KEYS: 1,
  parseCommand(parser, key: string, value: string, ttlMs: string) {
    parser.pushKey(key);
    parser.push(value, ttlMs);
  },
  transformReply: undefined as unknown as () => string,
});

/** A bare node-redis client, default options, its own connection: the floors' round trips. */
const plainClient = () => createClient({ url: redisUrl, scripts: { ...scripts, setInLua } });
type PlainClient = ReturnType<typeof plainClient>;

function payloadOf(token: string): JwtPayload {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as JwtPayload;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// Checks of the answers, untimed.
const expectTrue = (result: unknown) => void (result === true || fail(`expected true, got ${String(result)}`));
const expectOk = (result: unknown) => void (result === 'OK' || fail(`expected OK, got ${String(result)}`));
const expectDeleted = (result: unknown) => void (result === 1 || fail(`expected 1 deleted, got ${String(result)}`));
const expectRegistered = (result: unknown) => void (result === 1 || fail(`registerSession replied ${String(result)}`));
const expectLabel = (result: unknown) => void (typeof result === 'string' && result !== '' ? 0 : fail(`label missing: ${String(result)}`));
const expectLabels = (result: unknown) => expectLabel((result as unknown[] | null)?.[0]);
const expectReader = (result: unknown) => void ((result as JwtPayload | undefined)?.sub?.startsWith('bench-reader-') ? 0 : fail('verify gave no subject'));
const expectToken = (result: unknown) => void (typeof result === 'string' && result.split('.').length === 3 ? 0 : fail('sign gave no token'));
function expectAllow(result: unknown): void {
  const policy = result as APIGatewayAuthorizerResult;
  if (policy?.policyDocument?.Statement?.[0]?.Effect !== 'Allow' || !policy.principalId.startsWith('bench-reader-')) fail('authorizer did not allow');
}
function expectNoContent(result: unknown): void {
  const response = result as APIGatewayProxyResult;
  if (response.statusCode !== 204) fail(`logout answered ${response.statusCode}: ${response.body}`);
}

/** The raw HMAC-SHA256 check of a compact JWS: the signature part of every floor. */
function hmacChecker(key: KeyObject): (token: string) => boolean {
  return (token) => {
    const dot = token.lastIndexOf('.');
    const signature = Buffer.from(token.slice(dot + 1), 'base64url');
    const mac = createHmac('sha256', key).update(token.slice(0, dot)).digest();
    return signature.length === mac.length && timingSafeEqual(signature, mac);
  };
}

/** The raw HMAC-SHA256 signature of a compact JWS's header and payload, as base64url: a signature's worth of work. */
function hmacSigner(key: KeyObject): (token: string) => string {
  return (token) =>
    createHmac('sha256', key)
      .update(token.slice(0, token.lastIndexOf('.')))
      .digest('base64url');
}

/** What the candidates share: the container's services, the bare client and the key. */
interface Bench {
  services: Services;
  plain: PlainClient;
  key: KeyObject;
  verifyOptions: jsonwebtoken.VerifyOptions;
  hmacCheck: (token: string) => boolean;
  hmacSign: (token: string) => string;
  readers: Readers;
  /** A key of its own for each SET. */
  freshKey: () => string;
}

/** Long-lived tokens, one subject each, that the authorizer candidates cycle through with next(). */
interface Readers {
  tokens: string[];
  events: APIGatewayTokenAuthorizerEvent[];
  labels: string[];
  /** What the authorizer reads in its one MGET: the label, and its subject's revocation counter. */
  labelAndCounter: string[][];
  next: () => number;
}

async function issueReaders(services: Services): Promise<Readers> {
  const issued = [];
  for (let k = 0; k < READERS; k += 1) issued.push(await services.tokens.issue({ sub: `bench-reader-${k}`, claims: CLAIMS, ttlSeconds: 3600 }));
  let reader = 0;
  return {
    tokens: issued.map(({ token }) => token),
    events: issued.map(({ token }) => tokenAuthorizerEvent(`Bearer ${token}`)),
    labels: issued.map(({ jti }) => labelKey(jti)),
    labelAndCounter: issued.map(({ sub, jti }) => [labelKey(jti), counterKey(subjectTag(sub))]),
    next: () => (reader = (reader + 1) % READERS),
  };
}

/** Tokens signed and not yet logged out: what sign's turns leave, logout's turns end. */
class LiveSessions {
  private readonly live: Live[] = [];
  private signed = 0;

  constructor(private readonly services: Services) {}

  add(session: Live): void {
    this.live.push(session);
  }

  /** The next `n`, signed through the token service when there are too few. */
  async take(n: number): Promise<Live[]> {
    if (this.live.length < n) await this.topUp(n - this.live.length);
    return this.live.splice(0, n);
  }

  private async topUp(n: number): Promise<void> {
    for (let done = 0; done < n; done += 64) {
      const issued = await Promise.all(
        Array.from({ length: Math.min(64, n - done) }, () => {
          this.signed += 1;
          return this.services.tokens.issue({ sub: `bench-user-${this.signed % SIGNERS}`, claims: CLAIMS, ttlSeconds: 900 });
        }),
      );
      for (const token of issued)
        this.live.push({ sub: token.sub, jti: token.jti, sid: token.sid, iat: token.expiresAt - token.expiresIn, exp: token.expiresAt });
    }
  }
}

/** As API Gateway hands the authorizer's context on to logout: every value a string. */
function logoutEvent(session: Live, customClaims: string): APIGatewayProxyEvent {
  return proxyEvent({
    method: 'POST',
    path: '/auth/logout',
    authorizer: { sub: session.sub, jti: session.jti, sid: session.sid, iat: String(session.iat), exp: String(session.exp), customClaims },
  });
}

/** A session written and ended through the bare client with the service's own scripts. */
interface ScriptSession {
  keys: SessionKeys & { label: string };
  session: NewSession;
}

/** The limits the handlers run with: the warm process sets none, so the defaults. */
const SESSION_CONFIG = loadSessionConfig({});
const SESSION_CAP: SessionCap = { maxSessions: SESSION_CONFIG.maxSessions, onLimit: SESSION_CONFIG.onLimit };

/** Sign's record of a new session without a refresh token, as TokenService.issue writes it. */
function newScriptSession(sub: string, now: number): ScriptSession {
  const tag = subjectTag(sub);
  const sid = newId(sub);
  const jti = newId(sub);
  const session: NewSession = { sid, jti, sub, issuedAtMs: now * 1000, exp: now + 900, expiresAt: now + SESSION_CONFIG.maxAgeSeconds };
  return { keys: { record: recordKey(sid), index: indexKey(tag), counter: counterKey(tag), label: labelKey(jti) }, session };
}

/**
 * New sessions over SIGNERS subjects of their own, cycled: each caller its own subjects, so that no
 * candidate's indexes fill up faster (and so reach the cap sooner) than sign's own.
 */
function scriptSessionsOf(prefix: string): (n: number) => ScriptSession[] {
  let made = 0;
  return (n) => {
    const now = nowSeconds();
    return Array.from({ length: n }, () => newScriptSession(`${prefix}-${(made += 1) % SIGNERS}`, now));
  };
}

/** A handler's two rows: logging its line at info (to /dev/null), and silent. `make` is called once per row. */
function handlerRows(floor: FloorId, make: () => Pick<Candidate, 'prepare' | 'call' | 'check'>, throughput = true): Candidate[] {
  return (['info', 'silent'] as const).map((logLevel) => ({
    id: `${floor}-${logLevel}`,
    label: `${floor} handler (log ${logLevel === 'info' ? 'info → /dev/null' : 'silent'})`,
    kind: 'handler',
    floor,
    logLevel,
    throughput,
    ...make(),
  }));
}

/** What the authorizer's floor is built from: its Redis read and its signature check. */
function authorizerBaselines({ plain, hmacCheck, readers }: Bench): Candidate[] {
  const base = { kind: 'baseline', floor: 'authorizer', logLevel: 'info' } as const;
  return [
    {
      ...base,
      id: 'get',
      label: 'node-redis GET (bare)',
      throughput: true,
      call: () => plain.get(readers.labels[readers.next()] as string),
      check: expectLabel,
    },
    {
      ...base,
      id: 'mget',
      label: 'node-redis MGET label + counter (bare)',
      throughput: true,
      call: () => plain.mGet(readers.labelAndCounter[readers.next()] as string[]),
      check: expectLabels,
    },
    {
      ...base,
      id: 'hmac',
      label: 'HMAC-SHA256 check (raw, KeyObject)',
      sync: true,
      throughput: false,
      call: () => hmacCheck(readers.tokens[readers.next()] as string),
      check: expectTrue,
    },
  ];
}

/** Checking a token with the JWT libraries instead: stateless (jsonwebtoken), and with jwt-redis's allowlist. */
function verifierReferences({ plain, key, verifyOptions, readers }: Bench): Candidate[] {
  const token = () => readers.tokens[readers.next()] as string;
  // Over the bare client; it keeps no state per secret, so one serves both rows.
  const jwtr = new JWTR(plain as unknown as RedisClientType);
  const base = { kind: 'reference', floor: 'authorizer', logLevel: 'info', check: expectReader } as const;
  return [
    {
      ...base,
      id: 'jwt-verify-key',
      label: 'jsonwebtoken.verify, KeyObject (stateless)',
      sync: true,
      throughput: false,
      call: () => jsonwebtoken.verify(token(), key, verifyOptions),
    },
    {
      ...base,
      id: 'jwt-verify-string',
      label: 'jsonwebtoken.verify, string secret (stateless)',
      sync: true,
      throughput: false,
      share: 0.25,
      call: () => jsonwebtoken.verify(token(), secret, verifyOptions),
    },
    {
      ...base,
      id: 'jwtr-naive',
      label: 'jwt-redis verify, string secret (as its README shows)',
      throughput: true,
      share: 0.25,
      call: () => jwtr.verify<JwtPayload>(token(), secret, verifyOptions),
    },
    {
      ...base,
      id: 'jwtr-key',
      label: 'jwt-redis verify, KeyObject, bare client',
      throughput: true,
      call: () => jwtr.verify<JwtPayload>(token(), key as unknown as Buffer, verifyOptions),
    },
  ];
}

/** The authorizer's floor, HMAC check + MGET, and the same with its request line written. */
async function authorizerFloors({ plain, hmacCheck, readers }: Bench): Promise<Candidate[]> {
  // One request line of the authorizer as it writes it, captured once: written after the floor's round trip,
  // it shows what the line's write alone costs, apart from building it.
  const requestLine = await captureLine(() => authorizer(readers.events[0] as APIGatewayTokenAuthorizerEvent, context()));
  const base = { floor: 'authorizer', logLevel: 'info', check: expectLabels } as const;
  return [
    {
      ...base,
      id: 'floor-authorizer',
      label: 'floor: HMAC check + MGET',
      kind: 'floor',
      throughput: true,
      call: () => {
        const k = readers.next();
        if (!hmacCheck(readers.tokens[k] as string)) return Promise.resolve(null);
        return plain.mGet(readers.labelAndCounter[k] as string[]);
      },
    },
    {
      ...base,
      id: 'floor-authorizer-line',
      label: "floor + the authorizer's request line, written as it is (not built)",
      kind: 'reference',
      throughput: false,
      call: async () => {
        const k = readers.next();
        if (!hmacCheck(readers.tokens[k] as string)) return null;
        const labels = await plain.mGet(readers.labelAndCounter[k] as string[]);
        process.stdout.write(requestLine);
        return labels;
      },
    },
  ];
}

async function authorizerCandidates(bench: Bench): Promise<Candidate[]> {
  const { readers } = bench;
  return [
    ...authorizerBaselines(bench),
    ...verifierReferences(bench),
    ...(await authorizerFloors(bench)),
    ...handlerRows('authorizer', () => ({
      call: () => authorizer(readers.events[readers.next()] as APIGatewayTokenAuthorizerEvent, context()),
      check: expectAllow,
    })),
  ];
}

/**
 * The authorizer of a container whose ring is ES256 (one P-256 key, on the same Redis), against its floor: a raw
 * ECDSA P-256 verify with a KeyObject, and a GET of the label. The authorizer's own floor (HMAC + MGET) beside it
 * shows what asymmetric verification costs over HS256 per request.
 */
async function es256Candidates({ services, plain }: Bench): Promise<Candidate[]> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ring = JSON.stringify([{ kid: 'bench-es256', key: privateKey.export({ format: 'pem', type: 'pkcs8' }) }]);
  const es256 = createServices({ ...process.env, JWT_SECRET: '', JWT_KEYS: ring, JWT_ALG: 'ES256' }, { redis: services.redis });
  otherContainers.push(es256);
  const handler = authorizerHandler(es256);
  const issued = [];
  for (let k = 0; k < READERS; k += 1) issued.push(await es256.tokens.issue({ sub: `bench-reader-${k}`, claims: CLAIMS, ttlSeconds: 3600 }));
  const events = issued.map(({ token }) => tokenAuthorizerEvent(`Bearer ${token}`));
  const labels = issued.map(({ jti }) => labelKey(jti));
  const signed = issued.map(({ token }) => {
    const dot = token.lastIndexOf('.');
    return { input: Buffer.from(token.slice(0, dot)), signature: Buffer.from(token.slice(dot + 1), 'base64url') };
  });
  let reader = 0;
  const next = () => (reader = (reader + 1) % READERS);
  const ecdsa = (k: number) => {
    const { input, signature } = signed[k] as (typeof signed)[number];
    return verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  };
  const base = { floor: 'authorizer-es256', logLevel: 'info' } as const;
  return [
    {
      ...base,
      id: 'ecdsa',
      label: 'ECDSA P-256 verify (raw, KeyObject)',
      kind: 'baseline',
      sync: true,
      throughput: false,
      call: () => ecdsa(next()),
      check: expectTrue,
    },
    {
      ...base,
      id: 'floor-authorizer-es256',
      label: 'floor: ECDSA P-256 verify + GET',
      kind: 'floor',
      throughput: false,
      call: () => {
        const k = next();
        if (!ecdsa(k)) return Promise.resolve(null);
        return plain.get(labels[k] as string);
      },
      check: expectLabel,
    },
    ...handlerRows('authorizer-es256', () => ({ call: () => handler(events[next()] as APIGatewayTokenAuthorizerEvent, context()), check: expectAllow }), false),
  ];
}

/** Sign's writes through the bare client: a plain SET, the same in Lua, and sign's own script. */
function signBaselines({ plain, freshKey }: Bench): Candidate[] {
  const sessions = scriptSessionsOf('bench-script');
  let registering: ScriptSession[] = [];
  const base = { kind: 'baseline', floor: 'sign', logLevel: 'info', throughput: true } as const;
  return [
    { ...base, id: 'set', label: 'node-redis SET … PX (bare)', call: () => plain.set(freshKey(), String(nowSeconds()), { PX: LABEL_TTL_MS }), check: expectOk },
    {
      ...base,
      id: 'evalsha',
      label: 'node-redis EVALSHA (SET … PX in Lua)',
      call: () => plain.setInLua(freshKey(), String(nowSeconds()), String(LABEL_TTL_MS)),
      check: expectOk,
    },
    {
      ...base,
      id: 'evalsha-register',
      label: "node-redis EVALSHA registerSession (sign's script, bare client)",
      prepare: async (n) => void (registering = sessions(n)),
      call: (i) => {
        const { keys, session } = registering[i] as ScriptSession;
        return plain.registerSession(keys, session, SESSION_CAP);
      },
      check: expectRegistered,
    },
  ];
}

/** Signing with jsonwebtoken, for scale: the token service makes the same bytes with node:crypto. */
function signerReference({ services, key }: Bench): Candidate {
  const { issuer, audience } = services.config.tokens;
  const jti = newId('bench-user-1');
  const options: jsonwebtoken.SignOptions = { algorithm: 'HS256', keyid: 'default', subject: 'bench-user-1', issuer, audience };
  return {
    id: 'jwt-sign-key',
    label: 'jsonwebtoken.sign, KeyObject (issue() makes the same bytes without it)',
    kind: 'reference',
    floor: 'sign',
    logLevel: 'info',
    sync: true,
    throughput: false,
    call: () => {
      const iat = nowSeconds();
      return jsonwebtoken.sign({ ...CLAIMS, jti, iat, exp: iat + 900 }, key, options);
    },
    check: expectToken,
  };
}

/** Sign's floor: its own round trip, its script through the bare client, after a signature's worth of HMAC. */
function signFloor({ plain, hmacCheck, readers }: Bench): Candidate {
  const sessions = scriptSessionsOf('bench-floor');
  let registering: ScriptSession[] = [];
  return {
    id: 'floor-sign',
    label: 'floor: HMAC + EVALSHA registerSession',
    kind: 'floor',
    floor: 'sign',
    logLevel: 'info',
    throughput: true,
    prepare: async (n) => void (registering = sessions(n)),
    call: (i) => {
      if (!hmacCheck(readers.tokens[readers.next()] as string)) return Promise.resolve(null);
      const { keys, session } = registering[i] as ScriptSession;
      return plain.registerSession(keys, session, SESSION_CAP);
    },
    check: expectRegistered,
  };
}

/** The sign handler over SIGNERS subjects; what it hands out, logout's turns end. */
function signHandlers(live: LiveSessions): Candidate[] {
  const events = Array.from({ length: SIGNERS }, (_, k) =>
    proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `bench-user-${k}`, claims: CLAIMS }) }),
  );
  const expectSigned = (result: unknown) => {
    const response = result as APIGatewayProxyResult;
    if (response.statusCode !== 201) fail(`sign answered ${response.statusCode}: ${response.body}`);
    const { token, jti, sid } = JSON.parse(response.body) as { token: string; jti: string; sid: string };
    const payload = payloadOf(token);
    live.add({ sub: String(payload.sub), jti, sid, iat: payload.iat ?? 0, exp: payload.exp ?? 0 });
  };
  return handlerRows('sign', () => {
    let n = 0;
    return { call: () => sign(events[(n += 1) % SIGNERS] as APIGatewayProxyEvent, context()), check: expectSigned };
  });
}

function signCandidates(bench: Bench, live: LiveSessions): Candidate[] {
  return [...signBaselines(bench), signerReference(bench), signFloor(bench), ...signHandlers(live)];
}

/** Logout's own script through the bare client, on sessions registered just before (untimed). */
function logoutBaseline({ plain }: Bench): Candidate {
  const sessions = scriptSessionsOf('bench-script-end');
  let ending: ScriptSession[] = [];
  return {
    id: 'evalsha-end',
    label: "node-redis EVALSHA endSession (logout's script, bare client)",
    kind: 'baseline',
    floor: 'logout',
    logLevel: 'info',
    throughput: true,
    prepare: async (n) => {
      ending = sessions(n);
      await Promise.all(ending.map(({ keys, session }) => plain.registerSession(keys, session, SESSION_CAP)));
    },
    call: (i) => {
      const { keys, session } = ending[i] as ScriptSession;
      return plain.endSession(keys, session.sid);
    },
    check: expectDeleted,
  };
}

/** Logout's floor: HMAC + DEL of a key SET just before (untimed). */
function logoutFloor({ plain, hmacCheck, readers, freshKey }: Bench): Candidate {
  let keys: string[] = [];
  return {
    id: 'floor-logout',
    label: 'floor: HMAC + DEL',
    kind: 'floor',
    floor: 'logout',
    logLevel: 'info',
    throughput: true,
    prepare: async (n) => {
      keys = Array.from({ length: n }, freshKey);
      await Promise.all(keys.map((k) => plain.set(k, '1', { PX: LABEL_TTL_MS })));
    },
    call: (i) => {
      if (!hmacCheck(readers.tokens[readers.next()] as string)) return Promise.resolve(null);
      return plain.del(keys[i] as string);
    },
    check: expectDeleted,
  };
}

/** The logout handler, on sessions sign left (or signed for it, untimed). */
function logoutHandlers(live: LiveSessions): Candidate[] {
  let events: APIGatewayProxyEvent[] = [];
  return handlerRows('logout', () => ({
    prepare: async (n) => void (events = (await live.take(n)).map((session) => logoutEvent(session, JSON.stringify(CLAIMS)))),
    call: (i) => logout(events[i] as APIGatewayProxyEvent, context()),
    check: expectNoContent,
  }));
}

function logoutCandidates(bench: Bench, live: LiveSessions): Candidate[] {
  return [logoutBaseline(bench), logoutFloor(bench), ...logoutHandlers(live)];
}

/**
 * Rotations a session's refresh token goes through before its chain is dropped for a new session's. Each
 * rotation adds an access token to the session's list while the earlier ones live (900 s here): a few keep that
 * list as short as a client's that refreshes near expiry, and the same for the handler and its floor.
 */
const ROTATIONS_PER_SESSION = 4;
/** Subjects each refresh row's sessions are spread over, so that every row's indexes hold as many sessions. */
const REFRESHERS = 256;

const expectRotated = (result: unknown) => void ((result as RotationReply | undefined)?.[0] === 'rotated' || fail(`rotateRefresh replied ${String(result)}`));

/** `n` new sessions with a refresh token, signed through the token service (untimed), over `subjects` subjects; their refresh tokens. */
async function refreshTokensOf(services: Services, prefix: string, subjects: number, from: number, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let done = 0; done < n; done += 64) {
    const issued = await Promise.all(
      Array.from({ length: Math.min(64, n - done) }, (_, i) =>
        services.tokens.issue({ sub: `${prefix}-${(from + done + i) % subjects}`, claims: CLAIMS, ttlSeconds: 900, refresh: true }),
      ),
    );
    for (const { refresh: pair } of issued) tokens.push(pair?.token ?? fail('sign gave no refresh token'));
  }
  return tokens;
}

/** Refresh tokens waiting for their next rotation through the handler; new sessions signed (untimed) when short. */
class RefreshChains {
  private readonly heads: Array<{ token: string; rotations: number }> = [];
  private signed = 0;

  /** @param subjects two rows rotate these chains: twice as many subjects as a row of its own. */
  constructor(
    private readonly services: Services,
    private readonly subjects: number,
  ) {}

  async take(n: number): Promise<Array<{ token: string; rotations: number }>> {
    const missing = Math.max(0, n - this.heads.length);
    for (const token of await refreshTokensOf(this.services, 'bench-refresher', this.subjects, this.signed, missing)) this.heads.push({ token, rotations: 0 });
    this.signed += missing;
    return this.heads.splice(0, n);
  }

  /** The refresh token a rotation handed out, kept for a later turn while its session has rotations left. */
  rotated(token: string, rotations: number): void {
    if (rotations < ROTATIONS_PER_SESSION) this.heads.push({ token, rotations });
  }
}

/** A session refreshed through the bare client: its refresh token's secrets, known here, and only hashes sent. */
interface ScriptChain {
  keys: SessionKeys;
  token: RefreshToken;
  rotations: number;
}

/**
 * What refresh's own script is given for one rotation, computed untimed as the handler computes it: the hashes,
 * the next secret sealed for the replay window, a new jti.
 */
function presentedFor({ token }: ScriptChain, next: string): PresentedRefresh {
  return rotationOf(token, next, Date.now(), SESSION_CONFIG);
}

/**
 * Sessions with a refresh token, signed through the token service (untimed), rotated by refresh's script through
 * the bare client: the secrets of their refresh tokens are known here, and only hashes are sent, as refresh does.
 */
function scriptRotationsOf(
  { services, plain }: Bench,
  prefix: string,
): { take: (n: number) => Promise<void>; call: (i: number) => Promise<unknown>; check: (result: unknown, i: number) => void } {
  const heads: ScriptChain[] = [];
  let made = 0;
  let rotating: Array<{ chain: ScriptChain; next: string; presented: PresentedRefresh }> = [];
  return {
    take: async (n) => {
      const missing = Math.max(0, n - heads.length);
      for (const refreshToken of await refreshTokensOf(services, prefix, REFRESHERS, made, missing)) {
        const token = parseRefreshToken(refreshToken) ?? fail('sign gave a refresh token of another shape');
        heads.push({ keys: { record: recordKey(token.sid), index: indexKey(token.tag), counter: counterKey(token.tag) }, token, rotations: 0 });
      }
      made += missing;
      rotating = heads.splice(0, n).map((chain) => {
        const next = newSecret();
        return { chain, next, presented: presentedFor(chain, next) };
      });
    },
    call: (i) => {
      const { chain, presented } = rotating[i] as (typeof rotating)[number];
      return plain.rotateRefresh(chain.keys, presented);
    },
    check: (result, i) => {
      expectRotated(result);
      const { chain, next } = rotating[i] as (typeof rotating)[number];
      if ((chain.rotations += 1) < ROTATIONS_PER_SESSION) heads.push({ ...chain, token: { ...chain.token, secret: next } });
    },
  };
}

/** Refresh's own script through the bare client, and its floor: the same after a signature's worth of HMAC. */
function refreshScriptRows(bench: Bench): Candidate[] {
  const { hmacSign, readers } = bench;
  const bare = scriptRotationsOf(bench, 'bench-refresh-script');
  const floor = scriptRotationsOf(bench, 'bench-refresh-floor');
  const base = { floor: 'refresh', logLevel: 'info', throughput: false } as const;
  return [
    {
      ...base,
      id: 'evalsha-rotate',
      label: "node-redis EVALSHA rotateRefresh (refresh's script, bare client)",
      kind: 'baseline',
      prepare: bare.take,
      call: bare.call,
      check: bare.check,
    },
    {
      ...base,
      id: 'floor-refresh',
      label: 'floor: HMAC-SHA256 sign + EVALSHA rotateRefresh',
      kind: 'floor',
      prepare: floor.take,
      call: (i) => {
        hmacSign(readers.tokens[readers.next()] as string);
        return floor.call(i);
      },
      check: floor.check,
    },
  ];
}

/**
 * The node:crypto work a refresh does besides its access token's signature, none of it in the floor: the hashes of
 * the three secrets, and the next secret drawn and sealed for the replay window. (The grant's signature is checked
 * once per grant and container; the seal is opened only for a replay.)
 */
function refreshCrypto(): Candidate {
  const token = newRefreshToken(newId('bench-refresh-crypto'));
  let next = '';
  return {
    id: 'refresh-crypto',
    label: "refresh's node:crypto besides its token's signature: 3 SHA-256, the next secret drawn and sealed",
    kind: 'reference',
    floor: 'refresh',
    logLevel: 'info',
    sync: true,
    throughput: false,
    call: () => {
      next = newSecret();
      hashSecret(token.family);
      hashSecret(token.secret);
      hashSecret(next);
      return sealNextSecret(token, next);
    },
    check: (result) => void (openNextSecret(token, result as string) === next || fail('the sealed secret did not open')),
  };
}

/** The refresh handler, each call presenting a chain's current refresh token; its answer's token is the chain's next. */
function refreshHandlers(chains: RefreshChains): Candidate[] {
  return handlerRows(
    'refresh',
    () => {
      let taken: Array<{ token: string; rotations: number }> = [];
      let events: APIGatewayProxyEvent[] = [];
      return {
        prepare: async (n) => {
          taken = await chains.take(n);
          events = taken.map(({ token }) => proxyEvent({ method: 'POST', path: '/auth/refresh', body: JSON.stringify({ refreshToken: token }) }));
        },
        call: (i) => refresh(events[i] as APIGatewayProxyEvent, context()),
        check: (result, i) => {
          const response = result as APIGatewayProxyResult;
          if (response.statusCode !== 200) fail(`refresh answered ${response.statusCode}: ${response.body}`);
          const { token, refreshToken } = JSON.parse(response.body) as { token?: string; refreshToken?: string };
          expectToken(token);
          chains.rotated(refreshToken ?? fail('refresh gave no refresh token'), (taken[i] as { rotations: number }).rotations + 1);
        },
      };
    },
    // Every call uses up a refresh token: rounds of thousands in flight would mostly time the signing of sessions.
    false,
  );
}

function refreshCandidates(bench: Bench): Candidate[] {
  return [...refreshScriptRows(bench), refreshCrypto(), ...refreshHandlers(new RefreshChains(bench.services, 2 * REFRESHERS))];
}

/** Calls whose answer was not the expected one. */
class Failures {
  count = 0;
  first: string | undefined;

  note(candidate: Candidate, error: unknown): void {
    this.count += 1;
    this.first ??= `${candidate.id}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function checkAnswer(candidate: Candidate, result: unknown, i: number, failures: Failures): void {
  try {
    candidate.check(result, i);
  } catch (problem) {
    failures.note(candidate, problem);
  }
}

/** One candidate's turn, one call at a time; samples in ns go to `into` from `offset`, if given. */
async function turn(candidate: Candidate, n: number, failures: Failures, into?: Float64Array, offset = 0): Promise<void> {
  await candidate.prepare?.(n);
  setLogLevel(candidate.logLevel);
  const { call, sync } = candidate;
  for (let i = 0; i < n; i += 1) {
    let result: unknown;
    let error: unknown;
    const t0 = process.hrtime.bigint();
    try {
      result = sync ? call(i) : await call(i);
    } catch (caught) {
      error = caught ?? new Error('rejected');
    }
    const t1 = process.hrtime.bigint();
    if (into !== undefined) into[offset + i] = Number(t1 - t0);
    if (error !== undefined) failures.note(candidate, error);
    else checkAnswer(candidate, result, i, failures);
  }
  setLogLevel('info');
}

/** One candidate's throughput turn: `n` calls, `inFlight` outstanding at any time. Resolves calls/s. */
async function flight(candidate: Candidate, n: number, inFlight: number, failures: Failures): Promise<number> {
  await candidate.prepare?.(n);
  setLogLevel(candidate.logLevel);
  const results: unknown[] = new Array(n);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next;
      next += 1;
      try {
        results[i] = await candidate.call(i);
      } catch (error) {
        errors.push(error ?? new Error('rejected'));
      }
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  setLogLevel('info');
  for (const error of errors) failures.note(candidate, error);
  results.forEach((result, i) => checkAnswer(candidate, result, i, failures));
  return n / (elapsedNs / 1e9);
}

const rotated = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length] as T);

const quota = (candidate: Candidate, n: number) => Math.max(1, Math.round(n * (candidate.share ?? 1)));

async function warmUp(candidates: Candidate[], options: WarmSettings, failures: Failures): Promise<void> {
  progress(`warm-up: ${options.warmup} calls per candidate`);
  for (let done = 0; done < options.warmup; done += options.batch) {
    for (const candidate of candidates) await turn(candidate, quota(candidate, Math.min(options.batch, options.warmup - done)), failures);
  }
  if (options.warmup === 0) return;
  for (const candidate of candidates) {
    if (candidate.throughput) await flight(candidate, quota(candidate, Math.min(options.flightCalls, 2 * options.inFlight)), options.inFlight, failures);
  }
}

/** Every candidate's latency samples (ns), candidates taking turns of `batch` calls. */
async function measureLatency(candidates: Candidate[], options: WarmSettings, failures: Failures): Promise<Map<string, Float64Array>> {
  progress(
    `latency: ${options.iterations} calls per candidate (slow references fewer), one at a time, ${candidates.length} candidates taking turns of ${options.batch}`,
  );
  const samples = new Map(candidates.map((candidate) => [candidate.id, new Float64Array(quota(candidate, options.iterations))]));
  const taken = new Map(candidates.map((candidate) => [candidate.id, 0]));
  const left = (candidate: Candidate) => quota(candidate, options.iterations) - (taken.get(candidate.id) ?? 0);
  for (let round = 0; candidates.some((candidate) => left(candidate) > 0); round += 1) {
    for (const candidate of rotated(candidates, round)) {
      const done = taken.get(candidate.id) ?? 0;
      const n = Math.min(quota(candidate, options.batch), left(candidate));
      if (n <= 0) continue;
      await turn(candidate, n, failures, samples.get(candidate.id), done);
      taken.set(candidate.id, done + n);
    }
  }
  return samples;
}

/** Calls per second of each throughput candidate, one figure per round. */
async function measureThroughput(flyers: Candidate[], options: WarmSettings, failures: Failures): Promise<Map<string, number[]>> {
  progress(`throughput: ${options.flightRounds} rounds of ${options.flightCalls} calls per candidate, ${options.inFlight} in flight`);
  const rates = new Map(flyers.map((candidate) => [candidate.id, [] as number[]]));
  for (let r = 0; r < options.flightRounds; r += 1) {
    for (const candidate of rotated(flyers, r))
      rates.get(candidate.id)?.push(await flight(candidate, quota(candidate, options.flightCalls), options.inFlight, failures));
  }
  return rates;
}

/** Connects the bare client and issues the readers' tokens. */
async function startBench(services: Services): Promise<Bench> {
  const { issuer, audience } = services.config.tokens;
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  const plain = plainClient();
  plain.on('error', () => undefined);
  await plain.connect();
  let fresh = 0;
  return {
    services,
    plain,
    key,
    verifyOptions: { algorithms: ['HS256'], issuer, audience },
    hmacCheck: hmacChecker(key),
    hmacSign: hmacSigner(key),
    readers: await issueReaders(services),
    freshKey: () => `bench:key:${(fresh += 1)}`,
  };
}

function latencyRows(candidates: Candidate[], samples: Map<string, Float64Array>): LatencyRow[] {
  return candidates.map(({ id, label, kind, floor }) => ({ id, label, kind, floor, summary: summarize(samples.get(id) as Float64Array) }));
}

function throughputRows(flyers: Candidate[], rates: Map<string, number[]>): ThroughputRow[] {
  return flyers.map(({ id, label }) => {
    const rounds = rates.get(id) ?? [];
    return { id, label, rounds, opsPerSecond: median(rounds) };
  });
}

async function main(options: WarmSettings): Promise<WarmResult> {
  const started = performance.now();
  const services = containerServices('signing');
  const bench = await startBench(services);
  const live = new LiveSessions(services);
  const candidates = [
    ...(await authorizerCandidates(bench)),
    ...signCandidates(bench, live),
    ...logoutCandidates(bench, live),
    ...refreshCandidates(bench),
    ...(await es256Candidates(bench)),
  ];
  const flyers = candidates.filter((candidate) => candidate.throughput);

  const failures = new Failures();
  await warmUp(candidates, options, failures);
  const samples = await measureLatency(candidates, options, failures);
  const rates = await measureThroughput(flyers, options, failures);
  const sanity = await revocationSanity(new JWTR(bench.plain as unknown as RedisClientType), bench.verifyOptions);
  await bench.plain.close();
  await services.redis.close();
  return {
    latency: latencyRows(candidates, samples),
    throughput: throughputRows(flyers, rates),
    sanity,
    failures: failures.count,
    firstFailure: failures.first,
    elapsedMs: performance.now() - started,
  };
}

/** Containers built here beside the handlers' own (the ES256 authorizer's), whose loggers follow theirs. */
const otherContainers: Services[] = [];

/** The level of the handlers' loggers: the one of the container their module-level services built, and the others'. */
function setLogLevel(level: LogLevel): void {
  for (const services of [containerServices('signing'), ...otherContainers]) services.log.setLevel(level);
}

/** What `run` writes to stdout with the handlers at log level `level`. */
async function captureOutput(level: LogLevel, run: () => Promise<unknown>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let captured = '';
  process.stdout.write = (chunk: string) => {
    captured += chunk;
    return true;
  };
  try {
    setLogLevel(level);
    await run();
  } finally {
    process.stdout.write = write;
    setLogLevel('info');
  }
  return captured;
}

/**
 * The line one call writes at log level info; and at silent, nothing, or the silent rows would measure the
 * line too.
 */
async function captureLine(run: () => Promise<unknown>): Promise<string> {
  const captured = await captureOutput('info', run);
  if (!captured.endsWith('\n') || captured.indexOf('\n') !== captured.length - 1) fail(`expected one request line, got ${JSON.stringify(captured)}`);
  const silent = await captureOutput('silent', run);
  if (silent !== '') fail(`expected no line at log level silent, got ${JSON.stringify(silent)}`);
  return captured;
}

/**
 * Sign, allow, log out, and the very next check refuses: through the handlers, and through jwt-redis used as
 * its README shows (string secret), which reads the same labels.
 */
async function revocationSanity(jwtr: JWTR, verifyOptions: jsonwebtoken.VerifyOptions): Promise<SanityResult> {
  setLogLevel('silent');
  const signedResponse = await sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'bench-sanity' }) }));
  const { token, jti, sid } = JSON.parse(signedResponse.body) as { token: string; jti: string; sid: string };
  const payload = payloadOf(token);
  const allowed = await authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
    (policy) => policy.policyDocument.Statement[0]?.Effect === 'Allow',
    () => false,
  );
  const loggedOut = await logout(logoutEvent({ sub: 'bench-sanity', jti, sid, iat: payload.iat ?? 0, exp: payload.exp ?? 0 }, '{}'));
  const denied = await authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
    () => false,
    (error: unknown) => error instanceof Error && error.message === 'Unauthorized',
  );
  const jwtrDenied = await jwtr.verify(token, secret, verifyOptions).then(
    () => false,
    (error: unknown) => error instanceof TokenDestroyedError,
  );
  setLogLevel('info');
  return {
    signed: signedResponse.statusCode === 201,
    allowedBeforeLogout: allowed,
    loggedOut: loggedOut.statusCode === 204,
    deniedAfterLogout: denied,
    naiveDeniedAfterLogout: jwtrDenied,
  };
}

if (settings === null || secret === '' || redisUrl === '') {
  send({ type: 'error', message: 'warm.ts is started by bench/run.ts, with BENCH_WARM, JWT_SECRET and REDIS_URL set' });
  process.exitCode = 2;
} else {
  // Disconnecting the IPC channel lets the process end once its sockets are closed.
  main(settings).then(
    (result) => send({ type: 'result', result }, () => process.disconnect?.()),
    (error: unknown) => {
      process.exitCode = 1;
      send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.disconnect?.());
    },
  );
}
