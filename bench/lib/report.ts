// Turns one run into the reach-target verdicts, a Markdown report, a small SVG chart and JSON.
import { LAMBDA_BUILD, type ColdResult } from './cold';
import type { MachineInfo } from './env';
import type { FloorId, LatencyRow, WarmResult, WarmSettings } from './protocol';
import { fixed, kib, ratio, thousands } from './stats';

export interface TargetRow {
  target: string;
  measured: string;
  limit: string;
  pass: boolean;
}

export interface BenchResult {
  machine: MachineInfo;
  command: string;
  settings: WarmSettings & { coldRuns: number };
  /** Counts far below the defaults: the figures only show that the bench runs. */
  smoke: boolean;
  warm: WarmResult;
  cold: ColdResult;
  targets: TargetRow[];
}

type LogLevel = 'silent' | 'info';

/**
 * The handlers this run compares with their floors, the floor of each, and the most each may cost over it,
 * p50 to p50, at each log level held to a limit. At `info` a handler writes its one JSON line per request,
 * with its metrics: that line is the price of observability, so the authorizer and logout get a wider
 * limit there. Sign's floor is its own script through a bare client plus an HMAC, and it is held to its
 * limit with the line written. Refresh's floor is the same for its own script; refresh is held to its limit
 * with logging silent, as the authorizer and logout are. The authorizer with an ES256 ring is held to its own floor
 * (a raw ECDSA verify and a GET) with logging silent.
 */
export const FLOORS: Record<FloorId, { floor: string; title: string; limits: Partial<Record<LogLevel, number>> }> = {
  authorizer: {
    floor: 'floor-authorizer',
    title: "Authorizer — floor: HMAC check + MGET of the label and its subject's revocation counter",
    limits: { silent: 1.25, info: 1.35 },
  },
  sign: {
    floor: 'floor-sign',
    title: "Sign — floor: HMAC + EVALSHA registerSession (sign's own script through a bare client: its one round trip)",
    limits: { info: 1.25 },
  },
  logout: { floor: 'floor-logout', title: 'Logout — floor: HMAC + DEL (logout does one EVALSHA round trip)', limits: { silent: 1.25, info: 1.35 } },
  refresh: {
    floor: 'floor-refresh',
    title: "Refresh — floor: HMAC-SHA256 sign + EVALSHA rotateRefresh (refresh's own script through a bare client: its one round trip)",
    limits: { silent: 1.25 },
  },
  'authorizer-es256': {
    floor: 'floor-authorizer-es256',
    title: 'Authorizer with JWT_ALG=ES256 — floor: ECDSA P-256 verify (raw, KeyObject) + GET of the label',
    limits: { silent: 1.25 },
  },
};

/**
 * Throughput: the authorizer's share of its floor's own. Bundles and load: over the dependency core's, the
 * Redis client alone. The service's own code, 24–28 KiB minified, is 6–7% of that core, so bundles are held
 * to 1.10×, as load is: that still refuses any library pulled in by accident (Powertools would add 48 KiB).
 */
const LIMITS = { throughputVsFloor: 0.8, bundleVsCore: 1.1, loadVsCoreWithClient: 1.1 };

function row(warm: WarmResult, id: string): LatencyRow {
  const found = warm.latency.find((candidate) => candidate.id === id);
  if (found === undefined) throw new Error(`no latency row ${id}`);
  return found;
}

export function floorRatio(warm: WarmResult, id: string, field: 'p50' | 'p99' = 'p50'): number {
  const candidate = row(warm, id);
  if (candidate.floor === undefined) return Number.NaN;
  return candidate.summary[field] / row(warm, FLOORS[candidate.floor].floor).summary[field];
}

function throughput(warm: WarmResult, id: string): number {
  return warm.throughput.find((candidate) => candidate.id === id)?.opsPerSecond ?? Number.NaN;
}

/** Calls per second of a throughput row over its floor's (the floor of the latency row of the same id). */
function throughputVsFloor(warm: WarmResult, id: string): number {
  const floor = warm.latency.find((candidate) => candidate.id === id)?.floor;
  return floor === undefined ? Number.NaN : throughput(warm, id) / throughput(warm, FLOORS[floor].floor);
}

