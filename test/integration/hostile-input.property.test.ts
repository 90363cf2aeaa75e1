// Property-based tests of the real authorizer and sign handlers against a real redis-server.
//
// Authorizer: for any Authorization header (random text, a JWS with any header, payload, `alg` and key, a
// real token mutated, a token signed with our key whose payload or claims are any JSON), the answer is a refusal (exactly "Unauthorized", a 401) or an Allow of a token we
// issued and did not revoke, for exactly its subject and claims. Never a 500 while Redis is healthy.
// Sign: for any body, 201 or 400, never 500; a 400 writes nothing to Redis; a 201's token is allowed with
// exactly the subject and claims that were asked for, with a refresh token exactly when asked, and its session's
// metadata as given.
// Refresh: for any body, 200, 400 or 401, never 500; a 400 or a 401 changes nothing in Redis, but for a used refresh
// token of a live session (its family, another secret), which ends that session; a 200 only for a live one.
// Logout: for no body or any, 204 or 400; a 400 changes nothing; a 204 ends exactly the scope it names.
import { expect } from '@jest/globals';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import fc from 'fast-check';
import { MAX_NUMERIC_DATE } from '../../shared/auth/claims';
import { labelKey, newId, recordKey } from '../../shared/sessions/keys';
import { RESERVED_CLAIMS } from '../../shared/auth/tokens';
import { anyString, hostileJsonText, hostileKey, nested, prototypeKeys } from '../../testkit/arbitraries';
import { coldStart, type Container } from '../../testkit/cold-start';
import { proxyEvent, tokenAuthorizerEvent } from '../../testkit/events';
import { ALL_ALGS, b64url, decodeJws, encodeSegment, forgeJws } from '../../testkit/jws';
import { startRedisServer, type RedisServer } from '../../testkit/redis-server';

const KEYS = {
  current: { kid: 'k-2026-12', secret: 'property-current-secret-0123456789abcdefgh' },
  previous: { kid: 'k-2026-10', secret: 'property-previous-secret-0123456789abcdefg' },
  removed: { kid: 'k-2026-11', secret: 'property-removed-secret-0123456789abcdefgh' },
};
const ring = (...names: Array<keyof typeof KEYS>) => names.map((name) => `${KEYS[name].kid}:${KEYS[name].secret}`).join(',');
/** The kids the authorizer's ring holds; any other refuses a token before its signature is checked. */
const RING_KIDS: ReadonlySet<unknown> = new Set([KEYS.current.kid, KEYS.previous.kid]);
/** The refusal of a header naming no key of the ring: before its signature, let alone its payload, is read. */
const KID_REFUSED =
  /^TOKEN_(INVALID: token (has no valid kid|was signed with a key that is not in the ring|alg must be HS256|typ must be JWT|header has crit extensions)|MALFORMED: token header is not (JSON|a JSON object))$/;
const ISSUER = 'revocable-jwt';
const AUDIENCE = 'revocable-jwt-api';

interface Issued {
  token: string;
  jti: string;
  sub: string;
  claims: Record<string, unknown>;
  /** What the oracle expects the authorizer to do with it. */
  live: boolean;
  why: string;
}

let inputsTried = 0;
const runs = (numRuns: number) => {
  inputsTried += numRuns;
  return { numRuns };
};

