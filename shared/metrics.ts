// CloudWatch metrics in Embedded Metric Format: fields of the one log line each invocation already writes,
// which CloudWatch Logs turns into metrics. No API call, no extra line, no client library in the bundle.
import { elapsedMs, isLogged, log, type Fields, type RequestScope } from './log';

export const METRICS_NAMESPACE = 'RevocableJwt';

/** Metric values for a log line, and their definition (the `CloudWatchMetrics` array) already as JSON. */
export interface MetricSet {
  definition: string;
  values: Fields;
}

// Serialized once: the definitions never change, and a line is written on every request.
const DECISION_DEFINITION = JSON.stringify([
  {
    Namespace: METRICS_NAMESPACE,
    Dimensions: [['Function', 'Outcome'], ['Function', 'Outcome', 'Reason']],
    Metrics: [
      { Name: 'Decisions', Unit: 'Count' },
      { Name: 'Latency', Unit: 'Milliseconds' },
      { Name: 'RedisLatency', Unit: 'Milliseconds' },
      { Name: 'RedisCalls', Unit: 'Count' },
    ],
  },
]);

const CONNECT_DEFINITION = JSON.stringify([
  { Namespace: METRICS_NAMESPACE, Dimensions: [[]], Metrics: [{ Name: 'RedisConnects', Unit: 'Count' }, { Name: 'RedisConnectLatency', Unit: 'Milliseconds' }] },
]);

/**
 * One decision: counted by function and outcome, and by function, outcome and reason; with the
 * invocation's latency and the Redis time within it.
 */
export function decisionMetrics(scope: RequestScope, outcome: string, reason: string | undefined, latencyMs: number): MetricSet {
  return {
    definition: DECISION_DEFINITION,
    values: {
      Function: scope.functionName,
      Outcome: outcome,
      Reason: reason ?? 'none',
      Decisions: 1,
      Latency: latencyMs,
      RedisLatency: Math.round(scope.redisMs * 1000) / 1000,
      RedisCalls: scope.redisCalls,
    },
  };
}

/** A connection opened: one per cold start; more mean Redis dropped connections or failed over. */
export function connectMetrics(latencyMs: number): MetricSet {
  return { definition: CONNECT_DEFINITION, values: { RedisConnects: 1, RedisConnectLatency: latencyMs } };
}

/**
 * The one line a request or a decision writes: `fields` plus its latency, carrying the invocation's decision
 * metrics (counted under `outcome` and `reason`).
 */
export function logDecision(
  level: 'info' | 'error',
  message: string,
  outcome: string,
  reason: string | undefined,
  fields: Fields,
  started: number,
  scope: RequestScope,
): void {
  if (!isLogged(level)) return;
  const latencyMs = elapsedMs(started);
  log.metrics(level, message, { ...fields, latencyMs }, decisionMetrics(scope, outcome, reason, latencyMs), scope);
}
