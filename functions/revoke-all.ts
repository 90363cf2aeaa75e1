// The operator's kill switch (npm run revoke-all), not exposed over HTTP.
import { revokeAllHandler } from '../shared/handlers/revoke-all';
import { containerServices } from '../shared/services';

export const handler = revokeAllHandler(containerServices('none'));