describe('Hostile input against the real handlers (real redis-server)', () => {
  let server: RedisServer;
  let main: Container;
  let previousSigner: Container;
  let removedSigner: Container;
  const issued: Issued[] = [];
  const byJti = new Map<string, Issued>();
  /** jtis the forgery property wrote a label for (as an attacker with Redis access could). */
  const labelledByTest = new Set<string>();

  async function signWith(container: Container, sub: string, claims: Record<string, unknown>, ttl: number): Promise<{ token: string; jti: string }> {
    const response = await container.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub, claims, ttl }) }));
    if (response.statusCode !== 201) throw new Error(`setup: sign answered ${response.statusCode}: ${response.body}`);
    return JSON.parse(response.body) as { token: string; jti: string };
  }

  const remember = (entry: Issued) => {
    issued.push(entry);
    byJti.set(entry.jti, entry);
  };

  beforeAll(async () => {
    server = await startRedisServer();
    // A generous Redis bound: this suite is about input, not time, and shares two cores with the rest of `npm test`.
    const env = (keys: string) => ({ REDIS_URL: server.url, JWT_KEYS: keys, REDIS_TIMEOUT_MS: '5000', LOG_LEVEL: 'silent' });
    main = coldStart(env(ring('current', 'previous')));
    previousSigner = coldStart(env(ring('previous')));
    removedSigner = coldStart(env(ring('removed', 'previous')));

    const expiring: Array<{ token: string; jti: string; sub: string }> = [];
    for (let i = 0; i < 3; i += 1) expiring.push({ ...(await signWith(main, `expiring-${i}`, {}, 1)), sub: `expiring-${i}` });
    for (let i = 0; i < 6; i += 1) {
      const sub = `user-${i}`;
      const claims = { role: i % 2 === 0 ? 'user' : 'admin', n: i };
      remember({ ...(await signWith(main, sub, claims, 3600)), sub, claims, live: true, why: 'live' });
      remember({ ...(await signWith(previousSigner, sub, claims, 3600)), sub, claims, live: true, why: 'live, previous key' });
      remember({ ...(await signWith(removedSigner, sub, claims, 3600)), sub, claims, live: false, why: 'signed by a removed key' });
      const revoked = await signWith(main, sub, claims, 3600);
      const context = (await main.authorizer(tokenAuthorizerEvent(`Bearer ${revoked.token}`))).context as Record<string, unknown>;
      expect((await main.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context }))).statusCode).toBe(204);
      remember({ ...revoked, sub, claims, live: false, why: 'logged out' });
    }
    // Let the 1-second tokens expire (their labels go with them).
    await new Promise((resolve) => setTimeout(resolve, 2100));
    for (const token of expiring) remember({ ...token, claims: {}, live: false, why: 'expired' });
  });

  afterAll(async () => {
    await Promise.all([main, previousSigner, removedSigner].map((container) => container?.close()));
    await server?.stop();
    console.log(`hostile input (handlers): ${inputsTried} inputs tried`);
  });

  type Decision = { outcome: 'allow'; result: APIGatewayAuthorizerResult } | { outcome: 'deny' } | { outcome: 'error'; message: string };

  async function decide(header: string | undefined): Promise<Decision> {
    try {
      return { outcome: 'allow', result: await main.authorizer(tokenAuthorizerEvent(header)) };
    } catch (error) {
      const message = (error as Error).message;
      return message === 'Unauthorized' ? { outcome: 'deny' } : { outcome: 'error', message };
    }
  }

  /** The property: never an error; an Allow only for a live token we issued, exactly as issued. */
  function expectSound(decision: Decision, header: string | undefined): void {
    expect(decision.outcome === 'error' ? `error: ${decision.message}` : 'no error').toBe('no error');
    if (decision.outcome !== 'allow') return;
    const jti = decision.result.context?.jti;
    const entry = typeof jti === 'string' ? byJti.get(jti) : undefined;
    expect({ header, allowed: entry?.why ?? `a token we never issued (jti ${String(jti)})` }).toEqual({
      header,
      allowed: entry?.live ? entry.why : 'a live token',
    });
    const live = entry as Issued;
    expect(decision.result.principalId).toBe(live.sub);
    expect(decision.result.context).toMatchObject({ sub: live.sub, jti: live.jti, customClaims: JSON.stringify(live.claims) });
    expect(decision.result.policyDocument.Statement).toEqual([expect.objectContaining({ Effect: 'Allow' })]);
    // Exactly the token we issued, character for character.
    expect((header ?? '').trim().replace(/^bearer[ \t]+/i, '')).toBe(live.token);
  }

  const issuedToken = () => fc.constantFrom(...issued);

  /** Why the service refuses a token (`CODE: message`), or `allowed`: the authorizer's own check, with its reason. */
  async function reasonOf(token: string): Promise<string> {
    return main.services.tokens.verify(token).then(
      () => 'allowed',
      (error: { code?: unknown; message?: unknown }) => `${String(error.code)}: ${String(error.message)}`,
    );
  }

  it('allows every live token we issued, in every valid spelling of the header, and refuses the others', async () => {
    await fc.assert(
      fc.asyncProperty(
        issuedToken(),
        fc.mixedCase(fc.constant('bearer')),
        fc.constantFrom(' ', '\t', '  ', ' \t'),
        fc.constantFrom('', ' ', '\t'),
        async (entry, scheme, gap, trailing) => {
          const header = `${scheme}${gap}${entry.token}${trailing}`;
          const decision = await decide(header);
          expectSound(decision, header);
          expect({ why: entry.why, outcome: decision.outcome }).toEqual({ why: entry.why, outcome: entry.live ? 'allow' : 'deny' });
        },
      ),
      runs(300),
    );
  });

  it('refuses any header that is not one of our live tokens: random text', async () => {
    const headers = fc.oneof(
      anyString(300),
      fc.string({ unit: 'binary', maxLength: 300 }).map((text) => `Bearer ${text}`),
      fc.json().map((text) => `Bearer ${b64url(text)}`),
      // Oversize: up to past API Gateway's 10 KiB header limit, shaped like a JWS or not.
      fc
        .tuple(fc.integer({ min: 7_000, max: 12_000 }), fc.boolean())
        .map(([length, shaped]) => (shaped ? `Bearer ${'e'.repeat(length)}.e30.${'A'.repeat(43)}` : 'B'.repeat(length))),
      fc.constantFrom(...issued.map((entry) => entry.token)).map((token) => `Bearer ${token}${'A'.repeat(9000)}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.option(headers, { nil: undefined }), async (header) => {
        const decision = await decide(header);
        expectSound(decision, header);
      }),
      runs(500),
    );
  });

  it('refuses any JWS we did not issue: every alg, every kid, our keys and others, any claims, a label or not', async () => {
    const now = Math.floor(Date.now() / 1000);
    // Stands for a jti of the payload's own subject, so that a payload shaped as ours is common.
    const SAME_SUBJECT = 'same-subject';
    const algs = fc.oneof(fc.constantFrom(...ALL_ALGS), fc.constantFrom('hs256', 'HS256 ', 'None', 'NONE', '', 'RS256 ', 'HS1', 'EdDSA'), anyString(6));
    const kids = fc.oneof(
      fc.constantFrom(
        KEYS.current.kid,
        KEYS.previous.kid,
        KEYS.removed.kid,
        undefined,
        '',
        'default',
        '__proto__',
        'constructor',
        'toString',
        '../../etc/passwd',
      ),
      fc.constantFrom<unknown>(42, null, [KEYS.current.kid], { kid: KEYS.current.kid }, true),
      anyString(10),
    );
    const header = fc.record(
      {
        alg: fc.option(algs, { nil: undefined }),
        kid: kids,
        typ: fc.constantFrom('JWT', 'at+jwt', undefined),
        extra: fc.option(fc.tuple(hostileKey, fc.jsonValue({ maxDepth: 2 }))),
      },
      { requiredKeys: ['alg', 'kid'] },
    );
    const time = fc.oneof(
      fc.integer({ min: now - 7200, max: now + 7200 }),
      fc.constantFrom<unknown>(undefined, null, '4102444800', 1e20, -1, 0, 4102444800.5, NaN),
    );
    const subject = fc.oneof(fc.constantFrom(...issued.map((entry) => entry.sub), '', 'user-0 ', 'USER-0'), anyString(12));
    const payload = fc
      .record({
        sub: fc.option(subject, { nil: undefined }),
        jti: fc.oneof(
          fc.constantFrom(...issued.map((entry) => entry.jti)),
          subject.map((sub) => newId(sub)),
          anyString(30),
          fc.constant(undefined),
          fc.constant(SAME_SUBJECT),
        ),
        iat: time,
        exp: time,
        nbf: fc.option(time, { nil: undefined }),
        iss: fc.oneof(fc.constant(ISSUER), fc.constantFrom<unknown>(undefined, 'someone-else', [ISSUER], ` ${ISSUER}`)),
        aud: fc.oneof(fc.constant(AUDIENCE), fc.constantFrom<unknown>(undefined, 'another-api', [AUDIENCE, 'x'], [], AUDIENCE.toUpperCase())),
        role: fc.constantFrom('user', 'admin', undefined),
        extra: fc.option(fc.tuple(hostileKey, fc.jsonValue({ maxDepth: 2 }))),
      })
      .map((fields) => (fields.jti === SAME_SUBJECT ? { ...fields, jti: typeof fields.sub === 'string' ? newId(fields.sub) : undefined } : fields));
    const secrets = fc.constantFrom(KEYS.current.secret, KEYS.previous.secret, KEYS.removed.secret, 'attacker-secret-0123456789abcdefghijklmn', '');
    await fc.assert(
      fc.asyncProperty(
        header,
        payload,
        secrets,
        fc.boolean(),
        fc.option(fc.constantFrom(...ALL_ALGS), { nil: undefined }),
        async (h, p, secret, withLabel, signingAlg) => {
          const { extra: headerExtra, ...headerFields } = h;
          const { extra: payloadExtra, ...payloadFields } = p;
          const headerText = `{${[
            ...Object.entries(headerFields)
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`),
            ...(headerExtra ? [`${JSON.stringify(headerExtra[0])}:${JSON.stringify(headerExtra[1])}`] : []),
          ].join(',')}}`;
          const payloadText = `{${[
            ...Object.entries(payloadFields)
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`),
            ...(payloadExtra ? [`${JSON.stringify(payloadExtra[0])}:${JSON.stringify(payloadExtra[1])}`] : []),
          ].join(',')}}`;
          const alg = signingAlg ?? (typeof h.alg === 'string' && (ALL_ALGS as readonly string[]).includes(h.alg) ? h.alg : 'HS256');
          const token = forgeJws({ header: headerText, payload: payloadText, secret: secret === '' ? 'x' : secret, signingAlg: alg });
          // A label for the forged jti, so that only the signature and the claims can stop it.
          // (Never for a jti we issued: that would bring a logged-out token back, as Redis write access would.)
          const labelled = withLabel && typeof p.jti === 'string' && p.jti.length < 200 && !byJti.has(p.jti);
          if (labelled) {
            await (await server.admin()).set(labelKey(p.jti as string), '1', { EX: 600 });
            labelledByTest.add(p.jti as string);
          }
          const decision = await decide(`Bearer ${token}`);
          // The kid the service reads: an `extra` header field may repeat "kid", and JSON.parse keeps the last.
          const kid = (JSON.parse(headerText) as { kid?: unknown }).kid;
          if (!RING_KIDS.has(kid)) {
            // Refused for its header, whatever its signature and payload.
            expect({ kid, decision: decision.outcome, reason: await reasonOf(token) }).toEqual({
              kid,
              decision: 'deny',
              reason: expect.stringMatching(KID_REFUSED),
            });
            return;
          }
          const kidKey = Object.values(KEYS).find((key) => key.kid === h.kid && key !== KEYS.removed);
          if (h.alg === 'HS256' && alg === 'HS256' && kidKey !== undefined && kidKey.secret === secret) {
            // Signed with a key of the ring, exactly as we sign: what a leaked key allows. Even then a token is
            // allowed only with a label in Redis (a live session, or one an attacker with Redis access wrote) and
            // with every claim right.
            expect(decision.outcome).not.toBe('error');
            if (decision.outcome === 'allow') {
              const live = byJti.get(String(p.jti));
              expect(labelled || live?.live === true).toBe(true);
              expect([p.iss, p.aud, p.sub, typeof p.exp === 'number' && p.exp > Date.now() / 1000]).toEqual([
                ISSUER,
                AUDIENCE,
                decision.result.principalId,
                true,
              ]);
            }
            return;
          }
          expectSound(decision, `Bearer ${token}`);
        },
      ),
      runs(600),
    );
  });

  it('refuses a live token re-signed with the current key under a kid the ring does not hold (unknown, removed), for its kid', async () => {
    const entry = issued.find((candidate) => candidate.why === 'live') as Issued;
    const [headerText, payloadText] = entry.token.split('.').map((segment) => Buffer.from(segment, 'base64url').toString('utf8')) as [string, string];
    // The control: under its own kid, the current one, these bytes are the live token we issued.
    expect(JSON.parse(headerText)).toMatchObject({ kid: KEYS.current.kid });
    expect(forgeJws({ header: headerText, payload: payloadText, secret: KEYS.current.secret })).toBe(entry.token);
    expect(await reasonOf(entry.token)).toBe('allowed');

    for (const kid of ['k-2027-01', KEYS.removed.kid]) {
      const token = forgeJws({ header: { alg: 'HS256', typ: 'JWT', kid }, payload: payloadText, secret: KEYS.current.secret });
      expect({ kid, decision: await decide(`Bearer ${token}`) }).toEqual({ kid, decision: { outcome: 'deny' } });
      expect(await reasonOf(token)).toBe('TOKEN_INVALID: token was signed with a key that is not in the ring');
    }
  });

  it('refuses a live session re-signed with any alg but HS256, with a ring key or any other (claims and label all right)', async () => {
    const liveEntries = issued.filter((entry) => entry.live);
    const otherAlgs = fc.oneof(
      fc.constantFrom(...ALL_ALGS.filter((alg) => alg !== 'HS256')),
      fc.constantFrom('hs256', 'Hs256', 'HS256 ', ' HS256', 'none ', 'HS2560'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...liveEntries),
        otherAlgs,
        fc.constantFrom(KEYS.current, KEYS.previous, KEYS.removed),
        fc.boolean(),
        async (entry, alg, key, keepKid) => {
          const { header, payload } = decodeJws(entry.token);
          const signingAlg = (ALL_ALGS as readonly string[]).includes(alg.trim()) ? alg.trim() : 'HS256';
          const token = forgeJws({ header: { ...header, alg, ...(keepKid ? {} : { kid: key.kid }) }, payload, secret: key.secret, signingAlg });
          const decision = await decide(`Bearer ${token}`);
          expect({ alg, outcome: decision.outcome }).toEqual({ alg, outcome: 'deny' });
        },
      ),
      runs(300),
    );
    // The control: the same header and payload text, HS256 with the key of its kid, is the very token we issued.
    const [entry] = liveEntries as [Issued];
    const [headerText, payloadText] = entry.token
      .split('.')
      .slice(0, 2)
      .map((segment) => Buffer.from(segment, 'base64url').toString('utf8')) as [string, string];
    const key = Object.values(KEYS).find((candidate) => candidate.kid === decodeJws(entry.token).header.kid) as { secret: string };
    const again = forgeJws({ header: headerText, payload: payloadText, secret: key.secret, signingAlg: 'HS256' });
    expect(again).toBe(entry.token);
    expect((await decide(`Bearer ${again}`)).outcome).toBe('allow');
  });

  it('refuses every real token once changed: any character replaced, removed or added, segments swapped, claims re-encoded', async () => {
    const mutation = fc.oneof(
      fc.tuple(
        fc.constant('replace' as const),
        fc.nat(),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ '.split('')),
      ),
      fc.tuple(fc.constant('delete' as const), fc.nat(), fc.constant('')),
      fc.tuple(fc.constant('insert' as const), fc.nat(), fc.constantFrom('A', 'a', '0', '-', '_', '.', '=', ' ')),
      fc.tuple(fc.constant('swap' as const), fc.constantFrom(0, 1, 2), fc.constant('')),
      fc.tuple(fc.constant('claim' as const), fc.nat(), hostileJsonText),
      fc.tuple(fc.constant('header' as const), fc.nat(), fc.constantFrom('none', 'HS384', 'HS512', 'RS256', 'ES256', 'PS256')),
    );
    await fc.assert(
      fc.asyncProperty(issuedToken(), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (entry, mutations) => {
        let token = entry.token;
        for (const [kind, at, text] of mutations) {
          const position = at % (token.length + 1);
          const segments = token.split('.');
          if (kind === 'replace') token = `${token.slice(0, position)}${text}${token.slice(position + 1)}`;
          else if (kind === 'delete') token = `${token.slice(0, position)}${token.slice(position + 1)}`;
          else if (kind === 'insert') token = `${token.slice(0, position)}${text}${token.slice(position)}`;
          else if (kind === 'swap' && segments.length === 3) {
            const [a, b] = [at, (at + 1) % 3];
            [segments[a], segments[b]] = [segments[b] as string, segments[a] as string];
            token = segments.join('.');
          } else if (kind === 'claim' && segments.length === 3) {
            try {
              const { payload } = decodeJws(token);
              const names = ['sub', 'jti', 'exp', 'iat', 'role', 'iss', 'aud', '__proto__', 'n'];
              token = [
                segments[0],
                encodeSegment(
                  `{${[
                    ...Object.entries(payload)
                      .map(([k, v]) => (k === names[at % names.length] ? '' : `${JSON.stringify(k)}:${JSON.stringify(v)}`))
                      .filter(Boolean),
                    `${JSON.stringify(names[at % names.length])}:${text}`,
                  ].join(',')}}`,
                ),
                segments[2],
              ].join('.');
            } catch {
              // Not decodable any more: leave it as it is.
            }
          } else if (kind === 'header' && segments.length === 3) {
            token = [encodeSegment({ alg: text, typ: 'JWT', kid: KEYS.current.kid }), segments[1], text === 'none' ? '' : segments[2]].join('.');
          }
        }
        const header = `Bearer ${token}`;
        const decision = await decide(header);
        expectSound(decision, header);
        if (token !== entry.token) expect(decision.outcome).not.toBe('allow');
      }),
      runs(600),
    );
  });

  it('refuses a signature re-encoded with different spare bits: only the exact string we issued is allowed', async () => {
    // A 32-byte HS256 signature is 43 base64url characters: the last one carries 4 bits and 2 spare ones.
    // Base64 decoders ignore the spare bits; jws compares the signature as a string, so the variant fails.
    const { token, jti } = await signWith(main, 'malleable', { role: 'user' }, 600);
    remember({ token, jti, sub: 'malleable', claims: { role: 'user' }, live: true, why: 'live' });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.slice(-1));
    for (let spare = 1; spare < 4; spare += 1) {
      const sibling = `${token.slice(0, -1)}${alphabet[last ^ spare]}`;
      expect(Buffer.from(sibling.split('.')[2] as string, 'base64url')).toEqual(Buffer.from(token.split('.')[2] as string, 'base64url'));
      expect((await decide(`Bearer ${sibling}`)).outcome).toBe('deny');
    }
    expect((await decide(`Bearer ${token}`)).outcome).toBe('allow');
  });

  it('signed with a key of the ring (a leaked key): allowed only for a session that has a label, with every claim right', async () => {
    const now = Math.floor(Date.now() / 1000);
    const liveEntries = issued.filter((entry) => entry.live);
    let allowed = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(KEYS.current, KEYS.previous),
        fc.oneof(
          fc.constantFrom(...liveEntries).map((entry) => ({ sub: entry.sub, jti: entry.jti })),
          fc.constantFrom(...issued.filter((entry) => !entry.live)).map((entry) => ({ sub: entry.sub, jti: entry.jti })),
          anyString(8).map((sub) => ({ sub, jti: newId(sub) })),
        ),
        fc.record({
          exp: fc.integer({ min: now - 60, max: now + 3600 }),
          iss: fc.constantFrom(ISSUER, 'other'),
          aud: fc.constantFrom(AUDIENCE, 'other'),
          role: fc.constantFrom('user', 'admin'),
          subOverride: fc.option(fc.constantFrom('user-0', 'user-1', ''), { nil: undefined }),
        }),
        async (key, session, claims) => {
          const sub = claims.subOverride ?? session.sub;
          const token = forgeJws({
            header: { alg: 'HS256', typ: 'JWT', kid: key.kid },
            payload: { sub, jti: session.jti, iat: now - 1, exp: claims.exp, iss: claims.iss, aud: claims.aud, role: claims.role },
            secret: key.secret,
          });
          const decision = await decide(`Bearer ${token}`);
          expect(decision.outcome).not.toBe('error');
          // A label exists for live tokens, and for those of a removed key too: removing a key refuses its
          // tokens by signature, it does not delete their labels, so one re-signed with a ring key still works.
          const entry = byJti.get(session.jti);
          const labelled = (entry !== undefined && (entry.live || entry.why === 'signed by a removed key')) || labelledByTest.has(session.jti);
          const shouldAllow = labelled && sub === session.sub && claims.iss === ISSUER && claims.aud === AUDIENCE && claims.exp > Date.now() / 1000 + 1;
          if (decision.outcome === 'allow') allowed += 1;
          // Live label, right subject for the jti, right issuer and audience, not expired: exactly then.
          if (claims.exp > Date.now() / 1000 + 1 || claims.exp < Date.now() / 1000 - 1) expect(decision.outcome).toBe(shouldAllow ? 'allow' : 'deny');
        },
      ),
      runs(300),
    );
    console.log(`leaked-key forgeries: 300 tried, ${allowed} allowed (each for a session with a label, with its own subject)`);
  });

  it('signed with a key of the ring, any JSON as the payload or a claim: refused, or allowed only when every claim is as we sign it; never a 500', async () => {
    const now = Math.floor(Date.now() / 1000);
    // JSON texts, so that numbers JSON.stringify cannot write are in too (1e400 parses as Infinity).
    const absurdNumber = fc.constantFrom(
      '1e20',
      '-1e20',
      '1e308',
      '-1e308',
      '1e400',
      '-1e400',
      '-1',
      '-0',
      '0.5',
      '1.5',
      '1e-400',
      `${now + 3600}.5`,
      `${now + 3600}e0`,
      '8.64e12',
      String(MAX_NUMERIC_DATE + 1),
      '9007199254740993',
    );
    const anyJson = fc.oneof(
      hostileJsonText,
      absurdNumber,
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    );
    /** Mostly right, so that a whole token is right often enough; else wrong or any JSON; now and then absent. */
    const claim = (right: string[], wrong: string[] = []) =>
      fc.option(
        fc.oneof(
          { weight: 10, arbitrary: fc.constantFrom(...right) },
          { weight: 1, arbitrary: wrong.length > 0 ? fc.oneof(fc.constantFrom(...wrong), anyJson) : anyJson },
        ),
        { nil: undefined, freq: 20 },
      );
    const objectPayload = fc.constantFrom(...issued).chain((entry) =>
      fc
        .record({
          sub: claim([JSON.stringify(entry.sub)], [JSON.stringify(entry.sub === 'user-0' ? 'user-1' : 'user-0')]),
          jti: claim([JSON.stringify(entry.jti)], [JSON.stringify([entry.jti]), JSON.stringify({ jti: entry.jti })]),
          iat: claim([String(now - 10)]),
          exp: claim([String(now + 3600)], [String(now - 3600)]),
          nbf: fc.option(
            fc.oneof(
              { weight: 2, arbitrary: fc.constant(String(now - 3600)) },
              { weight: 1, arbitrary: fc.constant(String(now + 3600)) },
              { weight: 1, arbitrary: anyJson },
            ),
            { nil: undefined, freq: 2 },
          ),
          iss: claim([JSON.stringify(ISSUER)]),
          aud: claim([JSON.stringify(AUDIENCE), JSON.stringify(['another-api', AUDIENCE])]),
          // Custom claims, and reserved ones written twice (JSON.parse keeps the last).
          extra: fc.array(fc.tuple(hostileKey, anyJson), { maxLength: 3 }),
        })
        .map(
          ({ extra, ...claims }) =>
            `{${[...Object.entries(claims).flatMap(([name, text]) => (text === undefined ? [] : [[name, text]])), ...extra].map(([name, text]) => `${JSON.stringify(name)}:${text}`).join(',')}}`,
        ),
    );
    const payloads = fc.oneof({ weight: 5, arbitrary: objectPayload }, { weight: 1, arbitrary: anyJson });
    const isDate = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_NUMERIC_DATE;
    const depth = (value: unknown): number => (typeof value === 'object' && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depth)) : 0);

    /** What the authorizer must do with a token of this payload, signed with a key of the ring. */
    function oracle(payload: unknown): { allow: false } | { allow: true; sub: string; jti: string; claims: Record<string, unknown> } {
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { allow: false };
      const { sub, jti, iat, exp, nbf, iss, aud } = payload as Record<string, unknown>;
      const entry = typeof jti === 'string' ? byJti.get(jti) : undefined;
      // Removing a key refuses its tokens by signature; their labels stay (see the leaked-key property).
      const labelled = entry !== undefined && (entry.live || entry.why === 'signed by a removed key');
      const claims = Object.fromEntries(Object.entries(payload).filter(([name]) => !RESERVED_CLAIMS.has(name)));
      const nowSeconds = Date.now() / 1000;
      const allow =
        labelled &&
        sub === entry.sub &&
        isDate(exp) &&
        exp > nowSeconds &&
        isDate(iat) &&
        (nbf === undefined || (isDate(nbf) && nbf <= nowSeconds)) &&
        iss === ISSUER &&
        (aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE))) &&
        iat <= exp &&
        // Names of Object.prototype members are refused as claims, as sign refuses them.
        !Object.keys(claims).some((name) => name === 'prototype' || Object.hasOwn(Object.prototype, name)) &&
        depth(claims) <= 32;
      return allow ? { allow, sub: entry.sub, jti: entry.jti, claims } : { allow: false };
    }

    const seen = { allow: 0, deny: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(KEYS.current, KEYS.previous), fc.constantFrom('JWT', undefined), payloads, async (key, typ, payloadText) => {
        const token = forgeJws({ header: { alg: 'HS256', ...(typ === undefined ? {} : { typ }), kid: key.kid }, payload: payloadText, secret: key.secret });
        const decision = await decide(`Bearer ${token}`);
        const expected = oracle(JSON.parse(payloadText));
        expect({ payloadText, outcome: decision.outcome }).toEqual({ payloadText, outcome: expected.allow ? 'allow' : 'deny' });
        seen[decision.outcome as 'allow' | 'deny'] += 1;
        if (decision.outcome === 'allow' && expected.allow) {
          expect(decision.result.principalId).toBe(expected.sub);
          expect(decision.result.context).toMatchObject({ sub: expected.sub, jti: expected.jti, customClaims: JSON.stringify(expected.claims) });
        }
      }),
      runs(600),
    );
    // Both answers were put to the test, not only refusals.
    expect(seen.allow).toBeGreaterThan(10);
    expect(seen.deny).toBeGreaterThan(10);
    console.log(`ring-key tokens with any claims: 600 tried, ${seen.allow} allowed, ${seen.deny} refused`);
  });

  describe('sign', () => {
    // Verifiers that look claim names up in a plain object (jsonwebtoken) break on names of Object.prototype members.
    test('answers 400, not 500, to claims named like an Object.prototype member', async () => {
      for (const name of ['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__']) {
        const response = await main.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'u', claims: { [name]: 1 } }) }));
        expect({ name, status: response.statusCode }).toEqual({ name, status: 400 });
      }
    });

    /** Bodies of every kind: hostile JSON, hostile keys, deep nesting, oversize, not UTF-8, not JSON at all. */
    const bodies: fc.Arbitrary<{ body: string; isBase64Encoded: boolean }> = fc.oneof(
      fc
        .tuple(
          fc.oneof(anyString(30), fc.constantFrom('user-1', ' ', '', 's'.repeat(257))),
          fc.option(fc.array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 5 }), { nil: undefined }),
          fc.option(fc.oneof(fc.integer({ min: -5, max: 90_000 }), fc.constantFrom<unknown>(1.5, '60', null, Number('1e309'))), { nil: undefined }),
          fc.array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 2 }),
          fc.option(fc.oneof(fc.boolean(), fc.constantFrom<unknown>('true', 1, null)), { nil: undefined }),
          fc.option(
            fc.oneof(
              fc.record(
                {
                  device: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), anyString(20), fc.constantFrom<unknown>('x'.repeat(129), 'a\nb', 42)),
                  ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom<unknown>('203.0.113.256', 'localhost', '', 4)),
                },
                { requiredKeys: [] },
              ),
              hostileJsonText.map((text) => JSON.parse(text) as unknown),
            ),
            { nil: undefined },
          ),
        )
        .map(([sub, claims, ttl, extra, refresh, session]) => {
          const pairs = [`"sub":${JSON.stringify(sub)}`];
          if (claims !== undefined) pairs.push(`"claims":{${claims.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`);
          if (ttl !== undefined) pairs.push(`"ttl":${JSON.stringify(ttl) ?? 'null'}`);
          if (refresh !== undefined) pairs.push(`"refresh":${JSON.stringify(refresh)}`);
          if (session !== undefined) pairs.push(`"session":${JSON.stringify(session)}`);
          for (const [key, value] of extra) pairs.push(`${JSON.stringify(key)}:${value}`);
          return { body: `{${pairs.join(',')}}`, isBase64Encoded: false };
        }),
      // Valid sessions with metadata and a refresh token or not: the 201 branch needs them too.
      {
        weight: 3,
        arbitrary: fc
          .record(
            {
              sub: fc.string({ minLength: 1, maxLength: 20 }).filter((sub) => sub.trim() !== ''),
              refresh: fc.boolean(),
              session: fc.record({ device: fc.string({ minLength: 1, maxLength: 30 }), ip: fc.oneof(fc.ipV4(), fc.ipV6()) }, { requiredKeys: [] }),
            },
            { requiredKeys: ['sub'] },
          )
          .map((body) => ({ body: JSON.stringify(body), isBase64Encoded: false })),
      },
      hostileJsonText.map((body) => ({ body, isBase64Encoded: false })),
      anyString(100).map((body) => ({ body, isBase64Encoded: false })),
      // Nesting up to 1,000 deep (deeper: see the failing test in validation.property.test.ts).
      fc
        .tuple(fc.integer({ min: 1, max: 1000 }), fc.constantFrom<'array' | 'object'>('array', 'object'), fc.constantFrom('claims', 'sub', 'ttl', 'x'))
        .map(([depth, kind, field]) => ({
          body: `{"sub":"deep",${JSON.stringify(field)}:${field === 'claims' ? `{"d":${nested(depth, kind)}}` : nested(depth, kind)}}`,
          isBase64Encoded: false,
        })),
      fc
        .integer({ min: 16_000, max: 40_000 })
        .map((size) => ({ body: JSON.stringify({ sub: 'big', claims: { pad: 'x'.repeat(size) } }), isBase64Encoded: false })),
      fc
        .integer({ min: 4_000, max: 5_000 })
        .map((size) => ({ body: JSON.stringify({ sub: 'claims-near-limit', claims: { pad: 'x'.repeat(size) } }), isBase64Encoded: false })),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ body: Buffer.from(bytes).toString('base64'), isBase64Encoded: true })),
      fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) => ({
        body: Buffer.concat([
          Buffer.from('{"sub":"bytes-'),
          Buffer.from(bytes.filter((byte) => byte >= 0x20 && byte !== 0x22 && byte !== 0x5c)),
          Buffer.from([0xff, 0xc3]),
          Buffer.from('","claims":{"k":"\xc0"}}', 'latin1'),
        ]).toString('base64'),
        isBase64Encoded: true,
      })),
    );

    it('answers 201 or 400 to any body, never 500; a 400 writes nothing, a 201 is a token for exactly what was asked', async () => {
      const admin = await server.admin();
      let [withDevice, withRefresh] = [0, 0];
      await fc.assert(
        fc.asyncProperty(bodies, async ({ body, isBase64Encoded }) => {
          const before = prototypeKeys();
          // Names, not a count: keys of earlier cases (a ttl of 1 s) may expire meanwhile.
          const keysBefore = new Set(await admin.keys('*'));
          const response = await main.sign(proxyEvent({ method: 'POST', path: '/auth/token', body, isBase64Encoded }));
          expect(prototypeKeys()).toEqual(before);
          expect([201, 400]).toContain(response.statusCode);
          if (response.statusCode === 400) {
            expect(JSON.parse(response.body)).toMatchObject({ error: 'BAD_REQUEST' });
            expect((await admin.keys('*')).filter((key) => !keysBefore.has(key))).toEqual([]);
            return;
          }
          const { token, jti, sid, refreshToken } = JSON.parse(response.body) as { token: string; jti: string; sid: string; refreshToken?: string };
          const asked = JSON.parse(isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body) as {
            sub: string;
            claims?: Record<string, unknown>;
            refresh?: boolean;
            session?: { device?: string; ip?: string };
          };
          // A refresh token exactly when asked for with true; the metadata stored exactly as given.
          expect({ refreshToken: typeof refreshToken }).toEqual({ refreshToken: asked.refresh === true ? 'string' : 'undefined' });
          const stored = await admin.hmGet(recordKey(sid), ['device', 'ip']);
          expect(stored).toEqual([asked.session?.device ?? null, asked.session?.ip ?? null]);
          if (asked.session?.device !== undefined) withDevice += 1;
          if (refreshToken !== undefined) withRefresh += 1;
          const decision = await decide(`Bearer ${token}`);
          expect(decision.outcome).toBe('allow');
          const result = (decision as { result: APIGatewayAuthorizerResult }).result;
          expect(result.principalId).toBe(asked.sub);
          expect(result.context?.jti).toBe(jti);
          expect(result.context?.customClaims).toBe(JSON.stringify(asked.claims ?? {}));
          expect(await admin.exists(labelKey(jti))).toBe(1);
        }),
        runs(500),
      );
      // Sessions with metadata and with refresh tokens were made and checked, not only refusals.
      expect({ withDevice: withDevice > 20, withRefresh: withRefresh > 20 }).toEqual({ withDevice: true, withRefresh: true });
    });
  });

  /**
   * What a request may not change, read in one call: a hash of every key with its value and expiry, but for keys
   * about to expire, which Redis may delete by itself meanwhile (no write of ours): of those, only the names.
   */
  const STATE_SCRIPT = `
    -- A hash's fields sorted: its order (and DUMP's) may change as Redis rehashes it, with no write at all.
    local function value_of(key)
      local kind = redis.call('TYPE', key).ok
      if kind == 'string' then return redis.call('GET', key) end
      if kind == 'zset' then return table.concat(redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'), '\\1') end
      if kind ~= 'hash' then return redis.call('DUMP', key) end
      local flat, fields = redis.call('HGETALL', key), {}
      for i = 1, #flat, 2 do fields[#fields + 1] = flat[i] .. '\\1' .. flat[i + 1] end
      table.sort(fields)
      return table.concat(fields, '\\2')
    end
    local lasting, fleeting = {}, {}
    local keys = redis.call('KEYS', '*')
    table.sort(keys)
    for _, key in ipairs(keys) do
      local ttl = redis.call('PTTL', key)
      if ttl == -1 or ttl > 60000 then
        lasting[#lasting + 1] = key .. '\\0' .. value_of(key) .. '\\0' .. redis.call('PEXPIRETIME', key)
      elseif ttl > 0 then
        fleeting[#fleeting + 1] = key
      end
    end
    return { redis.sha1hex(table.concat(lasting, '\\0')), unpack(fleeting) }`;
  type State = { lasting: string; fleeting: string[] };
  const state = async (): Promise<State> => {
    const [lasting, ...fleeting] = await (await server.admin()).sendCommand<string[]>(['EVAL', STATE_SCRIPT, '0']);
    return { lasting: lasting as string, fleeting };
  };
  /** Nothing written: the same lasting keys and values, and no new key among those about to expire. */
  const expectUnchanged = async (before: State) => {
    const after = await state();
    expect({ lasting: after.lasting, created: after.fleeting.filter((key) => !before.fleeting.includes(key)) }).toEqual({
      lasting: before.lasting,
      created: [],
    });
  };

  describe('refresh', () => {
    const REFRESH_TOKEN = /^([A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]{43}$/;
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

    it('answers 200, 400 or 401 to any body, never 500; a 400 or 401 changes nothing but a used token of a live session, which ends it', async () => {
      // A grace window longer than the run: a retry with the token just rotated is answered the same, deterministically.
      const refresher = coldStart({
        REDIS_URL: server.url,
        JWT_KEYS: ring('current'),
        REDIS_TIMEOUT_MS: '5000',
        LOG_LEVEL: 'silent',
        REFRESH_REUSE_GRACE: '300',
      });
      interface Live {
        sid: string;
        token: string;
        current: string;
        /** The refresh token last rotated, and what its rotation answered: a retry gets the same. */
        previous?: { refreshToken: string; answer: string };
      }
      let signed = 0;
      const newSession = async (): Promise<Live> => {
        signed += 1;
        const response = await refresher.sign(
          proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: `refresher-${signed % 3}`, refresh: true }) }),
        );
        const { sid, token, refreshToken } = JSON.parse(response.body) as { sid: string; token: string; refreshToken: string };
        return { sid, token, current: refreshToken };
      };
      const pool: Live[] = [];
      for (let i = 0; i < 4; i += 1) pool.push(await newSession());
      /** Refresh tokens of sessions that ended: refused, and they change nothing. */
      const dead: string[] = [];

      const field = (length: number) => fc.string({ unit: fc.constantFrom(...ALPHABET.split('')), minLength: length, maxLength: length });
      type Edit = ['replace' | 'insert', number, string] | ['delete', number] | ['field', number, string];
      const edit: fc.Arbitrary<Edit> = fc.oneof(
        fc.tuple(fc.constant('replace' as const), fc.nat(), fc.constantFrom(...ALPHABET.split(''), '.', '=', '+', '/', ' ', '\u0000', 'é')),
        fc.tuple(fc.constant('delete' as const), fc.nat()),
        fc.tuple(fc.constant('insert' as const), fc.nat(), fc.constantFrom('A', '-', '.', ' ')),
        // A whole field made up anew: the tag, the session, the family or the secret.
        fc.integer({ min: 0, max: 3 }).chain((at) => fc.tuple(fc.constant('field' as const), fc.constant(at), field(at === 3 ? 43 : 22))),
      );
      type Presented =
        | { from: 'current' | 'previous' | 'dead'; pick: number; edits: Edit[] }
        | { text: string }
        | { forged: number; tag?: string; family?: string; secret: string };
      /** Which token a body carries: a pool session's current or previous one, a dead one, edited or not; any text; made up. */
      const presented: fc.Arbitrary<Presented> = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            from: fc.constantFrom('current' as const, 'previous' as const, 'dead' as const),
            pick: fc.nat(),
            // As issued half the time: a rotation, a retry, a refusal; else edited.
            edits: fc.oneof(fc.constant<Edit[]>([]), fc.array(edit, { minLength: 1, maxLength: 2 })),
          }),
        },
        anyString(130).map((text) => ({ text })),
        // Well-formed, naming a live session: with a family it never had, or under another tag, or with its own family
        // and a secret it never issued (which only a holder of one of its refresh tokens can make). Each part is its
        // own half the time, so that the last case, reuse, comes up often enough to be tested every run.
        fc.record(
          {
            forged: fc.nat(),
            tag: fc.option(field(22), { nil: undefined, freq: 1 }),
            family: fc.option(field(22), { nil: undefined, freq: 1 }),
            secret: field(43),
          },
          { requiredKeys: ['forged', 'secret'] },
        ),
      );
      const wrapping = fc.oneof(
        { weight: 6, arbitrary: fc.constant('json' as const) },
        { weight: 1, arbitrary: fc.constantFrom('extra field' as const, 'array' as const, 'string' as const, 'twice' as const, 'base64' as const) },
      );

      function tokenOf(choice: Presented): string {
        if ('text' in choice) return choice.text;
        if ('forged' in choice) {
          const [tag, session, family] = (pool[choice.forged % pool.length] as Live).current.split('.') as [string, string, string];
          return [choice.tag ?? tag, session, choice.family ?? family, choice.secret].join('.');
        }
        const live = pool[choice.pick % pool.length] as Live;
        let token = {
          current: live.current,
          previous: live.previous?.refreshToken ?? live.current,
          dead: dead[choice.pick % Math.max(1, dead.length)] ?? live.current,
        }[choice.from];
        for (const [kind, at, text] of choice.edits) {
          const position = at % (token.length + 1);
          if (kind === 'replace') token = `${token.slice(0, position)}${text}${token.slice(position + 1)}`;
          else if (kind === 'delete') token = `${token.slice(0, position)}${token.slice(position + 1)}`;
          else if (kind === 'insert') token = `${token.slice(0, position)}${text}${token.slice(position)}`;
          else {
            const fields = token.split('.');
            if (fields[at] !== undefined) fields[at] = text;
            token = fields.join('.');
          }
        }
        return token;
      }

      const seen = { rotated: 0, replayed: 0, reused: 0, refused: 0, rejected: 0 };
      await fc.assert(
        fc.asyncProperty(presented, wrapping, async (choice, wrap) => {
          const refreshToken = tokenOf(choice);
          const body = {
            json: JSON.stringify({ refreshToken }),
            'extra field': JSON.stringify({ refreshToken, sub: 'refresher-0' }),
            array: JSON.stringify([refreshToken]),
            string: JSON.stringify(refreshToken),
            twice: `{"refreshToken":"x","refreshToken":${JSON.stringify(refreshToken)}}`,
            base64: Buffer.from(JSON.stringify({ refreshToken })).toString('base64'),
          }[wrap];
          const before = await state();
          const prototypeBefore = prototypeKeys();
          const response = await refresher.refresh(proxyEvent({ method: 'POST', path: '/auth/refresh', body, isBase64Encoded: wrap === 'base64' }));
          expect(prototypeKeys()).toEqual(prototypeBefore);
          const answer = JSON.parse(response.body) as Record<string, unknown>;
          // The oracle: a 400 unless the body is { refreshToken: <non-empty string> }; then the token decides.
          if (!(wrap === 'json' || wrap === 'base64') || refreshToken === '') {
            seen.rejected += 1;
            expect({ status: response.statusCode, error: answer.error }).toEqual({ status: 400, error: 'BAD_REQUEST' });
            await expectUnchanged(before);
            return;
          }
          const current = pool.findIndex((live) => live.current === refreshToken);
          const previous = pool.findIndex((live) => live.previous?.refreshToken === refreshToken);
          const family = REFRESH_TOKEN.exec(refreshToken)?.[1];
          const usedOf = pool.findIndex((live) => family !== undefined && live.current.startsWith(`${family}.`));
          if (current >= 0) {
            seen.rotated += 1;
            const live = pool[current] as Live;
            expect({ status: response.statusCode, sid: answer.sid }).toEqual({ status: 200, sid: live.sid });
            live.previous = { refreshToken, answer: response.body };
            live.current = answer.refreshToken as string;
            live.token = answer.token as string;
            expect((await decide(`Bearer ${live.token}`)).outcome).toBe('allow');
          } else if (previous >= 0) {
            seen.replayed += 1;
            expect({ status: response.statusCode, body: response.body }).toEqual({ status: 200, body: pool[previous]?.previous?.answer });
            await expectUnchanged(before);
          } else if (usedOf >= 0) {
            // The family of a live session with a secret that is not its current one: a used token, theft.
            seen.reused += 1;
            const live = pool[usedOf] as Live;
            expect({ status: response.statusCode, answer }).toEqual({
              status: 401,
              answer: { error: 'REFRESH_TOKEN_INVALID', message: 'refresh token is not valid: sign in again' },
            });
            expect(await (await server.admin()).exists(recordKey(live.sid))).toBe(0);
            expect((await decide(`Bearer ${live.token}`)).outcome).toBe('deny');
            dead.push(live.current);
            pool[usedOf] = await newSession();
          } else {
            seen.refused += 1;
            expect({ status: response.statusCode, answer }).toEqual({
              status: 401,
              answer: { error: 'REFRESH_TOKEN_INVALID', message: 'refresh token is not valid: sign in again' },
            });
            await expectUnchanged(before);
          }
        }),
        runs(400),
      );
      await refresher.close();
      console.log(`refresh bodies: ${JSON.stringify(seen)}`);
      // Every branch of the oracle was put to the test.
      for (const [outcome, count] of Object.entries(seen)) expect({ outcome, tried: count > 5 }).toEqual({ outcome, tried: true });
    });
  });

  describe('logout', () => {
    it('answers 204 or 400 to no body or any body, never 500; a 400 changes nothing; a 204 ends exactly the scope named (local by default)', async () => {
      let subjects = 0;
      const scopes = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom<unknown>('local', 'others', 'global') },
        { weight: 1, arbitrary: fc.oneof(anyString(10), fc.constantFrom<unknown>('LOCAL', ' global', 'all', '', null, 1, ['local'], {})) },
      );
      const bodies = fc.oneof(
        fc.constantFrom<string | undefined>(undefined, '', '{}', ' {} ', '{"scope":"others"}\n'),
        { weight: 3, arbitrary: scopes.map((scope) => JSON.stringify({ scope })) },
        fc
          .tuple(scopes, hostileKey, hostileJsonText)
          .map(([scope, key, value]) => `{"scope":${JSON.stringify(scope) ?? 'null'},${JSON.stringify(key)}:${value}}`),
        hostileJsonText,
        anyString(40),
      );
      /** What the body asks for, read as the routes promise to (undefined: no body), or undefined for a 400. */
      const scopeOf = (body: string | undefined): string | undefined => {
        if (body === undefined || body === '') return 'local';
        let value: unknown;
        try {
          value = JSON.parse(body);
        } catch {
          return undefined;
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).some((key) => key !== 'scope')) return undefined;
        const { scope = 'local' } = value as { scope?: unknown };
        return typeof scope === 'string' && ['local', 'others', 'global'].includes(scope) ? scope : undefined;
      };
      const seen: Record<string, number> = {};
      await fc.assert(
        fc.asyncProperty(bodies, async (body) => {
          subjects += 1;
          const sub = `logout-${subjects}`;
          const [caller, other] = [await signWith(main, sub, {}, 600), await signWith(main, sub, {}, 600)];
          const context = (await main.authorizer(tokenAuthorizerEvent(`Bearer ${caller.token}`))).context as Record<string, unknown>;
          const before = await state();
          const response = await main.logout(proxyEvent({ method: 'POST', path: '/auth/logout', authorizer: context, body: body ?? null }));
          const scope = scopeOf(body);
          seen[scope ?? 'refused'] = (seen[scope ?? 'refused'] ?? 0) + 1;
          const fates = [(await decide(`Bearer ${caller.token}`)).outcome, (await decide(`Bearer ${other.token}`)).outcome];
          if (scope === undefined) {
            expect({ body, status: response.statusCode }).toEqual({ body, status: 400 });
            expect(JSON.parse(response.body)).toMatchObject({ error: 'BAD_REQUEST' });
            await expectUnchanged(before);
            expect(fates).toEqual(['allow', 'allow']);
            return;
          }
          expect({ body, status: response.statusCode }).toEqual({ body, status: 204 });
          const expected = { local: ['deny', 'allow'], others: ['allow', 'deny'], global: ['deny', 'deny'] }[scope];
          expect({ body, scope, fates }).toEqual({ body, scope, fates: expected });
        }),
        runs(250),
      );
      for (const outcome of ['local', 'others', 'global', 'refused']) expect({ outcome, tried: (seen[outcome] ?? 0) > 10 }).toEqual({ outcome, tried: true });
    });
  });

  describe('introspect', () => {
    it('answers 200 or 400 to any body, never 500; active only for a live token we issued, with exactly its identity', async () => {
      // Built here, not at load: the tokens are issued in beforeAll.
      /** Bodies of every kind, as JSON or as form fields: a real token (live or not), any text, hostile keys and values. */
      const tokenText = fc.oneof(fc.constantFrom(...issued.map((entry) => entry.token)), anyString(60), fc.constant(''));
      const bodies = fc.oneof(
        fc.tuple(tokenText, fc.option(anyString(20), { nil: undefined })).map(([token, hint]) => ({
          body: JSON.stringify(hint === undefined ? { token } : { token, token_type_hint: hint }),
          contentType: 'application/json',
        })),
        fc.tuple(tokenText, fc.array(fc.tuple(hostileKey, anyString(20)), { maxLength: 3 })).map(([token, extra]) => ({
          body: new URLSearchParams([['token', token], ...extra]).toString(),
          contentType: 'application/x-www-form-urlencoded',
        })),
        fc
          .tuple(hostileJsonText, fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'))
          .map(([body, contentType]) => ({ body, contentType })),
        anyString(100).map((body) => ({ body, contentType: 'application/x-www-form-urlencoded' })),
      );
      const admin = await server.admin();
      await fc.assert(
        fc.asyncProperty(bodies, async ({ body, contentType }) => {
          const before = prototypeKeys();
          // Names, not a count: keys of earlier tests may expire meanwhile.
          const keysBefore = new Set(await admin.keys('*'));
          const event = { ...proxyEvent({ method: 'POST', path: '/auth/introspect', body }), headers: { 'Content-Type': contentType } };
          const response = await main.introspect(event);
          expect(prototypeKeys()).toEqual(before);
          expect((await admin.keys('*')).filter((key) => !keysBefore.has(key))).toEqual([]);
          expect([200, 400]).toContain(response.statusCode);
          const answer = JSON.parse(response.body) as { active?: boolean; sub?: string; jti?: string; error?: string };
          if (response.statusCode === 400) {
            expect(answer).toMatchObject({ error: 'BAD_REQUEST' });
            return;
          }
          if (answer.active !== true) {
            expect(answer).toEqual({ active: false });
            return;
          }
          const entry = issued.find((candidate) => candidate.jti === answer.jti);
          expect({ live: entry?.live, sub: answer.sub }).toEqual({ live: true, sub: entry?.sub });
          // The body held that very token (base64url and dots need no escaping in a form or in JSON).
          expect(body).toContain((entry as Issued).token);
        }),
        runs(400),
      );
    });
  });

  test('answers 401, not 500, to a token whose header says typ JWT and whose payload is not JSON', async () => {
    const token = `${encodeSegment({ alg: 'HS256', typ: 'JWT', kid: KEYS.current.kid })}.${b64url('not json')}.${b64url('x')}`;
    expect(await decide(`Bearer ${token}`)).toEqual({ outcome: 'deny' });
  });

  // A lone surrogate becomes U+FFFD in UTF-8: "mallory\ud800" would share "mallory\ufffd"'s session index,
  // and its logout-all would end the other's sessions. Such a subject is refused at sign.
  test("a subject that would share another subject's session index is refused at sign", async () => {
    const victim = await signWith(main, 'mallory\ufffd', {}, 600);
    const response = await main.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: JSON.stringify({ sub: 'mallory\ud800', ttl: 600 }) }));
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ message: expect.stringMatching(/well-formed Unicode/) });
    expect((await decide(`Bearer ${victim.token}`)).outcome).toBe('allow');
  });
});
