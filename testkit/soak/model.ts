// What a soak run is asked to do and what it reports: shared by its parts, exported by testkit/soak.ts.

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
