// GET /me (behind the authorizer): the identity the authorizer established. No Redis, no key: only the
// origins that may read its answers.
import { loadCorsOrigins, loadLogLevel } from '../shared/config';
import { meHandler } from '../shared/handlers/me';
import { Logger } from '../shared/telemetry/log';

export const handler = meHandler({ corsOrigins: loadCorsOrigins(process.env), log: new Logger(loadLogLevel(process.env)) });
