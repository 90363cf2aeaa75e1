// The operator's kill switch, not exposed over HTTP: revokes every live token of every subject.
// Invoke with `npm run revoke-all` (see README); it asks for an explicit confirmation in the event.
import { ValidationError } from '../shared/errors';
import { elapsedMs, log } from '../shared/telemetry/log';
import { getServices } from '../shared/services';

export const CONFIRMATION = 'revoke-all';

export interface RevokeAllEvent {
  confirm?: unknown;
}

export const handler = async (event: RevokeAllEvent | null): Promise<{ revoked: number; latencyMs: number }> => {
  if (event?.confirm !== CONFIRMATION) {
    throw new ValidationError(`refusing to revoke every token: invoke with {"confirm":"${CONFIRMATION}"}`);
  }
  const started = performance.now();
  const revoked = await getServices().sessions.endEverything((deleted) => log.info('revoke-all', { outcome: 'progress', deleted }));
  const latencyMs = elapsedMs(started);
  log.warn('revoke-all', { outcome: 'revoked', revoked, latencyMs });
  return { revoked, latencyMs };
};
