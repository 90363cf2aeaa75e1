// What a soak run is asked to do and what it reports: shared by its parts, exported by testkit/soak.ts.

export const MUTATIONS = ['none', 'keep-removed-key', 'drop-previous-key', 'logout-to-another-redis', 'long-reuse-grace', 'reuse-to-another-redis'] as const;
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
   * go to a container whose REDIS_URL is another server, so each 204 is a logout lost (wrong allows), with
   * `long-reuse-grace` refreshes go to a container whose REFRESH_REUSE_GRACE is 300 s, so a used refresh token
   * presented again after the soak's grace of 1 s is answered as a retry, not refused as theft (wrong allows),
   * and with `reuse-to-another-redis` used refresh tokens presented again go to a container whose REDIS_URL is
   * another server, so each refusal ends nothing and the session's access tokens live on (wrong allows).
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
  /** Issued by a refresh. */
  'live-refreshed',
  /** Its session was ended, by a logout of any scope, before the check began. */
  'revoked',
  /** Its session was ended by a used refresh token presented again, before the check began. */
  'reused',
  'revocation-in-flight',
  'at-expiry',
  'expired',
  'forged',
  'tampered',
  'removed-key',
  'malformed',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** What POST /auth/refresh answered, by what the oracle knew of the refresh token. */
export interface RefreshTally {
  /** A session's current refresh token rotated into a new pair. */
  rotated: number;
  /** A retry of a rotation within the grace window, answered with the same pair. */
  replayed: number;
  /** A refresh token of a session that had ended, refused. */
  refusedEnded: number;
  /** A used refresh token presented again after the grace window, refused, which ended its live session. */
  reuseDetected: number;
  /** A used refresh token accepted after the grace window: always wrong (a wrong allow). */
  acceptedAfterUse: number;
  /** Refresh tokens of no session, or of a live session with the wrong family secret, refused (nothing changes). */
  refusedInvalid: number;
  /** Bodies that are not `{ "refreshToken": "…" }`, answered 400. */
  refused400: number;
}

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
  requests: { total: number; authorize: number; sign: number; refresh: number; logout: number; logoutAll: number };
  authorizations: Record<Category, Tally>;
  signs: { issued: number; refused400: number };
  refreshes: RefreshTally;
  /**
   * Logouts answered 204, by scope: after `local`, every token of the session must be refused, refresh token
   * included; after `others` every other session's of the subject signed before it; after `global` all of them.
   */
  logouts: Record<'local' | 'others' | 'global', number>;
  /** Logouts of any scope answered 204. */
  revocationsAcknowledged: number;
  /** Logouts-all answered 204, after which every token of the subject signed before it must be refused. */
  logoutAllsAcknowledged: number;
  /** Authorizations of a token that started after its session's end was acknowledged (all must deny). */
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
