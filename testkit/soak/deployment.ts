// The deployment under test: a throwaway redis-server and the containers the soak sends requests to, with
// the mutation (if any) applied, unknown to the oracle.
import { proxyEvent } from '../events';
import { coldStart, type Container } from '../cold-start';
import { startRedisServer, type RedisServer } from '../redis-server';
import type { Mutation, SoakOptions } from './model';

export const KEYS = {
  current: { kid: '2026-12', secret: 'soak-current-key-0123456789abcdefghijklmnop' },
  previous: { kid: '2026-10', secret: 'soak-previous-key-0123456789abcdefghijklmno' },
  removed: { kid: '2026-11', secret: 'soak-removed-key-0123456789abcdefghijklmnopq' },
};
export type KeyName = keyof typeof KEYS;
const ring = (...names: KeyName[]) => names.map((name) => `${KEYS[name].kid}:${KEYS[name].secret}`).join(',');
export const ISSUER = 'revocable-jwt';
/**
 * REFRESH_REUSE_GRACE of the deployment, as the oracle knows it: a used refresh token presented again this long
 * after its rotation is theft. A second, so that replays of tokens rotated a moment ago come often in a short run.
 */
export const REUSE_GRACE_MS = 1000;
export const AUDIENCE = 'revocable-jwt-api';

export type Admin = Awaited<ReturnType<RedisServer['admin']>>;

export interface Deployment {
  /** The soak's own connection to the server, outside every container. */
  admin: Admin;
  /** Serves every authorization, and every sign with the current key. */
  main: Container;
  /** Serves refreshes: `main`, but for long-reuse-grace. */
  refreshContainer: Container;
  /** Serves used refresh tokens presented again: `refreshContainer`, but for reuse-to-another-redis. */
  replayContainer: Container;
  /** Serves logouts: `main`, but for logout-to-another-redis. */
  logoutContainer: Container;
  /** Another deployment still signing with the previous key: its tokens must keep working after the rotation. */
  previousSigner: Container;
  /** A deployment from before the removed key was taken out of the ring. */
  removedSigner: Container;
  /** Every container connects before the run, so the connection count is steady from the start. */
  connectAll(): Promise<void>;
  close(): Promise<void>;
}

/** The main container's keyring: what the mutation makes of the true one (current, previous). */
function mainRing(mutation: Mutation): string {
  if (mutation === 'keep-removed-key') return ring('current', 'previous', 'removed');
  if (mutation === 'drop-previous-key') return ring('current');
  return ring('current', 'previous');
}

export async function startDeployment(options: SoakOptions): Promise<Deployment> {
  const server = await startRedisServer();
  const admin = await server.admin();
  // The oracle does not model MAX_SESSIONS ending the oldest sessions (session-cap.test.ts does). A subject here
  // signs several sessions a second, those with a refresh token listed until it expires (days), and a logout of
  // all of them comes every few seconds: the highest cap keeps it out of reach.
  const containerEnv = (keys: string) => ({
    REDIS_URL: server.url,
    JWT_KEYS: keys,
    REDIS_TIMEOUT_MS: String(options.redisTimeoutMs),
    LOG_LEVEL: 'silent',
    MAX_SESSIONS: '1000',
    REFRESH_REUSE_GRACE: String(REUSE_GRACE_MS / 1000),
  });
  const main = coldStart(containerEnv(mainRing(options.mutation)));
  const elsewhere = options.mutation === 'logout-to-another-redis' || options.mutation === 'reuse-to-another-redis' ? await startRedisServer() : undefined;
  const onElsewhere = () => coldStart({ ...containerEnv(mainRing(options.mutation)), REDIS_URL: (elsewhere as RedisServer).url });
  const logoutContainer = options.mutation === 'logout-to-another-redis' ? onElsewhere() : main;
  const refreshContainer =
    options.mutation === 'long-reuse-grace' ? coldStart({ ...containerEnv(mainRing(options.mutation)), REFRESH_REUSE_GRACE: '300' }) : main;
  const replayContainer = options.mutation === 'reuse-to-another-redis' ? onElsewhere() : refreshContainer;
  const previousSigner = coldStart(containerEnv(ring('previous')));
  const removedSigner = coldStart(containerEnv(ring('removed', 'previous')));
  return {
    admin,
    main,
    refreshContainer,
    replayContainer,
    logoutContainer,
    previousSigner,
    removedSigner,
    async connectAll() {
      const warmUp = (container: Container) => container.sign(proxyEvent({ method: 'POST', path: '/auth/token', body: '{"sub":"soak-warm-up","ttl":1}' }));
      await Promise.all([main, previousSigner, removedSigner, refreshContainer].map(warmUp));
    },
    async close() {
      await Promise.all(
        [...new Set([main, previousSigner, removedSigner, logoutContainer, refreshContainer, replayContainer])].map((container) => container.close()),
      );
      await server.stop();
      await elsewhere?.stop();
    },
  };
}
