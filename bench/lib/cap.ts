// `npm run bench:cap`: the Redis time one subject at MAX_SESSIONS costs, per operation. Measured inside Redis
// (INFO commandstats, in µs): Redis runs one command at a time, so this is also how long every other client
// waits behind it. Each operation is one script: its EVALSHA's time holds the commands it runs. (SLOWLOG with
// every command logged would count those twice, and its logging of each would slow the script it times.)
import { loadSessionConfig } from '../../shared/config';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { newId } from '../../shared/sessions/keys';
import type { NewSession } from '../../shared/sessions/lua';
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

/** Calls that ran, and their time, of one command in INFO commandstats (EVAL after a NOSCRIPT, EVALSHA otherwise). */
function commandStat(info: string, command: 'eval' | 'evalsha'): { calls: number; usec: number } {
  const line = new RegExp(`^cmdstat_${command}:(.*)$`, 'm').exec(info)?.[1] ?? '';
  const field = (name: string) => Number(new RegExp(`(?:^|,)${name}=(\\d+)`).exec(line)?.[1] ?? 0);
  return { calls: field('calls') - field('failed_calls') - field('rejected_calls'), usec: field('usec') };
}

export async function runCap(options: CapOptions): Promise<{ rows: CapRow[]; redis: string }> {
  setLogLevel('warn');
  const server = await startRedisServer();
  const connection = new RedisConnection({ url: server.url, timeoutMs: 60_000 });
  try {
    const admin = await server.admin();
    const redis = redisVersionOf(await admin.info('server'));
    /** Redis's own time for what `run` sends: one script, or it is not what the table says. */
    const timed = async (run: () => Promise<unknown>): Promise<number> => {
      await admin.configResetStat();
      await run();
      const info = await admin.info('commandstats');
      const scripts = [commandStat(info, 'eval'), commandStat(info, 'evalsha')];
      const calls = scripts.reduce((sum, stat) => sum + stat.calls, 0);
      if (calls !== 1) throw new Error(`expected one script call, got ${calls}`);
      return scripts.reduce((sum, stat) => sum + stat.usec, 0);
    };
    const rows: CapRow[] = [];
    for (const cap of options.caps) {
      options.progress(`bench:cap: ${thousands(cap)} sessions, ${options.rounds} rounds`);
      const store = new SessionStore(connection, 0, { ...loadSessionConfig({}), maxSessions: cap, onLimit: 'end-oldest', maxTtlSeconds: 86_400 });
      const times = { list: [] as number[], sign: [] as number[], endAll: [] as number[] };
      for (let round = 0; round <= options.rounds; round += 1) {
        await admin.flushAll();
        const nowMs = Date.now();
        // A session as sign makes it, created at `issuedAtMs`: the cap ends the oldest by creation.
        const session = (issuedAtMs: number): NewSession => {
          const exp = Math.floor(nowMs / 1000) + 900;
          return { sid: newId(SUBJECT), jti: newId(SUBJECT), sub: SUBJECT, issuedAtMs, exp, expiresAt: exp };
        };
        for (let from = 0; from < cap; from += CONCURRENCY) {
          const batch = Array.from({ length: Math.min(CONCURRENCY, cap - from) }, (_, i) => store.register(session(nowMs - cap + from + i)));
          await Promise.all(batch);
        }
        const answers: number[] = [];
        const list = await timed(async () => answers.push((await store.list(SUBJECT, Math.floor(nowMs / 1000))).length));
        const sign = await timed(() => store.register(session(nowMs)));
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
        row('GET /auth/sessions', 'EVALSHA listSessions: ZRANGE, then HMGET of every session record', times.list),
        row('sign at the cap (ends the oldest)', 'EVALSHA registerSession: HMGET of every record, sorts them, ends the oldest', times.sign),
        row('logout-all, POST /auth/revoke {sub}', 'EVALSHA endAllSessions: deletes every record and its labels', times.endAll),
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
    `Redis time per operation for one subject at MAX_SESSIONS (INFO commandstats, µs; redis-server ${redis}). Reproduce: \`${command}\`.`,
    '',
    '| MAX_SESSIONS | operation | inside Redis | median µs | max µs |',
    '| ---: | --- | --- | ---: | ---: |',
    ...rows.map((row) => `| ${thousands(row.cap)} | ${row.operation} | ${row.commands} | ${fixed(row.medianUs, 0)} | ${fixed(row.maxUs, 0)} |`),
    '',
  ].join('\n');
}
