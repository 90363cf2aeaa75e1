// `npm run bench:memory`: Redis memory per live session (its label plus its share of the subject's index and revocation counter),
// for 100,000 sessions over 10,000 users by default, written through SessionStore.register as sign does.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setLogLevel } from '../../shared/telemetry/log';
import { RedisConnection } from '../../shared/redis/connection';
import { indexKey, labelKey, newJti, SessionStore, subjectTag } from '../../shared/sessions/store';
import { machineInfo, redisVersionOf, repoRoot, startRedisServer, type MachineInfo } from './env';
import type { MemoryOptions } from './options';
import { fixed, kib, thousands } from './stats';

/** Sessions written concurrently; node-redis pipelines them onto the one connection. */
const CONCURRENCY = 1000;
const LABEL_SAMPLE = 1000;
const INDEX_SAMPLE = 200;

export interface MemoryResult {
  machine: MachineInfo;
  command: string;
  sessions: number;
  users: number;
  ttlSeconds: number;
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
  labelBytes: number;
  indexBytes: number;
  /** labelBytes + indexBytes × users / sessions: the keys alone, without the keyspace's dict entries. */
  keysBytesPerSession: number;
  sampleLabel: { key: string; bytes: number; value: string | null; ttlSeconds: number };
  sampleIndex: { key: string; bytes: number; entries: number; encoding: string; ttlSeconds: number };
  zsetMaxListpackEntries: string;
  registerPerSecond: number;
}

function infoField(info: string, field: string): number {
  const value = new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1];
  if (value === undefined) throw new Error(`INFO has no ${field}`);
  return Number(value);
}

