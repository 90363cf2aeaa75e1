// POST /auth/refresh through the real handlers against a real redis-server: rotation, the grace window, reuse
// detection that ends the whole session (its access tokens too, seen from another container), racing refreshes,
// refusals that change nothing, the idle and absolute lifetimes, and logs that never hold a refresh token.
import { expect } from '@jest/globals';
import type { Env } from '../../shared/config';
import { hashSecret, REFRESH_TOKEN_LENGTH } from '../../shared/sessions/refresh-token';
import { indexKey, labelKey, RECORD_PREFIX, recordKey, subjectTag, tagOf } from '../../shared/sessions/keys';
import { MAX_CLOCK_SKEW_SECONDS, MAX_TOKENS_PER_SESSION } from '../../shared/sessions/lua';
import type { ServiceOverrides } from '../../shared/services';
import { useContainers, useLogLines, useRedisServer } from '../../testkit/fixtures';
import { claimsOf, keyspace, manualClock, REFRESH_REFUSED, SessionClient, sleep, type Pair, type Signed } from '../../testkit/session-client';

jest.setTimeout(60_000);

const SECRET = 'refresh-test-secret-0123456789abcdefghijk';
const ISSUER = 'revocable-jwt';
const AUDIENCE = 'revocable-jwt-api';
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;
const CLAIMS = { role: 'admin', team: { name: 'Zoë', ids: [1, 2] } };

/** The four fields of a refresh token: subject tag, session, family secret, secret. */
const fieldsOf = (refreshToken: string) => refreshToken.split('.') as [string, string, string, string];
const randomField = (length: number) =>
  Buffer.from(Array.from({ length }, () => Math.floor(Math.random() * 256)))
    .toString('base64url')
    .slice(0, length);

