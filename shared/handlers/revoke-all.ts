// The operator's kill switch, not exposed over HTTP: revokes every live token of every subject.
// Invoked with `npm run revoke-all`; it asks for an explicit confirmation in the event.
import { ValidationError } from '../errors';
import type { Services } from '../services';
import { elapsedMs } from '../telemetry/log';

export const CONFIRMATION = 'revoke-all';

export interface RevokeAllEvent {
  confirm?: unknown;
}

export type RevokeAllHandler = (event: RevokeAllEvent | null) => Promise<{ revoked: number; latencyMs: number }>;

export function revokeAllHandler({ sessions, log }: Pick<Services, 'sessions' | 'log'>): RevokeAllHandler {
  return async (event) => {
    if (event?.confirm !== CONFIRMATION) {
      throw new ValidationError(`refusing to revoke every token: invoke with {"confirm":"${CONFIRMATION}"}`);
    }
    const started = performance.now();
    const revoked = await sessions.endEverything((deleted) => log.info('revoke-all', { outcome: 'progress', deleted }));
    const latencyMs = elapsedMs(started);
    log.warn('revoke-all', { outcome: 'revoked', revoked, latencyMs });
    return { revoked, latencyMs };
  };
}