export async function runMemory(
  options: MemoryOptions,
  command = 'npm run bench:memory',
): Promise<{ result: MemoryResult; markdown: string; files: string[] }> {
  const root = repoRoot();
  const { progress } = options;
  setLogLevel('warn');
  const server = await startRedisServer();
  const connection = new RedisConnection({ url: server.url, timeoutMs: 60_000 });
  try {
    const admin = await server.admin();
    const redisVersion = redisVersionOf(await admin.info('server'));
    await admin.flushAll();
    const before = await admin.info('memory');
    const store = new SessionStore(connection);

    progress(`bench:memory: registering ${thousands(options.sessions)} sessions over ${thousands(options.users)} users on redis-server ${redisVersion}`);
    const jtis = new Array<string>(options.sessions);
    const nowMs = Date.now();
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + options.ttlSeconds;
    const subject = (k: number) => `user-${String(k % options.users).padStart(6, '0')}@example.com`;
    const started = performance.now();
    for (let from = 0; from < options.sessions; from += CONCURRENCY) {
      const to = Math.min(options.sessions, from + CONCURRENCY);
      const pending: Array<Promise<void>> = [];
      for (let k = from; k < to; k += 1) {
        const sub = subject(k);
        const jti = newJti(sub);
        jtis[k] = jti;
        pending.push(store.register(sub, jti, exp, nowMs));
      }
      await Promise.all(pending);
    }
    const registerPerSecond = options.sessions / ((performance.now() - started) / 1000);
    // Let the keyspace's incremental rehash finish, so its two tables are not both counted.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await admin.info('memory');
    const keyspace = await admin.info('keyspace');

    const memoryUsage = async (key: string) => Number(await admin.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
    const step = Math.max(1, Math.floor(options.sessions / LABEL_SAMPLE));
    const labelSample: number[] = [];
    for (let k = 0; k < options.sessions; k += step) labelSample.push(await memoryUsage(labelKey(jtis[k] as string)));
    const indexStep = Math.max(1, Math.floor(options.users / INDEX_SAMPLE));
    const indexSample: number[] = [];
    for (let u = 0; u < options.users; u += indexStep) indexSample.push(await memoryUsage(indexKey(subjectTag(subject(u)))));
    const average = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

    const firstLabel = labelKey(jtis[0] as string);
    const firstIndex = indexKey(subjectTag(subject(0)));
    const keysLine = /^db0:keys=(\d+),expires=(\d+)/m.exec(keyspace);
    const configured = await admin.configGet('zset-max-listpack-entries');

    const usedMemoryBefore = infoField(before, 'used_memory');
    const usedMemoryAfter = infoField(after, 'used_memory');
    const datasetBefore = infoField(before, 'used_memory_dataset');
    const datasetAfter = infoField(after, 'used_memory_dataset');
    const labelBytes = average(labelSample);
    const indexBytes = average(indexSample);
    const result: MemoryResult = {
      machine: machineInfo(root, redisVersion),
      command,
      sessions: options.sessions,
      users: options.users,
      ttlSeconds: options.ttlSeconds,
      usedMemoryBefore,
      usedMemoryAfter,
      bytesPerSession: (usedMemoryAfter - usedMemoryBefore) / options.sessions,
      datasetBefore,
      datasetAfter,
      datasetBytesPerSession: (datasetAfter - datasetBefore) / options.sessions,
      keys: Number(keysLine?.[1] ?? Number.NaN),
      keysWithTtl: Number(keysLine?.[2] ?? Number.NaN),
      labelBytes,
      indexBytes,
      keysBytesPerSession: labelBytes + (indexBytes * options.users) / options.sessions,
      sampleLabel: { key: firstLabel, bytes: await memoryUsage(firstLabel), value: await admin.get(firstLabel), ttlSeconds: await admin.ttl(firstLabel) },
      sampleIndex: {
        key: firstIndex,
        bytes: await memoryUsage(firstIndex),
        entries: await admin.zCard(firstIndex),
        encoding: await admin.sendCommand<string>(['OBJECT', 'ENCODING', firstIndex]),
        ttlSeconds: await admin.ttl(firstIndex),
      },
      zsetMaxListpackEntries: String(configured['zset-max-listpack-entries'] ?? 'unknown'),
      registerPerSecond,
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
  const { machine } = result;
  const perUser = result.sessions / result.users;
  const lines = [
    '# Redis memory per live session',
    '',
    `Measured ${machine.date} on redis-server ${machine.redis} (${machine.os}, Node ${machine.node}, commit ${machine.commit}).`,
    '',
    `Reproduce: \`${result.command}\`. ${thousands(result.sessions)} sessions over ${thousands(result.users)} users (${fixed(perUser, 1)} each), TTL ${result.ttlSeconds} s, written through \`SessionStore.register\` (the script sign runs) into an empty server; INFO memory read before and after.`,
    '',
    '| Measure | Value |',
    '| --- | ---: |',
    `| **used_memory per session** (labels + indexes + counters + keyspace overhead) | **${fixed(result.bytesPerSession, 0)} B** |`,
    `| used_memory_dataset per session | ${fixed(result.datasetBytesPerSession, 0)} B |`,
    `| keys alone per session (MEMORY USAGE: label + index share) | ${fixed(result.keysBytesPerSession, 0)} B |`,
    `| used_memory before → after | ${kib(result.usedMemoryBefore)} → ${kib(result.usedMemoryAfter)} |`,
    `| keys (labels + indexes + counters), with a TTL | ${thousands(result.keys)}, ${thousands(result.keysWithTtl)} |`,
    `| one label, MEMORY USAGE (average of a sample) | ${fixed(result.labelBytes, 0)} B |`,
    `| one index of ~${fixed(perUser, 0)} sessions, MEMORY USAGE (average of a sample) | ${fixed(result.indexBytes, 0)} B |`,
    `| for 1,000,000 sessions at this ratio | ${fixed((result.bytesPerSession * 1e6) / 2 ** 20, 0)} MiB |`,
    `| register rate while filling (pipelined, one connection) | ${thousands(result.registerPerSecond)} sessions/s |`,
    '',
    `Sample label \`${result.sampleLabel.key}\`: ${result.sampleLabel.bytes} B, value \`${result.sampleLabel.value ?? 'nil'}\` (an integer, which Redis keeps inside the key's object), TTL ${result.sampleLabel.ttlSeconds} s.`,
    '',
    `Sample index \`${result.sampleIndex.key}\`: ${result.sampleIndex.bytes} B for ${result.sampleIndex.entries} entries, encoding ${result.sampleIndex.encoding} (zset-max-listpack-entries ${result.zsetMaxListpackEntries}), TTL ${result.sampleIndex.ttlSeconds} s.`,
    '',
    "used_memory counts what MEMORY USAGE does not: each key's entry in the keyspace and in the expires table, and the tables' growth to the next power of two.",
    '',
  ];
  return lines.join('\n');
}