describe('POST /auth/refresh (real redis-server)', () => {
  const server = useRedisServer({ flushEachTest: true });
  const containers = useContainers('test');
  const logLines = useLogLines();

  /** A new container (cold start) on the suite's server; `env` adds to its environment. */
  const client = (env: Env = {}, overrides?: ServiceOverrides) => {
    const container = containers({ REDIS_URL: server().url, JWT_SECRET: SECRET, LOG_LEVEL: 'info', REDIS_TIMEOUT_MS: '2000', ...env }, overrides);
    return new SessionClient(() => container);
  };
  const state = () => keyspace([server()]);
  const keyNames = async () => (await (await server().admin()).keys('*')).sort();
  const labelCount = async () => (await keyNames()).filter((key) => key.startsWith('jwt_label:')).length;
  const tokensListed = async (sid: string) => ((await (await server().admin()).hGet(recordKey(sid), 'tokens')) ?? '').trim().split(/ +/).length / 2;
  const loggedAs = (message: string) =>
    logLines()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.message === message);

  /** Every key naming the session is gone and its subject's index no longer lists it. */
  async function expectSessionGone(sid: string): Promise<void> {
    expect((await keyNames()).filter((key) => key.includes(sid))).toEqual([]);
    expect(await (await server().admin()).zRange(indexKey(tagOf(sid) as string), 0, -1)).not.toContain(sid);
  }

  it('rotates a chain of 100: each pair new and allowed with the same session, subject and claims; each refresh token used once', async () => {
    const api = client();
    const elsewhere = client();
    const signed = await api.signIn('alice', { claims: CLAIMS, ttl: 600 });
    expect(Object.keys(signed).sort()).toEqual(['expiresIn', 'jti', 'refreshExpiresIn', 'refreshToken', 'sid', 'token', 'tokenType']);
    const chain: Signed[] = [signed];
    for (let i = 1; i <= 100; i += 1) {
      const previous = chain[i - 1] as Signed;
      const pair = await api.rotate(previous.refreshToken);
      expect(pair).toEqual({
        token: expect.any(String),
        tokenType: 'Bearer',
        expiresIn: 600,
        jti: expect.any(String),
        sid: signed.sid,
        refreshToken: expect.stringMatching(REFRESH_TOKEN),
        refreshExpiresIn: 604_800,
      });
      // The session and its family stay; the secret is new at each rotation.
      expect(fieldsOf(pair.refreshToken).slice(0, 3)).toEqual(fieldsOf(signed.refreshToken).slice(0, 3));
      // The new access token is allowed at once, by another container too, for the same identity and claims.
      const context = await elsewhere.context(pair.token);
      expect(context).toMatchObject({ sub: 'alice', jti: pair.jti, sid: signed.sid, customClaims: JSON.stringify(CLAIMS) });
      const claims = claimsOf(pair.token);
      expect(claims).toEqual({
        ...CLAIMS,
        sid: signed.sid,
        jti: pair.jti,
        iat: expect.any(Number),
        exp: expect.any(Number),
        aud: AUDIENCE,
        iss: ISSUER,
        sub: 'alice',
      });
      expect((claims.exp as number) - (claims.iat as number)).toBe(600);
      // The refresh token just used gives nothing new: within the grace window, the same pair again.
      expect(await api.refresh(previous.refreshToken)).toMatchObject({ status: 200, body: pair });
      chain.push(pair);
    }
    expect(new Set(chain.map((pair) => pair.refreshToken)).size).toBe(101);
    expect(new Set(chain.map((pair) => pair.jti)).size).toBe(101);
    expect(chain.every(({ refreshToken }) => refreshToken.length === REFRESH_TOKEN_LENGTH)).toBe(true);
    expect(loggedAs('refresh').map((line) => line.outcome)).toEqual(Array.from({ length: 100 }, () => ['rotated', 'replayed']).flat());
    // A session keeps its newest access tokens alive, MAX_TOKENS_PER_SESSION of them: each rotation past that
    // ends the oldest, so ending the session stays bounded.
    const decisions = await Promise.all(chain.map((pair) => elsewhere.decide(pair.token)));
    expect(decisions).toEqual(chain.map((_, i) => (i >= chain.length - MAX_TOKENS_PER_SESSION ? 'allow' : 'deny')));
    expect(await labelCount()).toBe(MAX_TOKENS_PER_SESSION);
    expect(await tokensListed(signed.sid)).toBe(MAX_TOKENS_PER_SESSION);
    // GET /me (HTTP API) sees the session.
    expect((await api.me((chain[100] as Signed).token)).body).toMatchObject({ sub: 'alice', sid: signed.sid, claims: CLAIMS });
  });

  it('ends the whole session when a used refresh token comes back after the grace window: its access tokens and refresh token are refused on the next request, from another container too', async () => {
    const api = client({ REFRESH_REUSE_GRACE: '1' });
    const elsewhere = client();
    const signed = await api.signIn('alice');
    const first = await api.rotate(signed.refreshToken);
    const second = await api.rotate(first.refreshToken);
    const otherSession = await api.signIn('alice');
    const bobs = await api.signIn('bob');
    const accessTokens = [signed.token, first.token, second.token];
    // Live, and seen so by the other container before: its connection is warm and it keeps nothing.
    for (const token of accessTokens) expect(await elsewhere.decide(token)).toBe('allow');
    await sleep(1100);

    // The thief (or the victim) presents a used refresh token.
    const reuse = await api.refresh(first.refreshToken);
    expect(reuse).toEqual({ status: 401, body: REFRESH_REFUSED, headers: expect.objectContaining({ 'WWW-Authenticate': 'Bearer' }) });

    for (const token of accessTokens) {
      expect(await elsewhere.decide(token)).toBe('deny');
      expect(await elsewhere.httpDecide(token)).toBe('deny');
      expect(await api.decide(token)).toBe('deny');
    }
    expect((await elsewhere.refresh(second.refreshToken)).body).toEqual(REFRESH_REFUSED);
    expect((await api.refresh(signed.refreshToken)).body).toEqual(REFRESH_REFUSED);
    await expectSessionGone(signed.sid);
    // Only that session: the subject's other one and another subject's live on.
    expect(await elsewhere.decide(otherSession.token)).toBe('allow');
    expect(await elsewhere.decide(bobs.token)).toBe('allow');
    await expect(elsewhere.rotate(otherSession.refreshToken)).resolves.toMatchObject({ sid: otherSession.sid });
    // The log says why, and for which session.
    expect(loggedAs('refresh')).toContainEqual(expect.objectContaining({ outcome: 'refused', reason: 'reused', sid: signed.sid, sub: 'alice', status: 401 }));
  });

  it('ends every access token of a session rotated by a container whose clock runs ahead, within MAX_CLOCK_SKEW_SECONDS', async () => {
    const api = client({ TOKEN_TTL: '3' });
    const ahead = client({ TOKEN_TTL: '3' }, { now: () => Date.now() + (MAX_CLOCK_SKEW_SECONDS - 1) * 1000 });
    const signed = await api.signIn('alice');
    // To its clock the first access token has expired; to Redis and to every other container it has not.
    const pair = await ahead.rotate(signed.refreshToken);
    expect(await api.decide(signed.token)).toBe('allow');
    expect((await api.logout(pair.token)).status).toBe(204);
    for (const token of [signed.token, pair.token]) expect(await api.decide(token)).toBe('deny');
  });

  it('answers a retry within the grace window with the same pair, on either API, and goes on from it; the token before is reuse', async () => {
    const api = client();
    const signed = await api.signIn('alice', { claims: CLAIMS });
    const pair = await api.rotate(signed.refreshToken);
    const labels = await labelCount();
    for (const api_ of ['rest', 'http', 'rest'] as const) {
      const retry = await api.refresh(signed.refreshToken, api_);
      // The same strings: the same access token and the same refresh token.
      expect({ status: retry.status, token: retry.body.token, refreshToken: retry.body.refreshToken }).toEqual({
        status: 200,
        token: pair.token,
        refreshToken: pair.refreshToken,
      });
      expect(retry.body).toEqual(pair);
    }
    // A retry adds no access token.
    expect(await labelCount()).toBe(labels);
    expect(await tokensListed(signed.sid)).toBe(2);
    expect(await api.decide(pair.token)).toBe('allow');
    expect(loggedAs('refresh').map((line) => line.outcome)).toEqual(['rotated', 'replayed', 'replayed', 'replayed']);

    // The chain goes on from that pair...
    const next = await api.rotate(pair.refreshToken);
    expect(next.refreshToken).not.toBe(pair.refreshToken);
    expect(await api.decide(next.token)).toBe('allow');
    // ...and the first refresh token, two rotations back, is a used one even within the grace window.
    expect((await api.refresh(signed.refreshToken)).body).toEqual(REFRESH_REFUSED);
    for (const token of [signed.token, pair.token, next.token]) expect(await api.decide(token)).toBe('deny');
    expect((await api.refresh(next.refreshToken)).body).toEqual(REFRESH_REFUSED);
  });

  it('gives racing refreshes of one token, from two containers, one pair: the same refresh token to every one, one chain', async () => {
    const one = client();
    const two = client();
    const signed = await one.signIn('alice');
    let current: Signed = signed;
    const issued: string[] = [signed.token];
    for (let round = 1; round <= 5; round += 1) {
      logLines().splice(0);
      const presented = current.refreshToken;
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).refresh(presented)));
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 20 }, () => 200));
      expect(new Set(answers.map((answer) => answer.body.refreshToken)).size).toBe(1);
      expect(new Set(answers.map((answer) => answer.body.token)).size).toBe(1);
      // One rotation, the rest retries of it: one access token more.
      expect(
        loggedAs('refresh')
          .map((line) => line.outcome)
          .sort(),
      ).toEqual(['rotated', ...Array.from({ length: 19 }, () => 'replayed')].sort());
      current = answers[0]?.body as unknown as Pair;
      issued.push(current.token);
      expect(await tokensListed(signed.sid)).toBe(round + 1);
    }
    // The one chain continues, and every access token of it is live.
    await expect(two.rotate(current.refreshToken)).resolves.toMatchObject({ sid: signed.sid });
    for (const token of issued) expect(await one.decide(token)).toBe('allow');
  });

  it('never leaves two live chains when refreshes race with no grace window: one pair, or the session ended', async () => {
    const one = client({ REFRESH_REUSE_GRACE: '0' });
    const two = client({ REFRESH_REUSE_GRACE: '0' });
    for (let round = 0; round < 5; round += 1) {
      const signed = await one.signIn(`racer-${round}`);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).refresh(signed.refreshToken)));
      const pairs = answers.filter((answer) => answer.status === 200).map((answer) => answer.body as unknown as Pair);
      expect(answers.filter((answer) => answer.status !== 200).map((answer) => answer.body)).toEqual(
        Array.from({ length: 20 - pairs.length }, () => REFRESH_REFUSED),
      );
      expect(pairs.length).toBeGreaterThan(0);
      expect(new Set(pairs.map((pair) => pair.refreshToken)).size).toBe(1);
      const [pair] = pairs as [Pair];
      // A presented used token after the rotation is reuse: then nothing of the session lives on.
      const ended = pairs.length < 20;
      expect({ ended, decision: await one.decide(pair.token) }).toEqual({ ended, decision: ended ? 'deny' : 'allow' });
      expect({ ended, status: (await two.refresh(pair.refreshToken)).status }).toEqual({ ended, status: ended ? 401 : 200 });
    }
  });

  it('answers any wrong, unknown or malformed refresh token with the one 401, and changes nothing in Redis', async () => {
    const api = client();
    const signed = await api.signIn('alice');
    const pair = await api.rotate(signed.refreshToken);
    const withoutRefresh = (await api.sign({ sub: 'alice' })).body as { sid: string; token: string };
    await api.signIn('bob');
    const [tag, session, family, secret] = fieldsOf(pair.refreshToken);
    const aliceTag = subjectTag('alice');
    expect(tag).toBe(aliceTag);
    // What each is, and the reason the log gives (the answer gives none).
    const cases: Array<[string, string, 'malformed' | 'unknown']> = [
      ['one character', 'x', 'malformed'],
      ['one character short', pair.refreshToken.slice(1), 'malformed'],
      ['one character long', `${pair.refreshToken}A`, 'malformed'],
      ['padded with a space', ` ${pair.refreshToken}`, 'malformed'],
      ['ending in a newline', `${pair.refreshToken}\n`, 'malformed'],
      ['colons for dots', pair.refreshToken.replaceAll('.', ':'), 'malformed'],
      ['base64 for base64url', `${tag}.${session}.${family}.${secret.slice(0, -1)}+`, 'malformed'],
      ['an access token', pair.token, 'malformed'],
      ['three fields', `${tag}.${session}.${secret}`, 'malformed'],
      ['any well-formed token', [randomField(22), randomField(22), randomField(22), randomField(43)].join('.'), 'unknown'],
      ['another session of the subject', [aliceTag, randomField(22), family, secret].join('.'), 'unknown'],
      ["the session under bob's tag", [subjectTag('bob'), session, family, secret].join('.'), 'unknown'],
      ['a wrong family with the current secret', [tag, session, randomField(22), secret].join('.'), 'unknown'],
      ['a wrong family with the used secret', [tag, session, randomField(22), fieldsOf(signed.refreshToken)[3]].join('.'), 'unknown'],
      ['a session signed without a refresh token', [aliceTag, withoutRefresh.sid.slice(24), family, secret].join('.'), 'unknown'],
    ];
    const before = await state();
    for (const [name, refreshToken] of cases) {
      const answer = await api.refresh(refreshToken);
      expect({ name, status: answer.status, body: answer.body }).toEqual({ name, status: 401, body: REFRESH_REFUSED });
    }
    expect(await state()).toEqual(before);
    // Nothing was used up or ended: the session goes on, and its tokens are live.
    expect(await api.decide(pair.token)).toBe('allow');
    expect(await api.decide(withoutRefresh.token)).toBe('allow');
    await expect(api.rotate(pair.refreshToken)).resolves.toMatchObject({ sid: signed.sid });
    expect(
      loggedAs('refresh')
        .filter((line) => line.outcome === 'refused')
        .map((line) => line.reason),
    ).toEqual(cases.map(([, , reason]) => reason));
  });

  it('ends the session for its family secret with a secret it never issued: only a holder of one of its refresh tokens knows the family', async () => {
    const api = client();
    const signed = await api.signIn('alice');
    const pair = await api.rotate(signed.refreshToken);
    const [tag, session, family] = fieldsOf(pair.refreshToken);
    expect((await api.refresh([tag, session, family, randomField(43)].join('.'))).body).toEqual(REFRESH_REFUSED);
    expect(await api.decide(pair.token)).toBe('deny');
    expect((await api.refresh(pair.refreshToken)).body).toEqual(REFRESH_REFUSED);
    await expectSessionGone(signed.sid);
  });

  describe('a refresh token of a session that was ended is refused', () => {
    /** Ends `ended`'s session (and maybe `other`'s); resolves the status it was answered with. */
    type Ending = (api: SessionClient, ended: Signed, other: Signed) => Promise<number>;
    const status = async (answer: Promise<{ status: number }>) => (await answer).status;
    const endings: Array<[string, Ending, number, boolean]> = [
      ['POST /auth/logout (local, by default)', (api, ended) => status(api.logout(ended.token)), 204, true],
      ['POST /auth/logout {scope: local}', (api, ended) => status(api.logout(ended.token, '{"scope":"local"}')), 204, true],
      ['POST /auth/logout {scope: others} from another session', (api, _, other) => status(api.logout(other.token, '{"scope":"others"}')), 204, true],
      ['POST /auth/logout {scope: global}', (api, _, other) => status(api.logout(other.token, '{"scope":"global"}')), 204, false],
      ['POST /auth/logout-all', (api, ended) => status(api.logoutAll(ended.token)), 204, false],
      ['DELETE /auth/sessions/{sid} from another session', (api, ended, other) => status(api.endSession(other.token, ended.sid)), 204, true],
      ['POST /auth/revoke {sid}', (api, ended) => status(api.revoke({ sid: ended.sid })), 200, true],
      ['POST /auth/revoke {sub}', (api) => status(api.revoke({ sub: 'alice' })), 200, false],
      ['the kill switch (revoke-all)', async (api) => ((await api.revokeAll()).revoked === 3 ? 200 : 500), 200, false],
    ];

    it.each(endings)('%s', async (_, end, expectedStatus, otherLives) => {
      const api = client();
      const elsewhere = client();
      const signed = await api.signIn('alice');
      const ended = { ...signed, ...(await api.rotate(signed.refreshToken)) };
      const other = await api.signIn('alice');
      expect(await end(api, ended, other)).toBe(expectedStatus);
      expect((await elsewhere.refresh(ended.refreshToken)).body).toEqual(REFRESH_REFUSED);
      expect((await elsewhere.refresh(signed.refreshToken)).body).toEqual(REFRESH_REFUSED);
      expect(await elsewhere.decide(ended.token)).toBe('deny');
      expect(await elsewhere.decide(signed.token)).toBe('deny');
      expect(await (await server().admin()).exists(recordKey(ended.sid))).toBe(0);
      expect({ otherLives: await elsewhere.decide(other.token) }).toEqual({ otherLives: otherLives ? 'allow' : 'deny' });
    });

    it('even when the index lost it: a subject-wide revocation ends every session made before it, refresh tokens included', async () => {
      const api = client();
      const signed = await api.signIn('alice');
      // The index is what a subject-wide revocation walks to delete records; the counter alone must end them.
      await (await server().admin()).del(indexKey(subjectTag('alice')));
      expect(await api.revoke({ sub: 'alice' })).toMatchObject({ status: 200, body: { revoked: 0 } });
      expect(await (await server().admin()).exists(recordKey(signed.sid))).toBe(1);
      expect((await api.refresh(signed.refreshToken)).body).toEqual(REFRESH_REFUSED);
      expect(await api.decide(signed.token)).toBe('deny');
      // A session made after it is not touched.
      const after = await api.signIn('alice');
      await expect(api.rotate(after.refreshToken)).resolves.toMatchObject({ sid: after.sid });
    });

    it('but not by POST /auth/revoke {jti}: that ends one access token, and the session goes on', async () => {
      const api = client();
      const signed = await api.signIn('alice');
      const pair = await api.rotate(signed.refreshToken);
      expect(await api.revoke({ jti: pair.jti })).toMatchObject({ status: 200, body: { revoked: 1 } });
      expect(await api.decide(pair.token)).toBe('deny');
      expect(await api.decide(signed.token)).toBe('allow');
      const next = await api.rotate(pair.refreshToken);
      expect(await api.decide(next.token)).toBe('allow');
    });
  });

  it('expires a refresh token left unused for REFRESH_IDLE_TTL; each rotation gives it that long again; an expired one changes nothing', async () => {
    const clock = manualClock();
    const api = client({ REFRESH_IDLE_TTL: '30', TOKEN_TTL: '20' }, { now: clock.now });
    const early = await api.signIn('alice');
    const late = await api.signIn('alice');
    expect(early.refreshExpiresIn).toBe(30);
    clock.advance(29);
    const earlyPair = await api.rotate(early.refreshToken);
    const latePair = await api.rotate(late.refreshToken);
    expect(earlyPair.refreshExpiresIn).toBe(30);
    clock.advance(29);
    // 29 s after its rotation: still usable.
    await expect(api.rotate(earlyPair.refreshToken)).resolves.toMatchObject({ sid: early.sid, refreshExpiresIn: 30 });
    clock.advance(1);
    // 30 s after: expired, though its record is still in Redis (it lives as long as the session's access tokens).
    expect(await (await server().admin()).exists(recordKey(late.sid))).toBe(1);
    const before = await state();
    expect(await api.refresh(latePair.refreshToken)).toMatchObject({ status: 401, body: REFRESH_REFUSED });
    expect(await state()).toEqual(before);
    expect(loggedAs('refresh').at(-1)).toMatchObject({ outcome: 'refused', reason: 'expired', sid: late.sid });
  });

  it('caps every access token and refresh token at the session end, SESSION_MAX_AGE after sign, refreshes included', async () => {
    const clock = manualClock();
    const api = client({ SESSION_MAX_AGE: '100', MAX_TTL: '60', TOKEN_TTL: '60', REFRESH_IDLE_TTL: '150' }, { now: clock.now });
    const signedAt = clock.seconds();
    const signed = await api.signIn('alice');
    // Without the cap the refresh token would last 150 s.
    expect(signed).toMatchObject({ expiresIn: 60, refreshExpiresIn: 100 });
    clock.advance(50);
    const capped = await api.rotate(signed.refreshToken);
    // Without the cap: 60 and 150 from now.
    expect(capped).toMatchObject({ expiresIn: 50, refreshExpiresIn: 50 });
    expect(claimsOf(capped.token).exp).toBe(signedAt + 100);
    // Its label too lives no longer than the session (a real 50 s: Redis keeps time by its own clock).
    expect(await (await server().admin()).pTTL(labelKey(capped.jti))).toBeLessThanOrEqual(50_000);
    clock.advance(49);
    const last = await api.rotate(capped.refreshToken);
    expect(last).toMatchObject({ expiresIn: 1, refreshExpiresIn: 1 });
    expect(claimsOf(last.token).exp).toBe(signedAt + 100);
    expect(((await api.sessions(last.token)).body.sessions as Array<{ expiresAt: number }>)[0]?.expiresAt).toBe(signedAt + 100);
    clock.advance(1);
    expect((await api.refresh(last.refreshToken)).body).toEqual(REFRESH_REFUSED);
    expect(await api.decide(last.token)).toBe('deny');
  });

  it.each([
    ['no body', null, /request body is required/],
    ['an empty body', '', /request body is required/],
    ['invalid JSON', '{"refreshToken":', /not valid JSON/],
    ['an array', '["TOKEN"]', /JSON object/],
    ['a bare string', '"TOKEN"', /JSON object/],
    ['null', 'null', /JSON object/],
    ['no refreshToken', '{}', /refreshToken is required/],
    ['an empty refreshToken', '{"refreshToken":""}', /refreshToken is required/],
    ['a number', '{"refreshToken":42}', /refreshToken is required/],
    ['an object', '{"refreshToken":{"token":"TOKEN"}}', /refreshToken is required/],
    ['an extra field', '{"refreshToken":"TOKEN","claims":{"role":"admin"}}', /unknown field\(s\): "claims"/],
    ['the field twice', '{"refreshToken":"x","refreshToken":"TOKEN"}', /gives the field "refreshToken" more than once/],
    ['a body over 16 KiB', `{"refreshToken":"TOKEN","pad":"${'x'.repeat(17_000)}"}`, /at most 16384 bytes/],
  ])('answers 400 to %s, and changes nothing: the refresh token in it is not used', async (_, body, message) => {
    const api = client();
    const signed = await api.signIn('alice');
    const before = await state();
    const answer = await api.refreshWith(body === null ? null : body.replaceAll('TOKEN', signed.refreshToken));
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'BAD_REQUEST', message: expect.stringMatching(message) });
    expect(await state()).toEqual(before);
    await api.rotate(signed.refreshToken);
    expect(loggedAs('refresh').at(-1)).toMatchObject({ outcome: 'rotated' });
  });

  it('answers with the CORS headers of the browser routes, refusals included', async () => {
    const api = client({ CORS_ORIGINS: 'https://app.example' });
    const signed = await api.signIn('alice');
    for (const [body, status] of [
      [JSON.stringify({ refreshToken: signed.refreshToken }), 200],
      [JSON.stringify({ refreshToken: 'x' }), 401],
      ['{}', 400],
    ] as const) {
      const answer = await api.refreshWith(body, 'rest', { Origin: 'https://app.example' });
      expect({ status: answer.status, headers: answer.headers }).toEqual({
        status,
        headers: expect.objectContaining({ 'Access-Control-Allow-Origin': 'https://app.example', Vary: 'Origin' }),
      });
    }
  });

  it('writes no refresh token, family secret, secret or hash of one to any log line, and keeps none in Redis in the clear', async () => {
    const api = client({ REFRESH_REUSE_GRACE: '1' });
    const signed = await api.signIn('alice', { session: { device: 'phone' } });
    const first = await api.rotate(signed.refreshToken);
    await api.refresh(signed.refreshToken);
    const second = await api.rotate(first.refreshToken);
    const refreshTokens = [signed.refreshToken, first.refreshToken, second.refreshToken];
    const [tag, session, family] = fieldsOf(signed.refreshToken);
    await api.refresh([tag, session, randomField(22), fieldsOf(second.refreshToken)[3]].join('.'));
    await api.refresh(`${second.refreshToken}x`);
    await api.refreshWith(JSON.stringify({ refreshToken: second.refreshToken, extra: true }));
    await api.refreshWith(`{"refreshToken":"${second.refreshToken}"`);
    const inRedis = (await state()).join('\n');
    await sleep(1100);
    await api.refresh(first.refreshToken);

    const secrets = refreshTokens.map((token) => fieldsOf(token)[3]);
    const forbidden = [...refreshTokens, family, ...secrets, hashSecret(family), ...secrets.map(hashSecret)];
    const lines = logLines();
    expect(lines.length).toBeGreaterThan(8);
    expect(forbidden.filter((value) => lines.some((line) => line.includes(value)))).toEqual([]);
    // The record keeps hashes only (and the replay key the next secret sealed under the one presented).
    expect([...refreshTokens, family, ...secrets].filter((value) => inRedis.includes(value))).toEqual([]);
    expect(inRedis).toContain(hashSecret(family));
    // What the lines do say: which session.
    expect(loggedAs('refresh').map(({ outcome, reason, sid }) => ({ outcome, reason, sid }))).toEqual([
      { outcome: 'rotated', reason: undefined, sid: signed.sid },
      { outcome: 'replayed', reason: undefined, sid: signed.sid },
      { outcome: 'rotated', reason: undefined, sid: signed.sid },
      { outcome: 'refused', reason: 'unknown', sid: signed.sid },
      { outcome: 'refused', reason: 'malformed', sid: undefined },
      { outcome: 'rejected', reason: expect.stringMatching(/unknown field/), sid: undefined },
      { outcome: 'rejected', reason: 'request body is not valid JSON', sid: undefined },
      { outcome: 'refused', reason: 'reused', sid: signed.sid },
    ]);
    expect(await (await server().admin()).keys(`${RECORD_PREFIX}*`)).toEqual([]);
  });
});
