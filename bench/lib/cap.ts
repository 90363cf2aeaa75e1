// `npm run bench:cap`: the Redis time one subject at MAX_SESSIONS costs, per operation. Measured inside Redis
// (SLOWLOG, every command logged, in µs): Redis runs one command at a time, so this is also how long every
// other client waits behind it.
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { newJti, SessionStore } from '../../shared/sessions/store';
import { redisVersionOf, startRedisServer } from './env';
import { fixed, median, thousands } from './stats';

/** Sessions written concurrently while filling; node-redis pipelines them onto the one connection. */
const CONCURRENCY = 1000;
const SUBJECT = 'cap-user';

export interface CapOptions {
  /** MAX_SESSIONS values to measure at. */
  caps: number[];
  /** Measured rounds per cap, after one untimed round that loads the scripts. */
  rounds: number;
  progress: (line: string) => void;
}

export interface CapRow {
  cap: number;
  operation: string;
  /** What runs inside Redis. */
  commands: string;
  medianUs: number;
  maxUs: number;
}

type SlowlogEntry = [number, number, number, string[], ...unknown[]];

export async function runCap(options: CapOptions): Promise<{ rows: CapRow[]; redis: string }> {
  setLogLevel('warn');
  const server = await startRedisServer(['--slowlog-log-slower-than', '0', '--slowlog-max-len', '1024']);
  const connection = new RedisConnection({ url: server.url, timeoutMs: 60_000 });
  try {
    const admin = await server.admin();
    const redis = redisVersionOf(await admin.info('server'));
    /** Redis's own time for what `run` sends, summed over its commands (the admin's SLOWLOG calls left out). */
    const timed = async (run: () => Promise<unknown>): Promise<number> => {
      await admin.sendCommand(['SLOWLOG', 'RESET']);
      await run();
      const entries = await admin.sendCommand<SlowlogEntry[]>(['SLOWLOG', 'GET', '1024']);
      return entries.filter(([, , , args]) => args[0]?.toUpperCase() !== 'SLOWLOG').reduce((sum, [, , micros]) => sum + micros, 0);
    };
    const rows: CapRow[] = [];
    for (const cap of options.caps) {
      options.progress(`bench:cap: ${thousands(cap)} sessions, ${options.rounds} rounds`);
      const store = new SessionStore(connection, 0, { maxSessions: cap, onLimit: 'end-oldest', maxTtlSeconds: 86_400 });
      const times = { list: [] as number[], sign: [] as number[], endAll: [] as number[] };
      for (let round = 0; round <= options.rounds; round += 1) {
        await admin.flushAll();
        const nowMs = Date.now();
        const exp = Math.floor(nowMs / 1000) + 900;
        for (let from = 0; from < cap; from += CONCURRENCY) {
          const batch = Array.from({ length: Math.min(CONCURRENCY, cap - from) }, (_, i) =>
            store.register(SUBJECT, newJti(SUBJECT), exp, nowMs - cap + from + i),
          );
          await Promise.all(batch);
        }
        const answers: number[] = [];
        const list = await timed(async () => answers.push((await store.list(SUBJECT, Math.floor(nowMs / 1000))).length));
        const sign = await timed(() => store.register(SUBJECT, newJti(SUBJECT), exp, nowMs));
        const endAll = await timed(async () => answers.push(await store.endAll(SUBJECT)));
        // Each ran at the cap: the listing had every session, the sign ended one to fit, logout-all ended them all.
        if (answers.join() !== `${cap},${cap}`) throw new Error(`expected ${cap} sessions listed and ended, got ${answers.join(' and ')}`);
        if (round === 0) continue;
        times.list.push(list);
        times.sign.push(sign);
        times.endAll.push(endAll);
      }
      const row = (operation: string, commands: string, samples: number[]) => ({
        cap,
        operation,
        commands,
        medianUs: median(samples),
        maxUs: Math.max(...samples),
      });
      rows.push(
        row('GET /auth/sessions', 'ZRANGE, then MGET of the counter and every label', times.list),
        row('sign at the cap (ends the oldest)', 'EVALSHA registerSession: reads every label, sorts them', times.sign),
        row('logout-all, POST /auth/revoke {sub}', 'EVALSHA endAllSessions: deletes every label', times.endAll),
      );
    }
    return { rows, redis };
  } finally {
    await connection.close();
    await server.stop();
  }
}

export function capMarkdown(rows: CapRow[], redis: string, command: string): string {
  return [
    `Redis time per operation for one subject at MAX_SESSIONS (SLOWLOG, µs; redis-server ${redis}). Reproduce: \`${command}\`.`,
    '',
    '| MAX_SESSIONS | operation | inside Redis | median µs | max µs |',
    '| ---: | --- | --- | ---: | ---: |',
    ...rows.map((row) => `| ${thousands(row.cap)} | ${row.operation} | ${row.commands} | ${fixed(row.medianUs, 0)} | ${fixed(row.maxUs, 0)} |`),
    '',
  ].join('\n');
}
