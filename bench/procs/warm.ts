// The measured process of `npm run bench`: the real handlers, warm, beside the bare operations they are
// built from, all against the same redis-server. Candidates take turns in small batches, so machine drift
// (frequency scaling, a noisy neighbour, GC) hits every one alike. The parent starts this process with
// REDIS_URL, JWT_SECRET and LOG_LEVEL=info in its environment and stdout sent to /dev/null: handlers
// write their one JSON line per request, as on Lambda, and that cost is measured.
import { createHmac, createSecretKey, randomUUID, timingSafeEqual } from 'node:crypto';
import { createClient, defineScript } from '@redis/client';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import jsonwebtoken, { type JwtPayload } from 'jsonwebtoken';
import JWTR, { TokenDestroyedError } from 'jwt-redis';
import type { RedisClientType } from 'redis';
import { handler as authorizer } from '../../functions/authorizer';
import { handler as logout } from '../../functions/logout';
import { handler as sign } from '../../functions/sign';
import { setLogLevel } from '../../shared/telemetry/log';
import { containerServices } from '../../shared/services';
import { scripts } from '../../shared/sessions/lua';
import { counterKey, INDEX_PREFIX, LABEL_PREFIX, labelKey, newJti, subjectTag } from '../../shared/sessions/store';
import { loadSessionConfig } from '../../shared/config';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import type { FloorId, LatencyRow, SanityResult, ThroughputRow, WarmMessage, WarmResult, WarmSettings } from '../lib/protocol';
import { median, summarize } from '../lib/stats';

/** Tokens the authorizer candidates present, one subject each, cycled. */
const READERS = 256;
/** Subjects sign cycles through: a few live sessions each, as real users have. */
const SIGNERS = 1000;
const LABEL_TTL_MS = 900_000;
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

function payloadOf(token: string): JwtPayload {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as JwtPayload;
}

