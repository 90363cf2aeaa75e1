// Where the repository is, what machine this is, and the throwaway redis-server every bench run owns.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';

export { startRedisServer, type RedisServer } from '../../testkit/redis-server';

/** The repository root, from bench/lib (ts-jest) or from bench/tmp (the bundle `npm run bench` runs). */
export function repoRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'functions')) && existsSync(join(dir, 'shared'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no repository root above ${start}`);
    dir = parent;
  }
}

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  commit: string;
  /** 1-minute load average when the run started: other work on the machine shows here. */
  loadAverage: number;
}

export function machineInfo(root: string, redisVersion: string): MachineInfo {
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    redis: redisVersion,
    commit: gitCommit(root),
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

function gitCommit(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'shared', 'functions'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty === '' ? head : `${head} (shared/ or functions/ modified)`;
  } catch {
    return 'unknown';
  }
}

/** `redis_version` from INFO server. */
export function redisVersionOf(info: string): string {
  return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
}

/** The environment of a measured child process: ours plus `extra`, minus whatever NODE_OPTIONS would preload. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}
