// Where an AuthSession keeps its tokens between calls. The storage is the source of truth, read at every
// call: a session shared through localStorage sees another tab's refresh at once, instead of presenting the
// refresh token that tab used up (which, after REFRESH_REUSE_GRACE, ends the session as a replay).
// What each choice means when a script is injected into the page: client/README.md.

export interface StoredTokens {
  accessToken: string;
  /** When the access token expires, ms since the epoch by this client's clock: `expiresIn` counted from when the answer arrived, so the server's clock does not matter. */
  accessTokenExpiresAt: number;
  /** The access token's lifetime as the service gave it, s: the refresh leeway never exceeds half of it. */
  expiresIn: number;
  refreshToken: string;
  sid: string;
}

type MaybePromise<T> = T | Promise<T>;

export interface TokenStorage {
  load(): MaybePromise<StoredTokens | undefined>;
  save(tokens: StoredTokens): MaybePromise<void>;
  clear(): MaybePromise<void>;
}

/** The default: gone on reload, invisible to other tabs. */
export function memoryStorage(): TokenStorage {
  let held: StoredTokens | undefined;
  return {
    load: () => held,
    save: (tokens) => {
      held = tokens;
    },
    clear: () => {
      held = undefined;
    },
  };
}

/** What webStorage needs of `window.sessionStorage` or `window.localStorage`. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The tokens as JSON under `key` of a Web Storage area. Any script in the page can read them there: see client/README.md. */
export function webStorage(storage: WebStorageLike, key = 'revocable-jwt'): TokenStorage {
  return {
    load: () => {
      const text = storage.getItem(key);
      return text === null ? undefined : parseStoredTokens(text);
    },
    save: (tokens) => storage.setItem(key, JSON.stringify(tokens)),
    clear: () => storage.removeItem(key),
  };
}

/** Stored tokens read back, or undefined for anything else (edited by hand, or written by another version): signed out. */
function parseStoredTokens(text: string): StoredTokens | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { accessToken, accessTokenExpiresAt, expiresIn, refreshToken, sid } = value as Record<string, unknown>;
  if (typeof accessToken !== 'string' || typeof refreshToken !== 'string' || typeof sid !== 'string') return undefined;
  if (typeof accessTokenExpiresAt !== 'number' || typeof expiresIn !== 'number') return undefined;
  return { accessToken, accessTokenExpiresAt, expiresIn, refreshToken, sid };
}
