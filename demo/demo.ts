// npm start's demo page (/demo/): a browser app on the typed client's AuthSession, against the HTTP API on this
// page's own origin. What it shows comes from the service and from User-Agents: it goes in as text, never as HTML.
import { AuthSession, memoryStorage, RevocableJwtError, type MeResponse, type SessionInfo, type SessionTokens } from '../client/src/index';

// The page keeps the storage at hand: the stolen-token panel reads the refresh token from it, as a thief would.
const storage = memoryStorage();
const session = new AuthSession({ baseUrl: location.origin, storage });

function byTestId<T extends HTMLElement>(testId: string): T {
  const found = document.querySelector<T>(`[data-testid="${testId}"]`);
  if (found === null) throw new Error(`the page has no element ${testId}`);
  return found;
}

const page = {
  status: byTestId<HTMLParagraphElement>('status'),
  log: byTestId<HTMLOListElement>('log'),
  signedOut: byTestId<HTMLElement>('signed-out-view'),
  ended: byTestId<HTMLParagraphElement>('ended'),
  signInForm: byTestId<HTMLFormElement>('sign-in-form'),
  user: byTestId<HTMLSelectElement>('user-select'),
  signedIn: byTestId<HTMLElement>('signed-in-view'),
  me: byTestId<HTMLDListElement>('me'),
  sessionRows: byTestId<HTMLTableSectionElement>('session-rows'),
  reload: byTestId<HTMLButtonElement>('reload'),
  logoutOthers: byTestId<HTMLButtonElement>('logout-others'),
  signOut: byTestId<HTMLButtonElement>('sign-out'),
  steal: byTestId<HTMLButtonElement>('steal'),
  rotate: byTestId<HTMLButtonElement>('rotate'),
  replay: byTestId<HTMLButtonElement>('replay'),
};

/** The thief's copy of a refresh token, between the panel's steps. */
let stolen: string | undefined;

/** Shows `message` in the status line and adds it to the log. */
function say(message: string, kind: 'info' | 'error' = 'info'): void {
  page.status.textContent = message;
  page.status.classList.toggle('error', kind === 'error');
  const entry = document.createElement('li');
  entry.textContent = `${new Date().toLocaleTimeString()} ${message}`;
  entry.className = kind;
  page.log.prepend(entry);
}

function describeError(error: unknown): string {
  if (error instanceof RevocableJwtError) return `${error.message} (${error.code}${error.status === undefined ? '' : `, ${error.status}`})`;
  return error instanceof Error ? error.message : String(error);
}

/** Runs a button's action; whatever fails is shown, never swallowed. */
function act(action: () => Promise<void>): () => void {
  return () => {
    action().catch((error: unknown) => say(describeError(error), 'error'));
  };
}

const time = (seconds: number | undefined) => (seconds === undefined ? '—' : new Date(seconds * 1000).toLocaleString());

/** An answer's `{ error, message }`, as the service writes it. */
async function errorOf(response: Response): Promise<string> {
  const body: unknown = await response.json().catch(() => undefined);
  const { error, message } = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  return `${response.status} ${typeof error === 'string' ? error : ''}${typeof message === 'string' ? `: ${message}` : ''}`;
}

function showSignedOut(): void {
  page.signedIn.hidden = true;
  page.signedOut.hidden = false;
  stolen = undefined;
}

async function showSignedIn(): Promise<void> {
  const [me, sessions] = await Promise.all([session.me(), session.sessions()]);
  renderMe(me);
  renderSessions(sessions);
  page.signedOut.hidden = true;
  page.ended.hidden = true;
  page.signedIn.hidden = false;
}

function renderMe(me: MeResponse): void {
  const rows: Array<[string, string, string]> = [
    ['subject', 'me-sub', me.sub],
    ['session (sid)', 'me-sid', me.sid ?? '—'],
    ['access token (jti)', 'me-jti', me.jti],
    ['issued', 'me-issued', time(me.issuedAt)],
    ['expires', 'me-expires', time(me.expiresAt)],
  ];
  page.me.replaceChildren(
    ...rows.flatMap(([label, testId, value]) => {
      const term = document.createElement('dt');
      term.textContent = label;
      const detail = document.createElement('dd');
      detail.dataset.testid = testId;
      detail.textContent = value;
      return [term, detail];
    }),
  );
}

