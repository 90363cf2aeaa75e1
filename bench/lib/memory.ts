// `npm run bench:memory`: Redis memory per live session, for 100,000 sessions over 10,000 users by default: a session
// without a refresh token (its record, its index entry, its access token's label), one with a refresh token, and
// the same after one and after N refreshes with every access token they issued still alive. Each per-subject key's
// share (index, counter) is included. Sessions are signed through the token service, as sign signs them; refreshes
// go through SessionStore.rotate, the script refresh runs, with what the token service would pass it (the same
// hashes, jti and sealed secret, made by its own functions): signing each new access token would only slow the
// filling, which Redis's time for the script already bounds.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TokenService } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { SessionStore } from '../../shared/sessions/store';
import { counterKey, indexKey, labelKey, recordKey, REPLAY_PREFIX, subjectTag } from '../../shared/sessions/keys';
import { newSecret, parseRefreshToken, rotationOf, type RefreshToken } from '../../shared/sessions/refresh-token';
import { machineInfo, redisVersionOf, repoRoot, startRedisServer, type MachineInfo } from './env';
import type { MemoryOptions } from './options';
import { fixed, thousands } from './stats';

/** Calls made concurrently; node-redis pipelines them onto the one connection. */
const CONCURRENCY = 1000;
const RECORD_SAMPLE = 1000;
const INDEX_SAMPLE = 200;
/** What the sessions' access tokens carry: a session with a refresh token keeps it in its record. */
export const MEMORY_CLAIMS = { role: 'user', plan: 'pro' };

/** One kind of session, measured on its own from an empty server. */
export interface MemoryVariant {
  name: string;
  refreshToken: boolean;
  /** Refreshes each session went through, every access token they issued still alive. */
  refreshes: number;
  /** INFO memory used_memory, bytes. */
  usedMemoryBefore: number;
  usedMemoryAfter: number;
  bytesPerSession: number;
  /** INFO memory used_memory_dataset (used_memory minus the server's own overhead), bytes. */
  datasetBefore: number;
  datasetAfter: number;
  datasetBytesPerSession: number;
  keys: number;
  keysWithTtl: number;
  /** MEMORY USAGE … SAMPLES 0, averaged over a sample of keys. */
  recordBytes: number;
  /** OBJECT ENCODING of the sampled records: listpack while every field is short, hashtable beyond. */
  recordEncodings: string[];
  labelBytes: number;
  labelsPerSession: number;
  indexBytes: number;
  counterBytes: number;
  /** record + labels + (index + counter) × users / sessions: the keys alone, without the keyspace's dict entries. */
  keysBytesPerSession: number;
  /** Sessions (or refreshes) written per second while filling. */
  writesPerSecond: number;
}

export interface MemoryResult {
  machine: MachineInfo;
  command: string;
  sessions: number;
  users: number;
  ttlSeconds: number;
  refreshes: number;
  variants: MemoryVariant[];
  sampleLabel: { key: string; bytes: number; value: string | null; ttlSeconds: number };
  sampleIndex: { key: string; bytes: number; entries: number; encoding: string; ttlSeconds: number };
  sampleRecord: { key: string; bytes: number; fields: string[]; encoding: string; ttlSeconds: number };
  /** The key a rotation leaves for REFRESH_REUSE_GRACE (10 s), so that a retry gets the same pair back. */
  replayKeyBytes: number;
  zsetMaxListpackEntries: string;
  hashMaxListpackValue: string;
}

function infoField(info: string, field: string): number {
  const value = new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1];
  if (value === undefined) throw new Error(`INFO has no ${field}`);
  return Number(value);
}

const average = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Runs `work` over 0..count-1, CONCURRENCY at a time; resolves calls per second. */
async function inBatches(count: number, work: (k: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let from = 0; from < count; from += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count - from) }, (_, i) => work(from + i)));
  }
  return count / ((performance.now() - started) / 1000);
}

