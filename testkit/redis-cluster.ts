// A throwaway Redis Cluster: three primaries with a replica each, on free ports, made with redis-cli; over
// TLS and with an ACL file if asked, so that clients must speak TLS to and log in on every node.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server';

export interface RedisCluster {
  nodes: RedisServer[];
  /** A node to use as the configuration endpoint. */
  readonly url: string;
  /** The primary that serves a key's slot right now. */
  primaryFor(key: string): Promise<RedisServer>;
  /** Resolves once every slot is served, the state is ok as every live node sees it, and replicas synced. */
  waitUntilHealthy(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Every node serves TLS only, clients, replication and the cluster bus alike (see RedisServerOptions.tls). */
  tls?: RedisServerOptions['tls'];
  /** Every node reads this ACL file, and replicas and the tests' own clients log in as `admin`. */
  acl?: {
    /** ACL file lines: `admin` must be a user there allowed everything (`~* &* +@all`). */
    users: string[];
    admin: { username: string; password: string };
  };
}

export async function startRedisCluster({ acl, tls }: RedisClusterOptions = {}): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const nodes: RedisServer[] = [];
  let authArgs: string[] = [];
  let cliAuth: string[] = [];
  if (acl !== undefined) {
    const aclFile = join(dir, 'users.acl');
    writeFileSync(aclFile, `${acl.users.join('\n')}\n`);
    authArgs = ['--aclfile', aclFile, '--masteruser', acl.admin.username, '--masterauth', acl.admin.password];
    cliAuth = ['--user', acl.admin.username, '--pass', acl.admin.password, '--no-auth-warning'];
  }
  const tlsArgs = tls === undefined ? [] : ['--tls-cluster', 'yes', '--tls-replication', 'yes'];
  const cliTls = tls === undefined ? [] : ['--tls', '--cacert', tls.caFile];
  try {
    for (let i = 0; i < 6; i += 1) {
      // A folder each: a replica's full sync writes dump.rdb there, which nodes must not share.
      const nodeDir = join(dir, `node-${i}`);
      mkdirSync(nodeDir);
      nodes.push(
        await startRedisServer(
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(nodeDir, 'nodes.conf'),
            // Fail over within about a second of a primary going silent.
            '--cluster-node-timeout',
            '1000',
            '--dir',
            nodeDir,
            // Replicas sync at once, not after the default 5 s wait for more replicas to join.
            '--repl-diskless-sync-delay',
            '0',
            ...authArgs,
            ...tlsArgs,
          ],
          { admin: acl?.admin, tls },
        ),
      );
    }
    await promisify(execFile)(
      'redis-cli',
      [...cliAuth, ...cliTls, '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { timeout: 30_000 },
    );
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const cluster: RedisCluster = {
    nodes,
    url: (nodes[0] as RedisServer).url,
    async primaryFor(key) {
      const admin = await (nodes[0] as RedisServer).admin();
      const slot = Number(await admin.sendCommand(['CLUSTER', 'KEYSLOT', key]));
      const ranges = await admin.sendCommand<Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>>(['CLUSTER', 'SLOTS']);
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const port = range?.[2][1];
      const primary = nodes.find((node) => node.port === port);
      if (primary === undefined) throw new Error(`no primary serves slot ${slot}`);
      return primary;
    },
    async waitUntilHealthy() {
      const deadline = Date.now() + 20_000;
      const healthy = async (node: RedisServer) => {
        const admin = await node.admin();
        const info = await admin.sendCommand<string>(['CLUSTER', 'INFO']);
        const replication = await admin.info('replication');
        // A replica that never synced cannot take over: wait for every link to be up.
        const synced = !replication.includes('role:slave') || replication.includes('master_link_status:up');
        return synced && info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
      };
      while (Date.now() < deadline) {
        const live = nodes.filter((node) => node.alive);
        if ((await Promise.all(live.map((node) => healthy(node).catch(() => false)))).every(Boolean)) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('the cluster did not become healthy within 20 s');
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.waitUntilHealthy();
  return cluster;
}