async function main(options: WarmSettings): Promise<WarmResult> {
  const started = performance.now();
  const services = containerServices();
  const { issuer, audience } = services.config.tokens;
  const verifyOptions: jsonwebtoken.VerifyOptions = { algorithms: ['HS256'], issuer, audience };
  const key = createSecretKey(Buffer.from(secret, 'utf8'));

  // A bare node-redis client, default options, its own connection: the floor's round trips.
  const plain = createClient({ url: redisUrl, scripts: { ...scripts, setInLua } });
  plain.on('error', () => undefined);
  await plain.connect();
  // The seed's naive usage: jwt-redis over a plain client, with the secret as a string.
  const naive = new JWTR(plain as unknown as RedisClientType);
  // jwt-redis with a KeyObject over a plain client: what checking a token through the library costs.
  const keyed = new JWTR(plain as unknown as RedisClientType);

  const readers: Live[] = [];
  const readerTokens: string[] = [];
  for (let k = 0; k < READERS; k += 1) {
    const issued = await services.tokens.issue({ sub: `bench-reader-${k}`, claims: { role: 'user', plan: 'pro' }, ttlSeconds: 3600 });
    readerTokens.push(issued.token);
    const payload = payloadOf(issued.token);
    readers.push({ sub: issued.sub, jti: issued.jti, iat: payload.iat ?? 0, exp: issued.expiresAt });
  }
  const authEvents: APIGatewayTokenAuthorizerEvent[] = readerTokens.map((token) => tokenAuthorizerEvent(`Bearer ${token}`));
  const readerLabels = readers.map((reader) => labelKey(reader.jti));
  // What the authorizer reads in its one MGET: the label, and its subject's revocation counter.
  const readerKeys = readers.map((reader) => [labelKey(reader.jti), counterKey(subjectTag(reader.sub))]);
  const signEvents: APIGatewayProxyEvent[] = Array.from({ length: SIGNERS }, (_, k) =>
    proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `bench-user-${k}`, claims: { role: 'user', plan: 'pro' } }) }),
  );

  // Tokens sign issued, waiting for logout to end them.
  const live: Live[] = [];
  let signed = 0;
  async function topUp(n: number): Promise<void> {
    for (let done = 0; done < n; done += 64) {
      const chunk = Math.min(64, n - done);
      const issued = await Promise.all(
        Array.from({ length: chunk }, () => {
          signed += 1;
          return services.tokens.issue({ sub: `bench-user-${signed % SIGNERS}`, claims: { role: 'user', plan: 'pro' }, ttlSeconds: 900 });
        }),
      );
      for (const token of issued) live.push({ sub: token.sub, jti: token.jti, iat: token.expiresAt - token.expiresIn, exp: token.expiresAt });
    }
  }
  const logoutEvent = (session: Live): APIGatewayProxyEvent =>
    // API Gateway hands the authorizer's context on as strings.
    proxyEvent({
      method: 'POST',
      path: '/auth/logout',
      authorizer: { sub: session.sub, jti: session.jti, iat: String(session.iat), exp: String(session.exp), claims: '{"role":"user","plan":"pro"}' },
    });

  function hmacCheck(token: string): boolean {
    const dot = token.lastIndexOf('.');
    const signature = Buffer.from(token.slice(dot + 1), 'base64url');
    const mac = createHmac('sha256', key).update(token.slice(0, dot)).digest();
    return signature.length === mac.length && timingSafeEqual(signature, mac);
  }

  let fresh = 0;
  const freshKey = () => `bench:key:${(fresh += 1)}`;
  const nowSeconds = () => String(Math.floor(Date.now() / 1000));
  const expectTrue = (result: unknown) => void (result === true || fail(`expected true, got ${String(result)}`));
  const expectOk = (result: unknown) => void (result === 'OK' || fail(`expected OK, got ${String(result)}`));
  const expectDeleted = (result: unknown) => void (result === 1 || fail(`expected 1 deleted, got ${String(result)}`));
  const expectLabel = (result: unknown) => void (typeof result === 'string' && result !== '' ? 0 : fail(`label missing: ${String(result)}`));
  const expectLabels = (result: unknown) => expectLabel((result as unknown[] | null)?.[0]);
  const expectReader = (result: unknown) => void ((result as JwtPayload | undefined)?.sub?.startsWith('bench-reader-') ? 0 : fail('verify gave no subject'));
  const expectAllow = (result: unknown) => {
    const policy = result as APIGatewayAuthorizerResult;
    if (policy?.policyDocument?.Statement?.[0]?.Effect !== 'Allow' || !policy.principalId.startsWith('bench-reader-')) fail('authorizer did not allow');
  };
  const expectSigned = (result: unknown) => {
    const response = result as APIGatewayProxyResult;
    if (response.statusCode !== 201) fail(`sign answered ${response.statusCode}: ${response.body}`);
    const { token, jti } = JSON.parse(response.body) as { token: string; jti: string };
    const payload = payloadOf(token);
    live.push({ sub: String(payload.sub), jti, iat: payload.iat ?? 0, exp: payload.exp ?? 0 });
  };
  const expectNoContent = (result: unknown) => {
    const response = result as APIGatewayProxyResult;
    if (response.statusCode !== 204) fail(`logout answered ${response.statusCode}: ${response.body}`);
  };

  let reader = 0;
  const nextReader = () => (reader = (reader + 1) % READERS);

  // Keys SET by prepare, then deleted by the timed calls.
  let delKeys: string[] = [];
  let logoutEvents: APIGatewayProxyEvent[] = [];
  const prepareLogout = async (n: number) => {
    if (live.length < n) await topUp(n - live.length);
    logoutEvents = live.splice(0, n).map(logoutEvent);
  };

  // One request line of the authorizer as it writes it, captured once: written after the floor's round trip,
  // it shows what the line's write alone costs, apart from building it.
  const requestLine = await captureLine(() => authorizer(authEvents[0] as APIGatewayTokenAuthorizerEvent, context()));

  const authorizerCandidate = (logLevel: LogLevel): Candidate => ({
    id: `authorizer-${logLevel}`,
    label: `authorizer handler (log ${logLevel === 'info' ? 'info → /dev/null' : 'silent'})`,
    kind: 'handler',
    floor: 'authorizer',
    logLevel,
    throughput: true,
    call: () => authorizer(authEvents[nextReader()] as APIGatewayTokenAuthorizerEvent, context()),
    check: expectAllow,
  });
  const signCandidate = (logLevel: LogLevel): Candidate => {
    let n = 0;
    return {
      id: `sign-${logLevel}`,
      label: `sign handler (log ${logLevel === 'info' ? 'info → /dev/null' : 'silent'})`,
      kind: 'handler',
      floor: 'sign',
      logLevel,
      throughput: true,
      call: () => sign(signEvents[(n += 1) % SIGNERS] as APIGatewayProxyEvent, context()),
      check: expectSigned,
    };
  };
  const logoutCandidate = (logLevel: LogLevel): Candidate => ({
    id: `logout-${logLevel}`,
    label: `logout handler (log ${logLevel === 'info' ? 'info → /dev/null' : 'silent'})`,
    kind: 'handler',
    floor: 'logout',
    logLevel,
    throughput: true,
    prepare: prepareLogout,
    call: (i) => logout(logoutEvents[i] as APIGatewayProxyEvent, context()),
    check: expectNoContent,
  });

  // Sessions written and ended through the bare client with our own scripts: the handlers' round trips alone.
  interface ScriptSession {
    keys: { label: string; index: string; counter: string };
    session: { jti: string; issuedAtMs: number; exp: number; lifetimeMs: number; nowSeconds: number };
  }
  const cap = { ...loadSessionConfig({}), labelPrefix: LABEL_PREFIX };
  /**
   * New sessions over SIGNERS subjects of their own, cycled: each caller its own subjects, so that no
   * candidate's indexes fill up faster (and so reach the cap sooner) than sign's own.
   */
  const scriptSessionsOf = (prefix: string) => {
    const tags = Array.from({ length: SIGNERS }, (_, k) => subjectTag(`${prefix}-${k}`));
    let made = 0;
    return (now: number): ScriptSession => {
      made += 1;
      const tag = tags[made % SIGNERS] as string;
      const jti = newJti(`${prefix}-${made % SIGNERS}`);
      return {
        keys: { label: labelKey(jti), index: `${INDEX_PREFIX}{${tag}}`, counter: counterKey(tag) },
        session: { jti, issuedAtMs: now * 1000, exp: now + 900, lifetimeMs: LABEL_TTL_MS, nowSeconds: now },
      };
    };
  };
  const scriptSession = scriptSessionsOf('bench-script');
  const floorSession = scriptSessionsOf('bench-floor');
  let scriptSessions: ScriptSession[] = [];
  let floorSessions: ScriptSession[] = [];
  let endSessions: ScriptSession[] = [];
  const signJti = newJti('bench-user-1');

  const candidates: Candidate[] = [
    { id: 'get', label: 'node-redis GET (bare)', kind: 'baseline', floor: 'authorizer', logLevel: 'info', throughput: true, call: () => plain.get(readerLabels[nextReader()] as string), check: expectLabel },
    { id: 'mget', label: 'node-redis MGET label + counter (bare)', kind: 'baseline', floor: 'authorizer', logLevel: 'info', throughput: true, call: () => plain.mGet(readerKeys[nextReader()] as string[]), check: expectLabels },
    { id: 'set', label: 'node-redis SET … PX (bare)', kind: 'baseline', floor: 'sign', logLevel: 'info', throughput: true, call: () => plain.set(freshKey(), nowSeconds(), { PX: LABEL_TTL_MS }), check: expectOk },
    { id: 'evalsha', label: 'node-redis EVALSHA (SET … PX in Lua)', kind: 'baseline', floor: 'sign', logLevel: 'info', throughput: true, call: () => plain.setInLua(freshKey(), nowSeconds(), String(LABEL_TTL_MS)), check: expectOk },
    {
      id: 'evalsha-register', label: 'node-redis EVALSHA registerSession (sign\'s script, bare client)', kind: 'baseline', floor: 'sign', logLevel: 'info', throughput: true,
      prepare: async (n) => {
        const now = Math.floor(Date.now() / 1000);
        scriptSessions = Array.from({ length: n }, () => scriptSession(now));
      },
      call: (i) => {
        const session = scriptSessions[i] as ScriptSession;
        return plain.registerSession(session.keys, session.session, cap);
      },
      check: (result) => void (result === 1 || fail(`registerSession replied ${String(result)}`)),
    },
    {
      id: 'evalsha-end', label: 'node-redis EVALSHA endSession (logout\'s script, bare client)', kind: 'baseline', floor: 'logout', logLevel: 'info', throughput: true,
      prepare: async (n) => {
        const now = Math.floor(Date.now() / 1000);
        endSessions = Array.from({ length: n }, () => scriptSession(now));
        await Promise.all(endSessions.map((session) => plain.registerSession(session.keys, session.session, cap)));
      },
      call: (i) => {
        const session = endSessions[i] as ScriptSession;
        return plain.endSession(session.keys, session.session.jti);
      },
      check: expectDeleted,
    },
    {
      id: 'jwt-sign-key', label: 'jsonwebtoken.sign, KeyObject (issue() makes the same bytes without it)', kind: 'reference', floor: 'sign', logLevel: 'info', sync: true, throughput: false,
      call: () => {
        const iat = Math.floor(Date.now() / 1000);
        return jsonwebtoken.sign({ role: 'user', plan: 'pro', jti: signJti, iat, exp: iat + 900 }, key, { algorithm: 'HS256', keyid: 'default', subject: 'bench-user-1', issuer, audience });
      },
      check: (result) => void (typeof result === 'string' && result.split('.').length === 3 ? 0 : fail('sign gave no token')),
    },
    { id: 'hmac', label: 'HMAC-SHA256 check (raw, KeyObject)', kind: 'baseline', floor: 'authorizer', logLevel: 'info', sync: true, throughput: false, call: () => hmacCheck(readerTokens[nextReader()] as string), check: expectTrue },
    { id: 'jwt-verify-key', label: 'jsonwebtoken.verify, KeyObject (stateless)', kind: 'reference', floor: 'authorizer', logLevel: 'info', sync: true, throughput: false, call: () => jsonwebtoken.verify(readerTokens[nextReader()] as string, key, verifyOptions), check: expectReader },
    { id: 'jwt-verify-string', label: 'jsonwebtoken.verify, string secret (stateless)', kind: 'reference', floor: 'authorizer', logLevel: 'info', sync: true, throughput: false, share: 0.25, call: () => jsonwebtoken.verify(readerTokens[nextReader()] as string, secret, verifyOptions), check: expectReader },
    { id: 'jwtr-naive', label: 'jwt-redis verify, string secret (naive seed usage)', kind: 'reference', floor: 'authorizer', logLevel: 'info', throughput: true, share: 0.25, call: () => naive.verify<JwtPayload>(readerTokens[nextReader()] as string, secret, verifyOptions), check: expectReader },
    { id: 'jwtr-key', label: 'jwt-redis verify, KeyObject, bare client', kind: 'reference', floor: 'authorizer', logLevel: 'info', throughput: true, call: () => keyed.verify<JwtPayload>(readerTokens[nextReader()] as string, key as unknown as Buffer, verifyOptions), check: expectReader },
    {
      id: 'floor-authorizer', label: 'floor: HMAC check + MGET', kind: 'floor', floor: 'authorizer', logLevel: 'info', throughput: true,
      call: () => {
        const k = nextReader();
        if (!hmacCheck(readerTokens[k] as string)) return Promise.resolve(null);
        return plain.mGet(readerKeys[k] as string[]);
      },
      check: expectLabels,
    },
    {
      // Sign's own round trip, its script through the bare client, after a signature's worth of HMAC.
      id: 'floor-sign', label: 'floor: HMAC + EVALSHA registerSession', kind: 'floor', floor: 'sign', logLevel: 'info', throughput: true,
      prepare: async (n) => {
        const now = Math.floor(Date.now() / 1000);
        floorSessions = Array.from({ length: n }, () => floorSession(now));
      },
      call: (i) => {
        if (!hmacCheck(readerTokens[nextReader()] as string)) return Promise.resolve(null);
        const session = floorSessions[i] as ScriptSession;
        return plain.registerSession(session.keys, session.session, cap);
      },
      check: (result) => void (result === 1 || fail(`registerSession replied ${String(result)}`)),
    },
    {
      id: 'floor-logout', label: 'floor: HMAC + DEL', kind: 'floor', floor: 'logout', logLevel: 'info', throughput: true,
      prepare: async (n) => {
        delKeys = Array.from({ length: n }, freshKey);
        await Promise.all(delKeys.map((k) => plain.set(k, '1', { PX: LABEL_TTL_MS })));
      },
      call: (i) => {
        if (!hmacCheck(readerTokens[nextReader()] as string)) return Promise.resolve(null);
        return plain.del(delKeys[i] as string);
      },
      check: expectDeleted,
    },
    {
      id: 'floor-authorizer-line', label: 'floor + the authorizer\'s request line, written as it is (not built)', kind: 'reference', floor: 'authorizer', logLevel: 'info', throughput: false,
      call: async () => {
        const k = nextReader();
        if (!hmacCheck(readerTokens[k] as string)) return null;
        const labels = await plain.mGet(readerKeys[k] as string[]);
        process.stdout.write(requestLine);
        return labels;
      },
      check: expectLabels,
    },
    authorizerCandidate('info'),
    authorizerCandidate('silent'),
    signCandidate('info'),
    signCandidate('silent'),
    logoutCandidate('info'),
    logoutCandidate('silent'),
  ];

  let failures = 0;
  let firstFailure: string | undefined;
  const noteFailure = (candidate: Candidate, error: unknown) => {
    failures += 1;
    firstFailure ??= `${candidate.id}: ${error instanceof Error ? error.message : String(error)}`;
  };

  /** One candidate's turn, one call at a time; samples in ns go to `into` from `offset`, if given. */
  async function turn(candidate: Candidate, n: number, into?: Float64Array, offset = 0): Promise<void> {
    await candidate.prepare?.(n);
    setLogLevel(candidate.logLevel);
    const { call, check, sync } = candidate;
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
      try {
        if (error !== undefined) throw error;
        check(result, i);
      } catch (problem) {
        noteFailure(candidate, problem);
      }
    }
    setLogLevel('info');
  }

  /** One candidate's throughput turn: `n` calls, `inFlight` outstanding at any time. Resolves calls/s. */
  async function flight(candidate: Candidate, n: number): Promise<number> {
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
    await Promise.all(Array.from({ length: Math.min(options.inFlight, n) }, worker));
    const elapsedNs = Number(process.hrtime.bigint() - t0);
    setLogLevel('info');
    for (const error of errors) noteFailure(candidate, error);
    results.forEach((result, i) => {
      try {
        candidate.check(result, i);
      } catch (problem) {
        noteFailure(candidate, problem);
      }
    });
    return n / (elapsedNs / 1e9);
  }

  const rotated = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length] as T);

  const quota = (candidate: Candidate, n: number) => Math.max(1, Math.round(n * (candidate.share ?? 1)));

  progress(`warm-up: ${options.warmup} calls per candidate`);
  for (let done = 0; done < options.warmup; done += options.batch) {
    for (const candidate of candidates) await turn(candidate, quota(candidate, Math.min(options.batch, options.warmup - done)));
  }
  if (options.warmup > 0) {
    for (const candidate of candidates) if (candidate.throughput) await flight(candidate, quota(candidate, Math.min(options.flightCalls, 2 * options.inFlight)));
  }

  progress(`latency: ${options.iterations} calls per candidate (slow references fewer), one at a time, ${candidates.length} candidates taking turns of ${options.batch}`);
  const samples = new Map(candidates.map((candidate) => [candidate.id, new Float64Array(quota(candidate, options.iterations))]));
  const taken = new Map(candidates.map((candidate) => [candidate.id, 0]));
  for (let round = 0; candidates.some((candidate) => (taken.get(candidate.id) ?? 0) < quota(candidate, options.iterations)); round += 1) {
    for (const candidate of rotated(candidates, round)) {
      const done = taken.get(candidate.id) ?? 0;
      const n = Math.min(quota(candidate, options.batch), quota(candidate, options.iterations) - done);
      if (n <= 0) continue;
      await turn(candidate, n, samples.get(candidate.id), done);
      taken.set(candidate.id, done + n);
    }
  }

  const flyers = candidates.filter((candidate) => candidate.throughput);
  progress(`throughput: ${options.flightRounds} rounds of ${options.flightCalls} calls per candidate, ${options.inFlight} in flight`);
  const rates = new Map(flyers.map((candidate) => [candidate.id, [] as number[]]));
  for (let r = 0; r < options.flightRounds; r += 1) {
    for (const candidate of rotated(flyers, r)) rates.get(candidate.id)?.push(await flight(candidate, quota(candidate, options.flightCalls)));
  }

  const sanity = await revocationSanity(naive, secret, verifyOptions);
  await plain.close();
  await services.redis.close();

  return {
    latency: candidates.map((candidate) => ({
      id: candidate.id,
      label: candidate.label,
      kind: candidate.kind,
      floor: candidate.floor,
      summary: summarize(samples.get(candidate.id) as Float64Array),
    })),
    throughput: flyers.map((candidate): ThroughputRow => {
      const rounds = rates.get(candidate.id) ?? [];
      return { id: candidate.id, label: candidate.label, rounds, opsPerSecond: median(rounds) };
    }),
    sanity,
    failures,
    firstFailure,
    elapsedMs: performance.now() - started,
  };
}