function renderSessions(sessions: readonly SessionInfo[]): void {
  page.sessionRows.replaceChildren(
    ...sessions.map((listed) => {
      const row = document.createElement('tr');
      row.dataset.testid = 'session-row';
      row.dataset.sid = listed.sid;
      row.dataset.current = String(listed.current);
      row.classList.toggle('current', listed.current);
      const cells: Array<[string, string]> = [
        ['session-device', listed.device ?? '—'],
        ['session-ip', listed.ip ?? '—'],
        ['session-created', time(listed.createdAt)],
        ['session-refreshed', time(listed.lastRefreshedAt)],
        ['session-expires', time(listed.expiresAt)],
      ];
      for (const [testId, text] of cells) {
        const cell = row.insertCell();
        cell.dataset.testid = testId;
        cell.textContent = text;
      }
      const end = document.createElement('button');
      end.type = 'button';
      end.dataset.testid = 'end-session';
      end.textContent = listed.current ? 'End (this session)' : 'End';
      end.addEventListener(
        'click',
        act(async () => {
          await session.endSession(listed.sid);
          // Ending this session fired 'ended', which showed the sign-in form.
          if (listed.current) return;
          say(`Ended session ${listed.sid}: its tokens are refused from now on`);
          await showSignedIn();
        }),
      );
      row.insertCell().append(end);
      return row;
    }),
  );
}

session.on('ended', ({ reason }) => {
  const why = reason === 'refresh-refused' ? 'the service refused the refresh token: the session is over' : 'you logged it out';
  page.ended.textContent = `Your session has ended (${reason}): ${why}.`;
  page.ended.hidden = false;
  say(`Session ended (${reason})`, reason === 'refresh-refused' ? 'error' : 'info');
  showSignedOut();
});

page.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  act(async () => {
    const username = page.user.value;
    const response = await fetch('/demo/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username }) });
    if (!response.ok) throw new Error(`POST /demo/login answered ${await errorOf(response)}`);
    await session.start((await response.json()) as SessionTokens);
    await showSignedIn();
    say(`Signed in as demo:${username}`);
  })();
});

page.reload.addEventListener(
  'click',
  act(async () => {
    await showSignedIn();
    say('Reloaded');
  }),
);

page.logoutOthers.addEventListener(
  'click',
  act(async () => {
    await session.logout({ scope: 'others' });
    await showSignedIn();
    say('Logged out your other sessions: their tokens are refused from now on');
  }),
);

// Ends the session: 'ended' shows the sign-in form.
page.signOut.addEventListener(
  'click',
  act(() => session.logout()),
);

page.steal.addEventListener(
  'click',
  act(async () => {
    stolen = (await storage.load())?.refreshToken;
    if (stolen === undefined) throw new Error('signed out: nothing to steal');
    page.rotate.disabled = false;
    page.replay.disabled = true;
    say('The thief has a copy of your refresh token');
  }),
);

page.rotate.addEventListener(
  'click',
  act(async () => {
    await session.refresh();
    page.replay.disabled = false;
    say("You refreshed: the thief's copy is used up, and you hold a new refresh token");
  }),
);

page.replay.addEventListener(
  'click',
  act(async () => {
    // A plain request, as the thief would send it from elsewhere: not through this page's session.
    const response = await fetch('/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken: stolen }),
    });
    if (response.ok) {
      say('200: within REFRESH_REUSE_GRACE of your refresh the service answers the same pair, as it would a retry. Wait past it, then replay again');
      return;
    }
    say(`The replayed copy was refused (${await errorOf(response)}), and the session ended with it`);
    page.rotate.disabled = true;
    page.replay.disabled = true;
    // What you see next: your access token refused, then your refresh token, and the session ends ('ended').
    await session.me().then(
      () => say('GET /me still answers: the session did not end', 'error'),
      (error: unknown) => say(`Your next call fails: ${describeError(error)}`, 'error'),
    );
  }),
);

showSignedOut();
say('Pick a demo user and sign in');
