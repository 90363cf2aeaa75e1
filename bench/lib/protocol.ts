// What the parent tells the measured process, and what it sends back over IPC.
import type { Summary } from './stats';

export interface WarmSettings {
  iterations: number;
  batch: number;
  warmup: number;
  inFlight: number;
  flightCalls: number;
  flightRounds: number;
}

/** Which floor a row is compared with. */
export type FloorId = 'authorizer' | 'sign' | 'logout' | 'refresh' | 'authorizer-es256';

export interface LatencyRow {
  id: string;
  label: string;
  kind: 'baseline' | 'floor' | 'handler' | 'reference';
  floor: FloorId | undefined;
  summary: Summary;
}

export interface ThroughputRow {
  id: string;
  label: string;
  /** Operations per second, one figure per round. */
  rounds: number[];
  /** Median over rounds. */
  opsPerSecond: number;
}

export interface SanityResult {
  signed: boolean;
  allowedBeforeLogout: boolean;
  loggedOut: boolean;
  deniedAfterLogout: boolean;
  naiveDeniedAfterLogout: boolean;
}

export interface WarmResult {
  latency: LatencyRow[];
  throughput: ThroughputRow[];
  sanity: SanityResult;
  /** Calls whose answer was not the expected one (must be 0). */
  failures: number;
  firstFailure: string | undefined;
  elapsedMs: number;
}

export type WarmMessage = { type: 'progress'; line: string } | { type: 'result'; result: WarmResult } | { type: 'error'; message: string };