export function evaluateTargets(warm: WarmResult, cold: ColdResult, inFlight: number): TargetRow[] {
  const targets: TargetRow[] = [];
  for (const [name, { floor, limits }] of Object.entries(FLOORS)) {
    const floorRow = row(warm, floor);
    for (const [level, limit] of Object.entries(limits) as Array<[LogLevel, number]>) {
      const handler = `${name}-${level}`;
      const value = floorRatio(warm, handler);
      // With one limit only, the other level is shown for the record.
      const other =
        Object.keys(limits).length === 1
          ? `; log ${level === 'info' ? 'silent' : 'info'} ${ratio(floorRatio(warm, `${name}-${level === 'info' ? 'silent' : 'info'}`))}`
          : '';
      targets.push({
        target: `${name} warm p50 vs its floor (${floorRow.label.replace(/^floor: /, '')}), log ${level}${level === 'info' ? ' (one JSON line per request)' : ''}`,
        measured: `${ratio(value)} (${fixed(row(warm, handler).summary.p50)} vs ${fixed(floorRow.summary.p50)} µs${other})`,
        limit: `≤ ${ratio(limit)}`,
        pass: value <= limit,
      });
    }
  }
  // The authorizer's throughput against its floor's own: how much of what one HMAC and one MGET allow it
  // keeps. Held with logging silent: a Lambda container serves one request at a time, so many in flight in
  // one process measure CPU per decision, and the line's own cost (a write to stdout) is held by the
  // latency target at info. The share at info is shown for the record.
  const percent = (value: number) => `${fixed(value * 100, 0)} %`;
  const share = throughputVsFloor(warm, 'authorizer-silent');
  targets.push({
    target: `authorizer throughput vs its floor's (${row(warm, 'floor-authorizer').label.replace(/^floor: /, '')}), ${inFlight} in flight, log silent`,
    measured: `${percent(share)} (${thousands(throughput(warm, 'authorizer-silent'))} vs ${thousands(throughput(warm, 'floor-authorizer'))} calls/s; log info ${percent(throughputVsFloor(warm, 'authorizer-info'))})`,
    limit: `≥ ${fixed(LIMITS.throughputVsFloor * 100, 0)} %`,
    pass: share >= LIMITS.throughputVsFloor,
  });
  const biggest = [...cold.bundles].sort((a, b) => b.vsCore - a.vsCore)[0];
  if (biggest !== undefined) {
    targets.push({
      target: 'largest function bundle vs dependency core (minified)',
      measured: `${ratio(biggest.vsCore, 3)} (${biggest.name}: ${kib(biggest.bytes)} vs ${kib(cold.core.bytes)})`,
      limit: `≤ ${ratio(LIMITS.bundleVsCore)}`,
      pass: biggest.vsCore <= LIMITS.bundleVsCore,
    });
  }
  const carrying = cold.bundles.filter((bundle) => bundle.unusedRedisModules.length > 0);
  targets.push({
    target: 'bundles carrying @redis/bloom, json, search or time-series',
    measured: carrying.length === 0 ? 'none' : carrying.map((bundle) => bundle.name).join(', '),
    limit: 'none',
    pass: carrying.length === 0,
  });
  // Every function's init constructs its client: load is held to the core plus that createClient().
  const references = [cold.core.name, cold.coreWithClient.name, cold.coreWithClientUnpatched.name];
  const slowest = [...cold.load].filter((load) => !references.includes(load.name)).sort((a, b) => b.requireVsCoreWithClient - a.requireVsCoreWithClient)[0];
  if (slowest !== undefined) {
    targets.push({
      target: 'slowest function load (require in a fresh node) vs dependency core + its createClient()',
      measured: `${ratio(slowest.requireVsCoreWithClient)} (${slowest.name}: ${fixed(slowest.requireMs, 1)} vs ${fixed(slowest.requireMs / slowest.requireVsCoreWithClient, 1)} ms; ${ratio(slowest.requireVsCore)} the core alone)`,
      limit: `≤ ${ratio(LIMITS.loadVsCoreWithClient)}`,
      pass: slowest.requireVsCoreWithClient <= LIMITS.loadVsCoreWithClient,
    });
  }
  const sanity = warm.sanity;
  const immediate = sanity.signed && sanity.allowedBeforeLogout && sanity.loggedOut && sanity.deniedAfterLogout && sanity.naiveDeniedAfterLogout;
  targets.push({
    target: 'revocation immediate: the very next check after logout refuses',
    measured: immediate ? 'yes' : JSON.stringify(sanity),
    limit: 'yes',
    pass: immediate,
  });
  targets.push({
    target: 'every timed call answered as expected (no check weakened)',
    measured: warm.failures === 0 ? 'yes' : `${warm.failures} failures, first: ${warm.firstFailure ?? ''}`,
    limit: 'yes',
    pass: warm.failures === 0,
  });
  return targets;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

export function markdown(result: BenchResult): string {
  const { machine, warm, cold, settings } = result;
  const out: string[] = [];
  out.push('# Benchmark: authorizer, sign, logout and refresh against their floors');
  out.push('');
  if (result.smoke) out.push('> **Smoke run**: counts far below the defaults; these figures only show that the bench runs.\n');
  out.push(
    `Measured ${machine.date} on ${machine.cpu} (${machine.cores} cores, ${machine.memoryGiB} GiB), ${machine.os}, Node ${machine.node}, redis-server ${machine.redis} on loopback, commit ${machine.commit}; load average ${machine.loadAverage} at the start.`,
  );
  out.push('');
  out.push(
    `Reproduce: \`${result.command}\`. Settings: ${settings.iterations} timed calls per candidate one at a time (turns of ${settings.batch}, after ${settings.warmup} warm-up calls); ${settings.flightRounds} throughput rounds of ${settings.flightCalls} calls with ${settings.inFlight} in flight; ${settings.coldRuns} fresh processes per cold-start target.`,
  );
  out.push('');
  out.push('## Reach targets');
  out.push('');
  out.push(
    table(
      ['Target', 'Measured', 'Limit', 'Result'],
      result.targets.map((target) => [target.target, target.measured, target.limit, target.pass ? 'PASS' : '**FAIL**']),
    ),
  );
  out.push('');
  out.push('## Warm latency, one call at a time (µs)');
  out.push('');
  out.push(
    'All candidates run in one process against one redis-server, taking turns in batches so that drift hits all alike. Handlers log one JSON line per request at the default level (info) with stdout sent to /dev/null; "silent" rows are the same handler with LOG_LEVEL=silent. "× floor" is the ratio to the floor row of the same table, p50 to p50 and p99 to p99.',
  );
  for (const floor of Object.keys(FLOORS) as FloorId[]) {
    out.push('');
    out.push(`### ${FLOORS[floor].title}`);
    out.push('');
    const rows = warm.latency.filter((candidate) => candidate.floor === floor);
    out.push(
      table(
        ['Candidate', 'p50', 'p90', 'p99', 'mean', 'p50 × floor', 'p99 × floor'],
        rows.map((candidate) => {
          const s = candidate.summary;
          const name = candidate.kind === 'floor' || candidate.kind === 'handler' ? `**${candidate.label}**` : candidate.label;
          return [
            name,
            fixed(s.p50),
            fixed(s.p90),
            fixed(s.p99),
            fixed(s.mean),
            ratio(floorRatio(warm, candidate.id)),
            ratio(floorRatio(warm, candidate.id, 'p99')),
          ];
        }),
      ),
    );
  }
  out.push('');
  out.push(`## Throughput, ${settings.inFlight} calls in flight`);
  out.push('');
  const mget = throughput(warm, 'mget');
  out.push(
    '"vs its floor" is the share of the floor row of the same latency table (authorizer: HMAC check + MGET; sign: HMAC + EVALSHA registerSession; logout: HMAC + DEL). Refresh is measured one call at a time only: every call uses up a refresh token.',
  );
  out.push('');
  out.push(
    table(
      ['Candidate', 'calls/s (median of rounds)', 'vs its floor', 'vs bare MGET', 'slowest – fastest round'],
      warm.throughput.map((candidate) => [
        candidate.label,
        thousands(candidate.opsPerSecond),
        Number.isFinite(throughputVsFloor(warm, candidate.id)) ? `${fixed(throughputVsFloor(warm, candidate.id) * 100, 0)} %` : '',
        `${fixed((candidate.opsPerSecond / mget) * 100, 0)} %`,
        `${thousands(Math.min(...candidate.rounds))} – ${thousands(Math.max(...candidate.rounds))}`,
      ]),
    ),
  );
  out.push('');
  out.push('## Cold start');
  out.push('');
  out.push(
    `Each function bundled as it ships (deploy/esbuild-options.js: bundle, minify, platform node, target ${LAMBDA_BUILD.target}, CommonJS; external, as the Lambda runtime provides it: ${LAMBDA_BUILD.external.join(', ')}). The dependency core is an entry importing only \`createClient\` from @redis/client: tokens are signed and checked with node:crypto.`,
  );
  out.push('');
  const bundleRows = [cold.core, cold.coreWithClient, cold.redisMeta].map((bundle) => [
    bundle.name,
    kib(bundle.bytes),
    ratio(bundle.bytes / cold.core.bytes, 3),
    bundle.unusedRedisModules.length === 0 ? 'none' : `${bundle.unusedRedisModules.length} files`,
    '',
  ]);
  for (const bundle of cold.bundles) {
    const extra = bundle.extra
      .slice(0, 3)
      .map((entry) => `${entry.name} +${kib(entry.bytes)}`)
      .join(', ');
    bundleRows.push([
      bundle.name,
      kib(bundle.bytes),
      ratio(bundle.vsCore, 3),
      bundle.unusedRedisModules.length === 0 ? 'none' : `${bundle.unusedRedisModules.length} files`,
      extra,
    ]);
  }
  out.push(table(['Bundle', 'size', '× core', '@redis bloom/json/search/time-series', 'largest additions over the core'], bundleRows));
  out.push('');
  out.push(
    `Loading in a fresh \`node\` (median of ${settings.coldRuns} runs each, targets taking turns; the function's init runs too, so its Redis connect starts). Bare node, spawn to exit: ${fixed(cold.bare.wallMs, 1)} ms.`,
  );
  out.push('');
  out.push(
    table(
      ['Target', 'require() ms', 'require × core', 'require × (core + createClient)', 'spawn to exit ms', 'above bare node × core'],
      cold.load.map((load) => [
        load.name,
        fixed(load.requireMs, 2),
        ratio(load.requireVsCore),
        ratio(load.requireVsCoreWithClient),
        fixed(load.wallMs, 1),
        ratio(load.netWallVsCore),
      ]),
    ),
  );
  out.push('');
  out.push('First invocation in a fresh process, straight after load: the connect begun by init is still under way, so it is included.');
  out.push('');
  out.push(
    table(
      ['Function', 'runs', 'load ms', 'first invocation ms', 'load + first ms', 'second invocation ms'],
      cold.firstInvoke.map((first) => [
        first.name,
        String(first.runs),
        fixed(first.loadMs, 2),
        fixed(first.firstMs, 2),
        fixed(first.initPlusFirstMs, 2),
        fixed(first.secondMs, 2),
      ]),
    ),
  );
  out.push('');
  out.push('![p50 over floor](latest.svg)');
  out.push('');
  return out.join('\n');
}

/** Horizontal bars of p50 over floor, with the 1.25× and 1.35× limits; bars beyond the axis are cut and labelled. */
/** A bar's limit: its handler's at its log level; 1.25× for the rest, references included. */
function barLimit(id: string): number {
  const [name, level] = id.split('-') as [FloorId, LogLevel];
  return (FLOORS[name] as (typeof FLOORS)[FloorId] | undefined)?.limits[level] ?? 1.25;
}

export function svg(result: BenchResult): string {
  const { warm } = result;
  const ids = [
    'authorizer-info',
    'authorizer-silent',
    'sign-info',
    'sign-silent',
    'logout-info',
    'logout-silent',
    'refresh-info',
    'refresh-silent',
    'jwtr-key',
    'jwtr-naive',
  ];
  const bars = ids
    .filter((id) => warm.latency.some((candidate) => candidate.id === id))
    .map((id) => ({ label: row(warm, id).label, value: floorRatio(warm, id), limit: barLimit(id) }));
  const max = 3;
  const left = 330;
  const width = 330;
  const rowHeight = 26;
  const top = 44;
  const height = top + bars.length * rowHeight + 40;
  const x = (value: number) => left + (Math.min(value, max) / max) * width;
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 90}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(
    `<text x="10" y="20" font-size="14" font-weight="bold">Warm p50 over its floor: an HMAC plus the one round trip (MGET, sign's or refresh's script, DEL)</text>`,
  );
  for (let tick = 0; tick <= max; tick += 0.5) {
    parts.push(`<line x1="${x(tick)}" y1="${top - 6}" x2="${x(tick)}" y2="${height - 30}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(tick)}" y="${height - 16}" text-anchor="middle" fill="#555">${tick}×</text>`);
  }
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const over = bar.value > bar.limit;
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escape(bar.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 3}" width="${Math.max(0, x(bar.value) - left)}" height="${rowHeight - 8}" fill="${over ? '#d9534f' : '#4a90d9'}"/>`);
    parts.push(`<text x="${x(bar.value) + 5}" y="${y + 15}">${bar.value > max ? '≫ ' : ''}${escape(ratio(bar.value))}</text>`);
  });
  for (const [limit, anchor, dx, text] of [
    [1.25, 'end', -3, 'limit 1.25×'],
    [1.35, 'start', 3, '1.35× at log info'],
  ] as const) {
    parts.push(`<line x1="${x(limit)}" y1="${top - 6}" x2="${x(limit)}" y2="${height - 30}" stroke="#333" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x(limit) + dx}" y="${top - 10}" text-anchor="${anchor}" fill="#333">${text}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
