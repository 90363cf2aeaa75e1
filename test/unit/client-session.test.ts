// AuthSession against a fake of the service's browser routes: refresh before expiry (by an injected clock) and
// once on a refused token, one refresh for many callers, the end of a session, logout scopes, storage; answers
// released by hand against a session started meanwhile, and a refresh sent again after a failure.
import {
  AuthSession,
  memoryStorage,
  webStorage,
  type RefreshResponse,
  type SessionEndedEvent,
  type SessionTokens,
  type StoredTokens,
  type TokenStorage,
} from '../../client/src';
import { rejection } from '../../testkit/client-errors';

const BASE = 'https://api.example.test/dev';
const SID = '{tag}session-one';
/** Another sign-in's session: another user's, or the same user's after a sign-out. */
const SID_TWO = '{tag}session-two';
const T0 = 1_764_547_200_000;

interface Sent {
  method: string;
  path: string;
  authorization: string | null;
  body: string;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** An answer the fake gives when the test releases it: `arrived` once the request is in, `answer` to release it. */
function held() {
  const arrived = deferred();
  const released = deferred<Response>();
  return {
    arrived: arrived.promise,
    answer: released.resolve,
    reply: () => {
      arrived.resolve();
      return released.promise;
    },
  };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** The service's browser routes, in memory: which access tokens are live, which refresh token is current. */
class FakeService {
  readonly sent: Sent[] = [];
  readonly live = new Set<string>();
  current = '';
  issued = 0;
  /** How the HTTP API refuses a token: 403. */
  refusal = 401;
  /** Answers the next refreshes instead of rotating, in order. */
  readonly refreshAnswers: (() => Response | Promise<Response>)[] = [];
  /** Holds every refresh until it opens. */
  refreshGate: Promise<void> | undefined;
  /** Holds GET /slow until it opens. */
  slowGate: Promise<void> | undefined;
  /** Answers the next Bearer route instead of the route, once. */
  routeAnswer: (() => Response | Promise<Response>) | undefined;
  /** The session of the current refresh token. */
  currentSid = SID;
  private readonly waiting: { path: string; arrived: () => void }[] = [];

  /** A sign-in: what the login backend hands the app; a refresh's answer too. */
  signIn(expiresIn = 600, sid = SID): RefreshResponse {
    this.issued += 1;
    const pair = {
      token: `access.${this.issued}.eyJzdWIiOiJ1c2VyLTQyIn0`,
      tokenType: 'Bearer' as const,
      expiresIn,
      jti: `{tag}jti-${this.issued}`,
      sid,
      refreshToken: `refresh.${this.issued}.family-secret.secret-${this.issued}`,
      refreshExpiresIn: 604_800,
    };
    this.live.add(pair.token);
    this.current = pair.refreshToken;
    this.currentSid = sid;
    return pair;
  }

  /** Resolves once a request for `path` (after the stage) is in. */
  arrival(path: string): Promise<void> {
    const arrived = deferred();
    this.waiting.push({ path: `/dev${path}`, arrived: arrived.resolve });
    return arrived.promise;
  }

  refreshes(): Sent[] {
    return this.sent.filter((request) => request.path === '/dev/auth/refresh');
  }

  readonly fetch = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const body = await request.text();
    const sent = { method: request.method, path: pathname, authorization: request.headers.get('authorization'), body };
    this.sent.push(sent);
    for (const waiter of this.waiting.filter((waiting) => waiting.path === pathname)) waiter.arrived();
    if (pathname === '/dev/auth/refresh') return this.refresh(body);
    if (pathname === '/dev/slow') await this.slowGate;
    const token = /^Bearer (.+)$/.exec(sent.authorization ?? '')?.[1];
    if (token === undefined || !this.live.has(token)) return json(this.refusal, { error: 'Unauthorized', message: 'Unauthorized' });
    const answer = this.routeAnswer;
    this.routeAnswer = undefined;
    if (answer !== undefined) return answer();
    return this.route(request.method, pathname, body, token);
  };

  private async refresh(body: string): Promise<Response> {
    await this.refreshGate;
    const answer = this.refreshAnswers.shift();
    if (answer !== undefined) return answer();
    const { refreshToken } = JSON.parse(body) as { refreshToken: string };
    if (refreshToken !== this.current) return json(401, { error: 'REFRESH_TOKEN_INVALID', message: 'refresh token is not valid: sign in again' });
    return json(200, this.signIn(600, this.currentSid));
  }

  private route(method: string, path: string, body: string, token: string): Response {
    if (method === 'GET' && path === '/dev/me') return json(200, { sub: 'user-42', jti: 'j', sid: SID, issuedAt: 1, expiresAt: 2, claims: { role: 'admin' } });
    if (method === 'GET' && path === '/dev/auth/sessions') return json(200, { sessions: [{ sid: SID, createdAt: 1, expiresAt: 2, current: true }] });
    if (method === 'POST' && path === '/dev/auth/logout') {
      const { scope } = JSON.parse(body) as { scope: string };
      if (scope !== 'others') this.live.delete(token);
      return new Response(null, { status: 204 });
    }
    if (method === 'DELETE' && path.startsWith('/dev/auth/sessions/')) {
      return decodeURIComponent(path.slice('/dev/auth/sessions/'.length)).startsWith('{tag}')
        ? new Response(null, { status: 204 })
        : json(404, { error: 'SESSION_NOT_FOUND', message: 'no live session with that sid' });
    }
    return json(200, { path });
  }
}

let service: FakeService;
let clock: number;
let storage: TokenStorage;
/** What each wait between the attempts of a refresh was asked to last, ms; the default sleep returns at once. */
let waits: number[];

function session(options: { leeway?: number; storage?: TokenStorage; sleep?: (ms: number) => Promise<void> } = {}): AuthSession {
  return new AuthSession({
    baseUrl: BASE,
    fetch: service.fetch,
    now: () => clock,
    sleep: (ms) => {
      waits.push(ms);
      return options.sleep?.(ms) ?? Promise.resolve();
    },
    storage: options.storage ?? storage,
    ...(options.leeway === undefined ? {} : { refreshLeewaySeconds: options.leeway }),
  });
}

async function started(options: { leeway?: number; expiresIn?: number } = {}): Promise<AuthSession> {
  const auth = session(options);
  await auth.start(service.signIn(options.expiresIn));
  return auth;
}

function endedEvents(auth: AuthSession): SessionEndedEvent[] {
  const events: SessionEndedEvent[] = [];
  auth.on('ended', (event) => events.push(event));
  return events;
}

/** Well-formed stored tokens. */
const STORED: StoredTokens = { accessToken: 'a', accessTokenExpiresAt: 1, expiresIn: 1, refreshToken: 'r', sid: 's' };

/** A Web Storage area in memory. */
function webArea(): Storage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  } as unknown as Storage & { items: Map<string, string> };
}