export async function runMemory(
  options: MemoryOptions,
  command = 'npm run bench:memory',
): Promise<{ result: MemoryResult; markdown: string; files: string[] }> {
  const root = repoRoot();
  const { progress, sessions, users } = options;
  setLogLevel('warn');
  const server = await startRedisServer();
  const connection = new RedisConnection({ url: server.url, timeoutMs: 60_000 });
  try {
    const admin = await server.admin();
    const redisVersion = redisVersionOf(await admin.info('server'));
    const config = loadConfig({ REDIS_URL: server.url, JWT_SECRET: randomBytes(48).toString('base64url') });
    const store = new SessionStore(connection, 0, { ...config.sessions, maxTtlSeconds: config.tokens.maxTtlSeconds });
    const tokens = new TokenService(connection, store, config.tokens);
    const { refreshIdleTtlSeconds, refreshReuseGraceSeconds } = store.limits;
    const subject = (k: number) => `user-${String(k % users).padStart(6, '0')}@example.com`;
    const memoryUsage = async (key: string) => Number(await admin.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
    const sids = new Array<string>(sessions);
    const jtis = new Array<string>(sessions);
    /** Each session's current refresh token, secrets and all, as its client would hold it. */
    const refreshTokens = new Array<RefreshToken>(sessions);

    /** Every figure of the server as it is now, against `before`: what `sessions` sessions of this kind take. */
    const measure = async (name: string, refreshToken: boolean, refreshes: number, before: string, writesPerSecond: number): Promise<MemoryVariant> => {
      // Let the keyspace's incremental rehash finish, so its two tables are not both counted.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await admin.info('memory');
      const keysLine = /^db0:keys=(\d+),expires=(\d+)/m.exec(await admin.info('keyspace'));
      const step = Math.max(1, Math.floor(sessions / RECORD_SAMPLE));
      const records: number[] = [];
      const labels: number[] = [];
      const encodings = new Set<string>();
      for (let k = 0; k < sessions; k += step) {
        records.push(await memoryUsage(recordKey(sids[k] as string)));
        encodings.add(await admin.sendCommand<string>(['OBJECT', 'ENCODING', recordKey(sids[k] as string)]));
        labels.push(await memoryUsage(labelKey(jtis[k] as string)));
      }
      const indexStep = Math.max(1, Math.floor(users / INDEX_SAMPLE));
      const indexes: number[] = [];
      const counters: number[] = [];
      for (let u = 0; u < users; u += indexStep) {
        indexes.push(await memoryUsage(indexKey(subjectTag(subject(u)))));
        counters.push(await memoryUsage(counterKey(subjectTag(subject(u)))));
      }
      const usedMemoryBefore = infoField(before, 'used_memory');
      const usedMemoryAfter = infoField(after, 'used_memory');
      const datasetBefore = infoField(before, 'used_memory_dataset');
      const datasetAfter = infoField(after, 'used_memory_dataset');
      const labelsPerSession = refreshes + 1;
      const variant: MemoryVariant = {
        name,
        refreshToken,
        refreshes,
        usedMemoryBefore,
        usedMemoryAfter,
        bytesPerSession: (usedMemoryAfter - usedMemoryBefore) / sessions,
        datasetBefore,
        datasetAfter,
        datasetBytesPerSession: (datasetAfter - datasetBefore) / sessions,
        keys: Number(keysLine?.[1] ?? Number.NaN),
        keysWithTtl: Number(keysLine?.[2] ?? Number.NaN),
        recordBytes: average(records),
        recordEncodings: [...encodings].sort(),
        labelBytes: average(labels),
        labelsPerSession,
        indexBytes: average(indexes),
        counterBytes: average(counters),
        keysBytesPerSession: average(records) + average(labels) * labelsPerSession + ((average(indexes) + average(counters)) * users) / sessions,
        writesPerSecond,
      };
      progress(`bench:memory: ${name}: ${fixed(variant.bytesPerSession, 0)} B per session`);
      return variant;
    };

    /** Signs every session, with a refresh token or not, into an empty server. */
    const signAll = async (refresh: boolean): Promise<{ before: string; rate: number }> => {
      await admin.flushAll();
      const before = await admin.info('memory');
      const rate = await inBatches(sessions, async (k) => {
        const issued = await tokens.issue({ sub: subject(k), claims: MEMORY_CLAIMS, ttlSeconds: options.ttlSeconds, refresh });
        sids[k] = issued.sid;
        jtis[k] = issued.jti;
        if (issued.refresh !== undefined) refreshTokens[k] = parseRefreshToken(issued.refresh.token) as RefreshToken;
      });
      return { before, rate };
    };

    let replayKeyBytes = Number.NaN;
    /**
     * Refreshes every session once, as TokenService.refresh does; their replay keys are dropped, as
     * REFRESH_REUSE_GRACE would drop them seconds later.
     */
    const refreshAll = async (): Promise<number> => {
      const rate = await inBatches(sessions, async (k) => {
        const token = refreshTokens[k] as RefreshToken;
        const next = newSecret();
        const reply = await store.rotate(token.tag, rotationOf(token, next, Date.now(), { refreshIdleTtlSeconds, refreshReuseGraceSeconds }));
        if (reply[0] !== 'rotated') throw new Error(`a refresh was ${reply[0]}: ${reply[1]}`);
        refreshTokens[k] = { ...token, secret: next };
      });
      if (Number.isNaN(replayKeyBytes)) replayKeyBytes = await memoryUsage(`${REPLAY_PREFIX}${sids[0] as string}`);
      await inBatches(sessions, (k) => admin.unlink(`${REPLAY_PREFIX}${sids[k] as string}`));
      return rate;
    };

    progress(`bench:memory: ${thousands(sessions)} sessions over ${thousands(users)} users on redis-server ${redisVersion}`);
    const variants: MemoryVariant[] = [];
    const plain = await signAll(false);
    variants.push(await measure('no refresh token', false, 0, plain.before, plain.rate));
    const firstIndex = indexKey(subjectTag(subject(0)));
    const sampleIndex = {
      key: firstIndex,
      bytes: await memoryUsage(firstIndex),
      entries: await admin.zCard(firstIndex),
      encoding: await admin.sendCommand<string>(['OBJECT', 'ENCODING', firstIndex]),
      ttlSeconds: await admin.ttl(firstIndex),
    };
    const firstLabel = labelKey(jtis[0] as string);
    const sampleLabel = { key: firstLabel, bytes: await memoryUsage(firstLabel), value: await admin.get(firstLabel), ttlSeconds: await admin.ttl(firstLabel) };

    const withRefresh = await signAll(true);
    variants.push(await measure('with a refresh token', true, 0, withRefresh.before, withRefresh.rate));
    const firstRecord = recordKey(sids[0] as string);
    const sampleRecord = {
      key: firstRecord,
      bytes: await memoryUsage(firstRecord),
      fields: await admin.hKeys(firstRecord),
      encoding: await admin.sendCommand<string>(['OBJECT', 'ENCODING', firstRecord]),
      ttlSeconds: await admin.ttl(firstRecord),
    };
    variants.push(await measure('after 1 refresh', true, 1, withRefresh.before, await refreshAll()));
    const rates: number[] = [];
    for (let done = 1; done < options.refreshes; done += 1) rates.push(await refreshAll());
    if (options.refreshes > 1)
      variants.push(await measure(`after ${options.refreshes} refreshes`, true, options.refreshes, withRefresh.before, average(rates)));

    const zsetMax = await admin.configGet('zset-max-listpack-entries');
    const hashMax = await admin.configGet('hash-max-listpack-value');
    const result: MemoryResult = {
      machine: machineInfo(root, redisVersion),
      command,
      sessions,
      users,
      ttlSeconds: options.ttlSeconds,
      refreshes: options.refreshes,
      variants,
      sampleLabel,
      sampleIndex,
      sampleRecord,
      replayKeyBytes,
      zsetMaxListpackEntries: String(zsetMax['zset-max-listpack-entries'] ?? 'unknown'),
      hashMaxListpackValue: String(hashMax['hash-max-listpack-value'] ?? 'unknown'),
    };
    const text = memoryMarkdown(result);
    mkdirSync(options.out, { recursive: true });
    const files = [join(options.out, 'memory.md'), join(options.out, 'memory.json')];
    writeFileSync(files[0] as string, `${text}\n`);
    writeFileSync(files[1] as string, `${JSON.stringify(result, null, 2)}\n`);
    return { result, markdown: text, files };
  } finally {
    await connection.close();
    await server.stop();
  }
}

export function memoryMarkdown(result: MemoryResult): string {
  const { machine, variants } = result;
  const perUser = result.sessions / result.users;
  const cells = (cell: (variant: MemoryVariant) => string) => `| ${variants.map(cell).join(' | ')} |`;
  const lines = [
    '# Redis memory per live session',
    '',
    `Measured ${machine.date} on redis-server ${machine.redis} (${machine.os}, Node ${machine.node}, commit ${machine.commit}).`,
    '',
    `Reproduce: \`${result.command}\`. ${thousands(result.sessions)} sessions over ${thousands(result.users)} users (${fixed(perUser, 1)} each), access tokens of ${result.ttlSeconds} s carrying \`${JSON.stringify(MEMORY_CLAIMS)}\`, no device or ip, signed through the token service and refreshed through \`SessionStore.rotate\` (the scripts sign and refresh run) into an empty server; INFO memory read before and after. Refreshed sessions keep every access token they issued alive (each refresh adds a label), as when a client refreshes long before its token expires; the replay key each refresh leaves for REFRESH_REUSE_GRACE is dropped before measuring (${result.replayKeyBytes} B each while it lives).`,
    '',
    `| Per session | ${variants.map((variant) => variant.name).join(' | ')} |`,
    `| --- |${variants.map(() => ' ---: |').join('')}`,
    `| **used_memory** (records, labels, indexes, counters, keyspace overhead) ${cells((variant) => `**${fixed(variant.bytesPerSession, 0)} B**`)}`,
    `| used_memory_dataset ${cells((variant) => `${fixed(variant.datasetBytesPerSession, 0)} B`)}`,
    `| keys alone (MEMORY USAGE: record + labels + index and counter share) ${cells((variant) => `${fixed(variant.keysBytesPerSession, 0)} B`)}`,
    `| its record, MEMORY USAGE (encoding) ${cells((variant) => `${fixed(variant.recordBytes, 0)} B (${variant.recordEncodings.join(', ')})`)}`,
    `| live access tokens (labels), ${fixed(variants[0]?.labelBytes ?? Number.NaN, 0)} B each ${cells((variant) => String(variant.labelsPerSession))}`,
    `| for 1,000,000 sessions ${cells((variant) => `${fixed((variant.bytesPerSession * 1e6) / 2 ** 20, 0)} MiB`)}`,
    `| keys in all, with a TTL ${cells((variant) => `${thousands(variant.keys)}, ${thousands(variant.keysWithTtl)}`)}`,
    `| written per second while filling (signs, then refreshes; pipelined, one connection) ${cells((variant) => thousands(variant.writesPerSecond))}`,
    '',
    `Sample record \`${result.sampleRecord.key}\` of a session with a refresh token, before its first refresh: ${result.sampleRecord.bytes} B, encoding ${result.sampleRecord.encoding}, fields ${result.sampleRecord.fields.join(', ')}, TTL ${result.sampleRecord.ttlSeconds} s (its refresh token's life). A record stays a listpack while every value is at most hash-max-listpack-value (${result.hashMaxListpackValue}) bytes; the list of its live access tokens passes that with the second one, and the record becomes a hashtable.`,
    '',
    `Sample label \`${result.sampleLabel.key}\`: ${result.sampleLabel.bytes} B, value \`${result.sampleLabel.value ?? 'nil'}\` (an integer, which Redis keeps inside the key's object), TTL ${result.sampleLabel.ttlSeconds} s.`,
    '',
    `Sample index \`${result.sampleIndex.key}\` (sessions without a refresh token): ${result.sampleIndex.bytes} B for ${result.sampleIndex.entries} entries, encoding ${result.sampleIndex.encoding} (zset-max-listpack-entries ${result.zsetMaxListpackEntries}), TTL ${result.sampleIndex.ttlSeconds} s.`,
    '',
    "used_memory counts what MEMORY USAGE does not: each key's entry in the keyspace and in the expires table, and the tables' growth to the next power of two.",
    '',
  ];
  return lines.join('\n');
}