/** What `run` writes to stdout: one call, at log level info. */
async function captureLine(run: () => Promise<unknown>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let captured = '';
  process.stdout.write = ((chunk: string) => {
    captured += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    setLogLevel('info');
    await run();
  } finally {
    process.stdout.write = write;
  }
  if (!captured.endsWith('\n') || captured.indexOf('\n') !== captured.length - 1) fail(`expected one request line, got ${JSON.stringify(captured)}`);
  return captured;
}

/** Sign, allow, log out, and the very next check refuses: through the handlers and through bare jwt-redis. */
async function revocationSanity(naive: JWTR, key: string, verifyOptions: jsonwebtoken.VerifyOptions): Promise<SanityResult> {
  setLogLevel('silent');
  const signedResponse = await sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'bench-sanity' }) }));
  const { token, jti } = JSON.parse(signedResponse.body) as { token: string; jti: string };
  const payload = payloadOf(token);
  const allowed = await authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
    (policy) => policy.policyDocument.Statement[0]?.Effect === 'Allow',
    () => false,
  );
  const loggedOut = await logout(
    proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: { sub: 'bench-sanity', jti, iat: String(payload.iat), exp: String(payload.exp), claims: '{}' } }),
  );
  const denied = await authorizer(tokenAuthorizerEvent(`Bearer ${token}`)).then(
    () => false,
    (error: unknown) => error instanceof Error && error.message === 'Unauthorized',
  );
  const naiveDenied = await naive.verify(token, key, verifyOptions).then(
    () => false,
    (error: unknown) => error instanceof TokenDestroyedError,
  );
  setLogLevel('info');
  return {
    signed: signedResponse.statusCode === 201,
    allowedBeforeLogout: allowed,
    loggedOut: loggedOut.statusCode === 204,
    deniedAfterLogout: denied,
    naiveDeniedAfterLogout: naiveDenied,
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