beforeEach(() => {
  service = new FakeService();
  clock = T0;
  storage = webStorage(webArea(), 'tokens');
  waits = [];
});

describe('Class: AuthSession', () => {
  describe('refreshing before expiry', () => {
    it('uses the access token it holds while more than the leeway (60 s) is left, and refreshes once 60 s are left', async () => {
      const auth = await started();
      clock = T0 + (600 - 61) * 1000;
      expect(await auth.accessToken()).toBe('access.1.eyJzdWIiOiJ1c2VyLTQyIn0');
      expect(service.refreshes()).toHaveLength(0);

      clock = T0 + (600 - 60) * 1000;
      expect(await auth.accessToken()).toBe('access.2.eyJzdWIiOiJ1c2VyLTQyIn0');
      expect(service.refreshes()).toEqual([
        { method: 'POST', path: '/dev/auth/refresh', authorization: null, body: '{"refreshToken":"refresh.1.family-secret.secret-1"}' },
      ]);
      // The new pair is stored, counted from now: good for another 540 s before the leeway.
      clock += 539 * 1000;
      expect(await auth.accessToken()).toBe('access.2.eyJzdWIiOiJ1c2VyLTQyIn0');
      expect(service.refreshes()).toHaveLength(1);
    });

    it('takes its leeway from refreshLeewaySeconds', async () => {
      const auth = await started({ leeway: 10 });
      clock = T0 + (600 - 11) * 1000;
      await auth.accessToken();
      expect(service.refreshes()).toHaveLength(0);
      clock = T0 + (600 - 10) * 1000;
      await auth.accessToken();
      expect(service.refreshes()).toHaveLength(1);
    });

    it('never refreshes more than half the lifetime early: a 30 s token is used for 15 s', async () => {
      const auth = await started({ expiresIn: 30 });
      clock = T0 + 14_999;
      await auth.accessToken();
      expect(service.refreshes()).toHaveLength(0);
      clock = T0 + 15_000;
      await auth.accessToken();
      expect(service.refreshes()).toHaveLength(1);
    });

    it('refreshes on demand with refresh()', async () => {
      const auth = await started();
      await auth.refresh();
      expect(await auth.accessToken()).toBe('access.2.eyJzdWIiOiJ1c2VyLTQyIn0');
    });
  });

  describe('one refresh at a time', () => {
    it('sends exactly one refresh for ten concurrent callers, and gives them all its token', async () => {
      const auth = await started();
      clock = T0 + 590_000;
      const gate = deferred();
      service.refreshGate = gate.promise;
      const all = Promise.all([
        Promise.all(Array.from({ length: 10 }, () => auth.accessToken())),
        Promise.all(Array.from({ length: 5 }, () => auth.fetch(`${BASE}/orders`))),
      ]);
      gate.resolve();
      const [tokens, responses] = await all;
      expect(new Set(tokens)).toEqual(new Set(['access.2.eyJzdWIiOiJ1c2VyLTQyIn0']));
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
      expect(service.refreshes()).toHaveLength(1);
    });

    it('does not keep a failed refresh: the callers that shared it all fail, and the next call tries again', async () => {
      const auth = await started();
      clock = T0 + 590_000;
      // Three: the first attempt and its two repeats.
      service.refreshAnswers.push(...Array.from({ length: 3 }, () => () => json(503, { error: 'STORE_UNAVAILABLE', message: 'Redis unavailable' })));
      const gate = deferred();
      service.refreshGate = gate.promise;
      const both = [auth.accessToken(), auth.accessToken()].map(rejection);
      gate.resolve();
      expect((await Promise.all(both)).map((error) => error.code)).toEqual(['STORE_UNAVAILABLE', 'STORE_UNAVAILABLE']);
      expect(service.refreshes()).toHaveLength(3);

      expect(await auth.accessToken()).toBe('access.2.eyJzdWIiOiJ1c2VyLTQyIn0');
      expect(service.refreshes()).toHaveLength(4);
    });

    it('retries with the token another caller refreshed to meanwhile, refreshing no second time', async () => {
      const auth = await started();
      const slowGate = deferred();
      service.slowGate = slowGate.promise;
      const slow = auth.fetch(`${BASE}/slow`);
      // The token the slow request carries dies while it is on its way; another request refreshes, then the slow one is answered.
      service.live.clear();
      const other = auth.fetch(`${BASE}/orders`).finally(() => slowGate.resolve());
      expect((await Promise.all([slow, other])).map((response) => response.status)).toEqual([200, 200]);
      expect(service.refreshes()).toHaveLength(1);
      expect(service.sent.filter((request) => request.path === '/dev/slow').map((request) => request.authorization)).toEqual([
        'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0',
        'Bearer access.2.eyJzdWIiOiJ1c2VyLTQyIn0',
      ]);
    });
  });

  describe('fetch', () => {
    it('sends the request with the Bearer header and returns the answer', async () => {
      const auth = await started();
      const response = await auth.fetch(`${BASE}/orders`, { method: 'POST', body: 'order' });
      expect(await response.json()).toEqual({ path: '/dev/orders' });
      expect(service.sent).toEqual([{ method: 'POST', path: '/dev/orders', authorization: 'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0', body: 'order' }]);
    });

    it.each([
      ['a 401 (REST API)', 401],
      ['a 403 (HTTP API)', 403],
    ])('on %s refreshes once and sends the request again, body included', async (_case, status) => {
      service.refusal = status;
      const auth = await started();
      service.live.clear();
      const response = await auth.fetch(new Request(`${BASE}/orders`, { method: 'PUT', body: 'order' }));
      expect(response.status).toBe(200);
      expect(service.sent.map(({ path, authorization, body }) => [path, authorization, body])).toEqual([
        ['/dev/orders', 'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0', 'order'],
        ['/dev/auth/refresh', null, '{"refreshToken":"refresh.1.family-secret.secret-1"}'],
        ['/dev/orders', 'Bearer access.2.eyJzdWIiOiJ1c2VyLTQyIn0', 'order'],
      ]);
    });

    it('drops the refused answer, freeing its connection', async () => {
      const answers: Response[] = [];
      const recording = new AuthSession({
        baseUrl: BASE,
        storage,
        now: () => clock,
        fetch: async (request) => {
          const answer = await service.fetch(request);
          answers.push(answer);
          return answer;
        },
      });
      await recording.start(service.signIn());
      service.live.clear();
      await recording.me();
      expect(answers.map((answer) => [answer.status, answer.bodyUsed])).toEqual([
        [401, true],
        [200, true],
        [200, true],
      ]);
    });

    it('gives up after one retry: a token refused again is answered as it is', async () => {
      const auth = await started();
      service.live.clear();
      service.refreshAnswers.push(() => json(200, { ...service.signIn(), token: 'access.dead.eyJzdWIiOiJ1c2VyLTQyIn0' }));
      const response = await auth.fetch(`${BASE}/orders`);
      expect(response.status).toBe(401);
      expect(service.sent.map((request) => request.path)).toEqual(['/dev/orders', '/dev/auth/refresh', '/dev/orders']);
    });

    it.each([404, 500, 503])('answers a %s as it is, without refreshing', async (status) => {
      const auth = await started();
      service.routeAnswer = () => json(status, { error: 'X', message: 'x' });
      expect((await auth.fetch(`${BASE}/orders`)).status).toBe(status);
      expect(service.refreshes()).toHaveLength(0);
    });

    it('uses the platform fetch when given none', async () => {
      const platform = jest.spyOn(globalThis, 'fetch').mockImplementation((input) => service.fetch(input as Request));
      try {
        const auth = new AuthSession({ baseUrl: BASE, now: () => clock });
        await auth.start(service.signIn());
        expect((await auth.me()).sub).toBe('user-42');
        expect(platform).toHaveBeenCalledTimes(1);
      } finally {
        platform.mockRestore();
      }
    });
  });

  describe('the end of a session', () => {
    it('ends on 401 REFRESH_TOKEN_INVALID: the tokens are dropped, "ended" says refresh-refused, the caller gets the error', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      service.current = 'replayed elsewhere';
      service.live.clear();
      const error = await rejection(auth.me());
      expect(error).toMatchObject({ name: 'RevocableJwtError', code: 'REFRESH_TOKEN_INVALID', status: 401 });
      expect(events).toEqual([{ reason: 'refresh-refused' }]);
      expect(await auth.isSignedIn()).toBe(false);
      expect(await rejection(auth.accessToken())).toMatchObject({ code: 'SIGNED_OUT', status: undefined });
    });

    it.each([
      ['a 503, three times', () => json(503, { error: 'STORE_UNAVAILABLE', message: 'Redis unavailable' }), 3, 'STORE_UNAVAILABLE', 503],
      ['a 401 of another code, not repeated', () => json(401, { error: 'Unauthorized', message: 'Unauthorized' }), 1, 'Unauthorized', 401],
      [
        'no answer, three times',
        () => {
          throw new TypeError('fetch failed');
        },
        3,
        'NETWORK_ERROR',
        undefined,
      ],
    ])(
      'does not end on %s: the error surfaces, the tokens stay, a later refresh uses the same refresh token',
      async (_case, answer, attempts, code, status) => {
        const auth = await started();
        const events = endedEvents(auth);
        service.refreshAnswers.push(...Array.from({ length: attempts }, () => answer));
        expect(await rejection(auth.refresh())).toMatchObject({ code, status });
        expect(events).toEqual([]);
        expect(await auth.isSignedIn()).toBe(true);
        await auth.refresh();
        expect(service.refreshes().map((request) => request.body)).toEqual(Array(attempts + 1).fill('{"refreshToken":"refresh.1.family-secret.secret-1"}'));
      },
    );

    it('tells every listener, once, and no longer one that unsubscribed', async () => {
      const auth = await started();
      const heard: string[] = [];
      auth.on('ended', () => heard.push('first'));
      const unsubscribe = auth.on('ended', () => heard.push('gone'));
      auth.on('ended', () => heard.push('last'));
      unsubscribe();
      await auth.logout();
      expect(heard).toEqual(['first', 'last']);
    });

    it("reports a listener's exception as an uncaught error, after the other listeners heard", async () => {
      const auth = await started();
      const thrown = new Error('listener bug');
      const heard: string[] = [];
      auth.on('ended', () => {
        throw thrown;
      });
      auth.on('ended', () => heard.push('second'));
      const reported: (() => void)[] = [];
      const later = jest
        .spyOn(globalThis, 'setTimeout')
        .mockImplementation(((callback: () => void) => reported.push(callback)) as unknown as typeof setTimeout);
      try {
        await auth.logout();
      } finally {
        later.mockRestore();
      }
      expect(heard).toEqual(['second']);
      expect(reported).toHaveLength(1);
      expect(reported[0]).toThrow(thrown);
    });

    it('refuses an event it does not have', async () => {
      const auth = await started();
      expect(() => auth.on('end' as 'ended', () => undefined)).toThrow(TypeError);
    });

    it('keeps nothing a refresh brings once the session was logged out meanwhile', async () => {
      const auth = await started();
      const gate = deferred();
      service.refreshGate = gate.promise;
      const refreshing = rejection(auth.refresh());
      await storage.clear();
      gate.resolve();
      expect((await refreshing).code).toBe('SIGNED_OUT');
      expect(await auth.isSignedIn()).toBe(false);
    });

    it('keeps the pair another tab stored meanwhile over the one its own refresh brought', async () => {
      const auth = await started();
      const gate = deferred();
      service.refreshGate = gate.promise;
      const refreshing = auth.refresh();
      const otherTab: StoredTokens = {
        accessToken: 'access.tab.x',
        accessTokenExpiresAt: T0 + 600_000,
        expiresIn: 600,
        refreshToken: 'refresh.tab.x',
        sid: SID,
      };
      await storage.save(otherTab);
      gate.resolve();
      await refreshing;
      expect(await storage.load()).toEqual(otherTab);
    });
  });

  describe('an answer applies to the session that asked, not to one started meanwhile', () => {
    const REFUSED_REFRESH = () => json(401, { error: 'REFRESH_TOKEN_INVALID', message: 'refresh token is not valid: sign in again' });
    const RT1 = '{"refreshToken":"refresh.1.family-secret.secret-1"}';

    it('a refresh refused after start() of another session leaves that session stored, and says no "ended"', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      const refresh = held();
      service.refreshAnswers.push(refresh.reply);
      const refreshing = rejection(auth.refresh());
      await refresh.arrived;
      const two = service.signIn(600, SID_TWO);
      await auth.start(two);

      refresh.answer(REFUSED_REFRESH());
      expect(await refreshing).toMatchObject({ code: 'REFRESH_TOKEN_INVALID', status: 401 });
      expect(events).toEqual([]);
      expect(await storage.load()).toMatchObject({ sid: SID_TWO, refreshToken: two.refreshToken });
      expect(await auth.accessToken()).toBe(two.token);
    });

    it("a refresh that succeeds after start() of another session is not stored, nor handed to that session's callers: SIGNED_OUT", async () => {
      const auth = await started();
      const refresh = held();
      service.refreshAnswers.push(refresh.reply);
      const refreshing = rejection(auth.refresh());
      await refresh.arrived;
      const two = service.signIn(600, SID_TWO);
      await auth.start(two);

      refresh.answer(json(200, service.signIn(600, SID)));
      expect(await refreshing).toMatchObject({ code: 'SIGNED_OUT', status: undefined });
      expect(await storage.load()).toMatchObject({ accessToken: two.token, sid: SID_TWO, refreshToken: two.refreshToken });
    });

    it('a request refused while its refresh is in flight is not sent again as the user who signed in meanwhile: SIGNED_OUT', async () => {
      const auth = await started();
      service.live.clear();
      const refresh = held();
      service.refreshAnswers.push(refresh.reply);
      const ordering = rejection(auth.fetch(`${BASE}/orders`, { method: 'POST', body: 'order of user A' }));
      await refresh.arrived;
      const userB = service.signIn(600, SID_TWO);
      await auth.start(userB);

      refresh.answer(json(200, service.signIn(600, SID)));
      expect(await ordering).toMatchObject({ code: 'SIGNED_OUT' });
      expect(service.sent.filter((request) => request.path === '/dev/orders').map((request) => request.authorization)).toEqual([
        'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0',
      ]);
      expect(service.sent.some((request) => request.authorization === `Bearer ${userB.token}`)).toBe(false);
    });

    it('a request refused after start() of another session is not sent again with its token, nor refreshes it: SIGNED_OUT', async () => {
      const auth = await started();
      const slow = deferred();
      service.slowGate = slow.promise;
      const arrived = service.arrival('/slow');
      const request = rejection(auth.fetch(`${BASE}/slow`, { method: 'POST', body: 'order of user A' }));
      await arrived;
      service.live.clear();
      const userB = service.signIn(600, SID_TWO);
      await auth.start(userB);

      slow.resolve();
      expect(await request).toMatchObject({ code: 'SIGNED_OUT' });
      expect(service.sent.map(({ path, authorization }) => [path, authorization])).toEqual([['/dev/slow', 'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0']]);
      expect(await storage.load()).toMatchObject({ sid: SID_TWO, accessToken: userB.token });
    });

    it("start() during a refresh: the new session's callers get a refresh of their own, and the old one's answer is not theirs", async () => {
      const auth = await started();
      const one = held();
      service.refreshAnswers.push(one.reply);
      const first = rejection(auth.refresh());
      await one.arrived;
      // Session one's answer first: the fake then takes session two's refresh token as its current one.
      const oneRotated = service.signIn(600, SID);
      const two = service.signIn(600, SID_TWO);
      await auth.start(two);

      const second = auth.refresh();
      one.answer(json(200, oneRotated));
      await second;
      expect((await first).code).toBe('SIGNED_OUT');
      expect(service.refreshes().map((request) => request.body)).toEqual([RT1, JSON.stringify({ refreshToken: two.refreshToken })]);
      expect(await storage.load()).toMatchObject({ sid: SID_TWO, refreshToken: service.current });
    });

    it('start() with newer tokens of the same session (refreshed elsewhere) drops the refresh in flight: a refresh after it presents them', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      const one = held();
      service.refreshAnswers.push(one.reply);
      const first = rejection(auth.refresh());
      await one.arrived;
      const elsewhere = service.signIn();
      await auth.start(elsewhere);

      const second = auth.refresh();
      // The first refresh token was used elsewhere: refused.
      one.answer(REFUSED_REFRESH());
      await second;
      expect((await first).code).toBe('REFRESH_TOKEN_INVALID');
      expect(service.refreshes().map((request) => request.body)).toEqual([RT1, JSON.stringify({ refreshToken: elsewhere.refreshToken })]);
      expect(events).toEqual([]);
      expect(await storage.load()).toMatchObject({ sid: SID, refreshToken: service.current });
    });

    it("the old session's refresh, settling, leaves the new session's in flight: its callers still share it", async () => {
      const auth = await started();
      const [one, two] = [held(), held()];
      service.refreshAnswers.push(one.reply, two.reply);
      const first = rejection(auth.refresh());
      await one.arrived;
      await auth.start(service.signIn(600, SID_TWO));
      const second = auth.refresh();
      await two.arrived;

      one.answer(json(200, service.signIn(600, SID)));
      expect((await first).code).toBe('SIGNED_OUT');
      const third = auth.refresh();
      two.answer(json(200, service.signIn(600, SID_TWO)));
      await Promise.all([second, third]);
      expect(service.refreshes()).toHaveLength(2);
    });

    it("another tab's sign-in (shared storage) during a refresh: this client's next refresh is of the stored session, not a join", async () => {
      const auth = await started();
      const one = held();
      service.refreshAnswers.push(one.reply);
      const first = rejection(auth.refresh());
      await one.arrived;
      const oneRotated = service.signIn(600, SID);
      const otherTab = service.signIn(600, SID_TWO);
      await session().start(otherTab);

      const second = auth.refresh();
      one.answer(json(200, oneRotated));
      await second;
      expect((await first).code).toBe('SIGNED_OUT');
      expect(service.refreshes().map((request) => request.body)).toEqual([RT1, JSON.stringify({ refreshToken: otherTab.refreshToken })]);
    });

    it('logout()\'s answer arriving after start() of another session leaves that session stored, and says no "ended"', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      const logout = held();
      service.routeAnswer = logout.reply;
      const loggingOut = auth.logout();
      await logout.arrived;
      const two = service.signIn(600, SID_TWO);
      await auth.start(two);

      logout.answer(new Response(null, { status: 204 }));
      await loggingOut;
      expect(events).toEqual([]);
      expect(await storage.load()).toMatchObject({ sid: SID_TWO, refreshToken: two.refreshToken });
    });

    it('logout() still drops its session when a refresh of that session rotated the refresh token meanwhile', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      const logout = held();
      service.routeAnswer = logout.reply;
      const loggingOut = auth.logout();
      await logout.arrived;
      await auth.refresh();
      expect(await storage.load()).toMatchObject({ sid: SID, refreshToken: 'refresh.2.family-secret.secret-2' });

      logout.answer(new Response(null, { status: 204 }));
      await loggingOut;
      expect(events).toEqual([{ reason: 'logged-out' }]);
      expect(await auth.isSignedIn()).toBe(false);
    });

    it("endSession() of this client's own sid, answered after start() of another session, leaves that session stored", async () => {
      const auth = await started();
      const events = endedEvents(auth);
      const ending = held();
      service.routeAnswer = ending.reply;
      const endSession = auth.endSession(SID);
      await ending.arrived;
      const two = service.signIn(600, SID_TWO);
      await auth.start(two);

      ending.answer(new Response(null, { status: 204 }));
      await endSession;
      expect(events).toEqual([]);
      expect(await storage.load()).toMatchObject({ sid: SID_TWO, refreshToken: two.refreshToken });
    });

    it('a refresh refused after this client logged out says "ended" once, for the logout', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      const refresh = held();
      service.refreshAnswers.push(refresh.reply);
      const refreshing = rejection(auth.refresh());
      await refresh.arrived;
      await auth.logout();

      refresh.answer(REFUSED_REFRESH());
      expect((await refreshing).code).toBe('REFRESH_TOKEN_INVALID');
      expect(events).toEqual([{ reason: 'logged-out' }]);
    });

    it.each([
      ['a refused refresh (compare-and-clear)', REFUSED_REFRESH, [{ reason: 'refresh-refused' }]],
      ['a refresh (compare-and-set)', () => json(200, service.signIn(600, SID)), []],
    ])('with an asynchronous storage, start() cannot slip between the read and the write of %s', async (_case, answer, ended) => {
      const memory = memoryStorage();
      let paused: { arrived: () => void; release: Promise<void> } | undefined;
      const slow: TokenStorage = {
        load: async () => {
          const value = memory.load();
          const pause = paused;
          paused = undefined;
          pause?.arrived();
          await pause?.release;
          return value;
        },
        save: async (tokens) => memory.save(tokens),
        clear: async () => memory.clear(),
      };
      const auth = session({ storage: slow });
      const events = endedEvents(auth);
      await auth.start(service.signIn());
      const refresh = held();
      service.refreshAnswers.push(refresh.reply);
      const refreshing = auth.refresh().catch(() => undefined);
      await refresh.arrived;
      const [reading, release] = [deferred(), deferred()];
      paused = { arrived: reading.resolve, release: release.promise };

      refresh.answer(answer());
      await reading.promise;
      const two = service.signIn(600, SID_TWO);
      const starting = auth.start(two);
      release.resolve();
      await Promise.all([refreshing, starting]);
      expect(memory.load()).toMatchObject({ sid: SID_TWO, refreshToken: two.refreshToken });
      expect(events).toEqual(ended);
    });
  });

  describe('a refresh that may have gone through is sent again, with the same refresh token', () => {
    const RT1 = '{"refreshToken":"refresh.1.family-secret.secret-1"}';
    const unavailable = (retryAfter?: string) => () =>
      new Response(JSON.stringify({ error: 'STORE_UNAVAILABLE', message: 'Redis unavailable, try again' }), {
        status: 503,
        headers: { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) },
      });

    it.each<[string, string | undefined, number]>([
      ['Retry-After: 1', '1', 1000],
      ['no Retry-After', undefined, 1000],
      ['Retry-After: 0', '0', 0],
      ['Retry-After: 30, capped', '30', 2000],
      ['Retry-After as a date', 'Wed, 21 Oct 2015 07:28:00 GMT', 1000],
      ['Retry-After: -1', '-1', 1000],
    ])('a 503 with %s: waits as long as it says (1 s without, 2 s at most), sends it again, and keeps the pair', async (_case, retryAfter, wait) => {
      const auth = await started();
      const events = endedEvents(auth);
      service.refreshAnswers.push(unavailable(retryAfter));
      await auth.refresh();
      expect(waits).toEqual([wait]);
      expect(service.refreshes().map((request) => request.body)).toEqual([RT1, RT1]);
      expect(await auth.accessToken()).toBe('access.2.eyJzdWIiOiJ1c2VyLTQyIn0');
      expect(events).toEqual([]);
    });

    it.each<[string, () => Response]>([
      [
        'no answer (NETWORK_ERROR)',
        () => {
          throw new TypeError('fetch failed');
        },
      ],
      ['a 500', () => json(500, { error: 'INTERNAL', message: 'x' })],
      ["API Gateway's 502", () => json(502, { message: 'Internal server error' })],
      ["API Gateway's 504", () => json(504, { message: 'Endpoint request timed out' })],
      ['a 200 that is not a pair (BAD_RESPONSE)', () => new Response('<html>proxy</html>', { status: 200 })],
      [
        'a body cut off (NETWORK_ERROR)',
        () => new Response(new ReadableStream({ start: (controller) => controller.error(new TypeError('terminated')) }), { status: 200 }),
      ],
    ])('after %s: waits 1 s and sends the same refresh token again', async (_case, answer) => {
      const auth = await started();
      service.refreshAnswers.push(answer);
      await auth.refresh();
      expect(waits).toEqual([1000]);
      expect(service.refreshes().map((request) => request.body)).toEqual([RT1, RT1]);
      expect(await auth.accessToken()).toBe('access.2.eyJzdWIiOiJ1c2VyLTQyIn0');
    });

    it('gives up after two repeats: the last error surfaces, the tokens stay, no "ended"', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      service.refreshAnswers.push(unavailable('1'), unavailable('1'), unavailable('1'));
      expect(await rejection(auth.refresh())).toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503 });
      expect(waits).toEqual([1000, 1000]);
      expect(service.refreshes().map((request) => request.body)).toEqual([RT1, RT1, RT1]);
      expect(await storage.load()).toMatchObject({ refreshToken: 'refresh.1.family-secret.secret-1' });
      expect(events).toEqual([]);
    });

    it('a 503 then a refusal ends the session: the repeat was refused', async () => {
      const auth = await started();
      const events = endedEvents(auth);
      service.refreshAnswers.push(unavailable('1'));
      service.current = 'ended meanwhile';
      expect(await rejection(auth.refresh())).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
      expect(service.refreshes()).toHaveLength(2);
      expect(events).toEqual([{ reason: 'refresh-refused' }]);
    });

    it.each<[string, () => Response, string]>([
      ['REFRESH_TOKEN_INVALID', () => json(401, { error: 'REFRESH_TOKEN_INVALID', message: 'x' }), 'REFRESH_TOKEN_INVALID'],
      ['a 400', () => json(400, { error: 'BAD_REQUEST', message: 'x' }), 'BAD_REQUEST'],
      ["API Gateway's 429", () => json(429, { message: 'Too Many Requests' }), 'HTTP_ERROR'],
    ])('does not send it again after %s', async (_case, answer, code) => {
      const auth = await started();
      service.refreshAnswers.push(answer);
      expect(await rejection(auth.refresh())).toMatchObject({ code });
      expect(waits).toEqual([]);
      expect(service.refreshes()).toHaveLength(1);
    });

    it('does not send it again after an abort, which passes as it is', async () => {
      const abort = new DOMException('aborted', 'AbortError');
      const auth = new AuthSession({
        baseUrl: BASE,
        storage,
        now: () => clock,
        sleep: () => Promise.reject(new Error('no wait expected')),
        fetch: () => Promise.reject(abort),
      });
      await auth.start(service.signIn());
      await expect(auth.refresh()).rejects.toBe(abort);
    });

    it('the callers that share a refresh share its repeats', async () => {
      const auth = await started();
      clock = T0 + 590_000;
      service.refreshAnswers.push(unavailable('1'));
      const tokens = await Promise.all([auth.accessToken(), auth.accessToken(), auth.fetch(`${BASE}/orders`).then((response) => response.status)]);
      expect(tokens).toEqual(['access.2.eyJzdWIiOiJ1c2VyLTQyIn0', 'access.2.eyJzdWIiOiJ1c2VyLTQyIn0', 200]);
      expect(service.refreshes()).toHaveLength(2);
      expect(waits).toEqual([1000]);
    });

    it.each<[string, () => SessionTokens | undefined, string | undefined]>([
      ['start() of another session: SIGNED_OUT', () => service.signIn(600, SID_TWO), 'SIGNED_OUT'],
      ['a logout: SIGNED_OUT', () => undefined, 'SIGNED_OUT'],
      ["another tab's refresh of this session: its pair", () => service.signIn(600, SID), undefined],
    ])('sends no repeat once the session moved on while it waited, by %s', async (_case, movedTo, code) => {
      const [asleep, wake] = [deferred(), deferred()];
      const auth = session({
        sleep: () => {
          asleep.resolve();
          return wake.promise;
        },
      });
      await auth.start(service.signIn());
      service.refreshAnswers.push(unavailable('1'));
      const refreshing = auth.refresh().then(
        () => undefined,
        (error: unknown) => (error as { code?: string }).code,
      );
      await asleep.promise;
      const tokens = movedTo();
      // Written by another client over the same storage, as another tab would.
      if (tokens === undefined) await storage.clear();
      else await session().start(tokens);

      wake.resolve();
      expect(await refreshing).toBe(code);
      expect(service.refreshes()).toHaveLength(1);
      expect((await storage.load())?.refreshToken).toBe(tokens?.refreshToken);
    });

    it('waits with setTimeout when given no sleep', async () => {
      const delays: (number | undefined)[] = [];
      const timer = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms?: number) => {
        delays.push(ms);
        callback();
      }) as unknown as typeof setTimeout);
      try {
        const auth = new AuthSession({ baseUrl: BASE, storage, now: () => clock, fetch: service.fetch });
        await auth.start(service.signIn());
        service.refreshAnswers.push(unavailable('2'));
        await auth.refresh();
      } finally {
        timer.mockRestore();
      }
      expect(delays).toEqual([2000]);
      expect(service.refreshes()).toHaveLength(2);
    });
  });

  describe('the routes', () => {
    it('me() and sessions() return what the routes answer, with the Bearer header', async () => {
      const auth = await started();
      expect(await auth.me()).toEqual({ sub: 'user-42', jti: 'j', sid: SID, issuedAt: 1, expiresAt: 2, claims: { role: 'admin' } });
      expect(await auth.sessions()).toEqual([{ sid: SID, createdAt: 1, expiresAt: 2, current: true }]);
      expect(service.sent.map(({ method, path, authorization }) => [method, path, authorization])).toEqual([
        ['GET', '/dev/me', 'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0'],
        ['GET', '/dev/auth/sessions', 'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0'],
      ]);
    });

    it('takes a base URL with a trailing slash', async () => {
      const auth = new AuthSession({ baseUrl: `${BASE}/`, fetch: service.fetch, storage, now: () => clock });
      await auth.start(service.signIn());
      await auth.me();
      expect(service.sent.map((request) => request.path)).toEqual(['/dev/me']);
    });

    it('sessions() refuses an answer without a sessions list', async () => {
      const auth = await started();
      service.routeAnswer = () => json(200, { items: [] });
      expect(await rejection(auth.sessions())).toMatchObject({ code: 'BAD_RESPONSE' });
    });

    it('me() refuses an answer that is not a JSON object', async () => {
      const auth = await started();
      service.routeAnswer = () => new Response('<html>', { status: 200 });
      expect(await rejection(auth.me())).toMatchObject({ code: 'BAD_RESPONSE', status: 200 });
    });

    it("endSession() percent-encodes the sid, and keeps this client's tokens when the sid is another session's", async () => {
      const auth = await started();
      const events = endedEvents(auth);
      await auth.endSession('{tag}other/session');
      expect(service.sent.at(-1)).toMatchObject({ method: 'DELETE', path: '/dev/auth/sessions/%7Btag%7Dother%2Fsession' });
      expect(await auth.isSignedIn()).toBe(true);
      expect(events).toEqual([]);
    });

    it("endSession() of this client's own session signs it out", async () => {
      const auth = await started();
      const events = endedEvents(auth);
      await auth.endSession(SID);
      expect(await auth.isSignedIn()).toBe(false);
      expect(events).toEqual([{ reason: 'logged-out' }]);
    });

    it('endSession() of no such session is a SESSION_NOT_FOUND error', async () => {
      const auth = await started();
      expect(await rejection(auth.endSession('elsewhere'))).toMatchObject({ code: 'SESSION_NOT_FOUND', status: 404 });
    });

    it.each([
      [undefined, '{"scope":"local"}'],
      [{ scope: 'local' as const }, '{"scope":"local"}'],
      [{ scope: 'global' as const }, '{"scope":"global"}'],
    ])('logout(%j) sends %s, drops the tokens and says logged-out', async (options, body) => {
      const auth = await started();
      const events = endedEvents(auth);
      await auth.logout(options);
      expect(service.sent.at(-1)).toEqual({ method: 'POST', path: '/dev/auth/logout', authorization: 'Bearer access.1.eyJzdWIiOiJ1c2VyLTQyIn0', body });
      expect(await auth.isSignedIn()).toBe(false);
      expect(events).toEqual([{ reason: 'logged-out' }]);
    });

    it("logout({ scope: 'others' }) keeps this session's tokens", async () => {
      const auth = await started();
      const events = endedEvents(auth);
      await auth.logout({ scope: 'others' });
      expect(service.sent.at(-1)?.body).toBe('{"scope":"others"}');
      expect(await auth.isSignedIn()).toBe(true);
      expect(events).toEqual([]);
    });

    it('a logout that fails keeps the tokens, so that it can be retried', async () => {
      const auth = await started();
      service.routeAnswer = () => json(503, { error: 'STORE_UNAVAILABLE', message: 'Redis unavailable' });
      expect(await rejection(auth.logout())).toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503 });
      expect(await auth.isSignedIn()).toBe(true);
    });
  });

  describe('storage', () => {
    it('webStorage keeps the session across a reload: a new AuthSession over the same area carries on', async () => {
      const area = webArea();
      const first = session({ storage: webStorage(area, 'app:tokens') });
      await first.start(service.signIn());
      expect(JSON.parse(area.items.get('app:tokens') ?? '')).toEqual({
        accessToken: 'access.1.eyJzdWIiOiJ1c2VyLTQyIn0',
        accessTokenExpiresAt: T0 + 600_000,
        expiresIn: 600,
        refreshToken: 'refresh.1.family-secret.secret-1',
        sid: SID,
      });
      const reloaded = session({ storage: webStorage(area, 'app:tokens') });
      expect(await reloaded.accessToken()).toBe('access.1.eyJzdWIiOiJ1c2VyLTQyIn0');
      await reloaded.logout();
      expect(area.items.has('app:tokens')).toBe(false);
    });

    it("webStorage's key defaults to revocable-jwt", async () => {
      const area = webArea();
      await session({ storage: webStorage(area) }).start(service.signIn());
      expect([...area.items.keys()]).toEqual(['revocable-jwt']);
    });

    it.each([
      ['not JSON', '{'],
      ['null', 'null'],
      ['a field missing', JSON.stringify({ ...STORED, sid: undefined })],
      ...Object.entries(STORED).map(([field, value]) => [
        `${field} of the wrong type`,
        JSON.stringify({ ...STORED, [field]: typeof value === 'string' ? 1 : '1' }),
      ]),
    ])('webStorage reads %s as signed out', async (_case, text) => {
      const area = webArea();
      area.items.set('revocable-jwt', text);
      expect(await session({ storage: webStorage(area) }).isSignedIn()).toBe(false);
    });

    it('memoryStorage, the default, is one per session: nothing is shared', async () => {
      const one = new AuthSession({ baseUrl: BASE, fetch: service.fetch });
      const two = new AuthSession({ baseUrl: BASE, fetch: service.fetch });
      await one.start(service.signIn());
      expect([await one.isSignedIn(), await two.isSignedIn()]).toEqual([true, false]);
      expect(await one.accessToken()).toBe('access.1.eyJzdWIiOiJ1c2VyLTQyIn0');
      await one.logout();
      expect(await one.isSignedIn()).toBe(false);
    });
  });

  describe('errors', () => {
    it.each([
      ['no refresh token (sign without refresh: true)', { token: 't', expiresIn: 600, sid: SID }],
      ['no expiresIn', { token: 't', refreshToken: 'r', sid: SID }],
      ['a lifetime of 0', { token: 't', expiresIn: 0, refreshToken: 'r', sid: SID }],
      ['no sid', { token: 't', expiresIn: 600, refreshToken: 'r' }],
      ['no token', { expiresIn: 600, refreshToken: 'r', sid: SID }],
    ])('start() refuses tokens with %s', async (_case, tokens) => {
      const error = await rejection(session().start(tokens as RefreshResponse));
      expect(error.code).toBe('BAD_RESPONSE');
      expect(await session().isSignedIn()).toBe(false);
    });

    it('a refresh answer that is not a pair, three times, is BAD_RESPONSE, and the tokens stay', async () => {
      const auth = await started();
      service.refreshAnswers.push(...Array.from({ length: 3 }, () => () => json(200, { token: 'only' })));
      expect(await rejection(auth.refresh())).toMatchObject({ code: 'BAD_RESPONSE' });
      expect(service.refreshes()).toHaveLength(3);
      expect(await auth.isSignedIn()).toBe(true);
    });

    it('an error holds no token: the message names the route and status, with anything token-shaped cut out', async () => {
      const auth = await started();
      const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
      // A refresh token's shape: four base64url fields, 22.22.22.43 characters.
      const refreshToken = `${'a'.repeat(22)}.${'b'.repeat(22)}.${'c-'.repeat(11)}.${'d_'.repeat(21)}d`;
      service.refreshAnswers.push(() => json(400, { error: 'BAD_REQUEST', message: `no such token ${jwt} or ${refreshToken}` }));
      const error = await rejection(auth.refresh());
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ name: 'RevocableJwtError', code: 'BAD_REQUEST', status: 400 });
      expect(error.message).toBe('POST /dev/auth/refresh answered 400 BAD_REQUEST: no such token [redacted] or [redacted]');
      expect(String(error.stack)).not.toContain(jwt);
      expect(String(error.stack)).not.toContain(refreshToken);
    });

    it('a refused refresh says so without the refresh token', async () => {
      const auth = await started();
      service.current = 'elsewhere';
      const error = await rejection(auth.refresh());
      expect(error.message).toBe('POST /dev/auth/refresh answered 401 REFRESH_TOKEN_INVALID: refresh token is not valid: sign in again');
    });

    it("API Gateway's own answer, with no code, is HTTP_ERROR", async () => {
      const auth = await started();
      service.routeAnswer = () => json(429, { message: 'Too Many Requests' });
      expect(await rejection(auth.me())).toMatchObject({ code: 'HTTP_ERROR', status: 429, message: 'GET /me answered 429: Too Many Requests' });
    });

    it('no answer is NETWORK_ERROR with the cause kept; an abort is passed on as it is', async () => {
      const auth = await started();
      const cause = new TypeError('fetch failed');
      const failing = new AuthSession({ baseUrl: BASE, storage, now: () => clock, fetch: () => Promise.reject(cause) });
      expect(await rejection(failing.me())).toMatchObject({ code: 'NETWORK_ERROR', cause, message: 'GET /dev/me got no answer' });
      const abort = new DOMException('aborted', 'AbortError');
      const aborting = new AuthSession({ baseUrl: BASE, storage, now: () => clock, fetch: () => Promise.reject(abort) });
      await expect(aborting.me()).rejects.toBe(abort);
      expect(await auth.isSignedIn()).toBe(true);
    });

    it('a body cut off mid-answer is NETWORK_ERROR', async () => {
      const auth = await started();
      service.routeAnswer = () =>
        new Response(
          new ReadableStream({
            start: (controller) => controller.error(new TypeError('terminated')),
          }),
          { status: 200 },
        );
      expect(await rejection(auth.me())).toMatchObject({ code: 'NETWORK_ERROR' });
    });
  });
});
