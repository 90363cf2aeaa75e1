// `npm run revoke-all -- --yes [--stage <stage>]`: the operator's kill switch. Revokes every live token.
//
//   without --stage   runs here against REDIS_URL (only REDIS_URL and REDIS_TIMEOUT_MS are read)
//   --stage <stage>   invokes the deployed revokeAll function of that stage (needs AWS credentials)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CONFIRMATION } from '../shared/handlers/revoke-all';
import { loadLogLevel, loadRedisConfig } from '../shared/config';
import { log, setLogLevel } from '../shared/telemetry/log';
import { RedisConnection } from '../shared/redis/connection';
import { SessionStore } from '../shared/sessions/store';

const USAGE = 'usage: npm run revoke-all -- --yes [--stage <stage>]';

async function main(args: string[]): Promise<number> {
  if (!args.includes('--yes')) {
    console.error(`Refusing to revoke every token without --yes.\n${USAGE}`);
    return 2;
  }
  const stageIndex = args.indexOf('--stage');
  if (stageIndex >= 0) {
    const stage = args[stageIndex + 1];
    if (stage === undefined || stage.startsWith('-')) {
      console.error(`--stage needs a value.\n${USAGE}`);
      return 2;
    }
    const serverless = join(__dirname, '..', 'node_modules', 'serverless', 'bin', 'serverless.js');
    const invoked = spawnSync(
      process.execPath,
      [serverless, 'invoke', '--function', 'revokeAll', '--stage', stage, '--data', JSON.stringify({ confirm: CONFIRMATION })],
      { stdio: 'inherit' },
    );
    return invoked.status ?? 1;
  }
  // The kill switch needs Redis only: no signing key is asked for here.
  setLogLevel(loadLogLevel(process.env));
  const redisConfig = loadRedisConfig(process.env);
  const redis = new RedisConnection(redisConfig);
  try {
    const started = Date.now();
    const revoked = await new SessionStore(redis, redisConfig.waitReplicas).endEverything((sofar) =>
      log.info('revoke-all', { outcome: 'progress', revoked: sofar }),
    );
    console.log(`revoked ${revoked} tokens in ${Date.now() - started} ms`);
    return 0;
  } finally {
    await redis.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`revoke-all failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
