// CloudWatch metrics in Embedded Metric Format: members of the one log line each invocation already writes,
// which CloudWatch Logs turns into metrics. No API call, no extra line, no client library in the bundle.
import { elapsedMs, type Fields, type Logger, type RequestScope } from './log';

/**
 * Every metric the service emits, and the dimension sets it carries: the one definition the log lines, the stack's
 * dashboard and alarms (deploy/monitoring.js) and their template test all read.
 */
export const METRICS_NAMESPACE = 'RevocableJwt';

/** On every request's line: `Function` is the row name in shared/handlers/table.ts. */
export const REQUEST_METRICS = {
  dimensions: [
    ['Function', 'Outcome'],
    ['Function', 'Outcome', 'Reason'],
  ],
  metrics: [
    { Name: 'Decisions', Unit: 'Count' },
    { Name: 'Latency', Unit: 'Milliseconds' },
    { Name: 'RedisLatency', Unit: 'Milliseconds' },
    { Name: 'RedisCalls', Unit: 'Count' },
  ],
} as const;

/** On the line each new Redis connection writes. */
export const CONNECT_METRICS = {
  dimensions: [[]],
  metrics: [
    { Name: 'RedisConnects', Unit: 'Count' },
    { Name: 'RedisConnectLatency', Unit: 'Milliseconds' },
  ],
} as const;

/** The authorizers' `Outcome`s; their `Reason` is the refusal's or the failure's code. */
export const AUTHORIZER_OUTCOMES = ['allow', 'deny', 'error'] as const;

// Serialized once: the definitions never change, and a line is written on every request.
const REQUEST_DEFINITION = JSON.stringify([{ Namespace: METRICS_NAMESPACE, Dimensions: REQUEST_METRICS.dimensions, Metrics: REQUEST_METRICS.metrics }]);
const CONNECT_DEFINITION = JSON.stringify([{ Namespace: METRICS_NAMESPACE, Dimensions: CONNECT_METRICS.dimensions, Metrics: CONNECT_METRICS.metrics }]);

/** The one line a request writes: an authorizer's decision, or a route's answer. */
export interface RequestLine {
  /** `authorize`, or the route's name. */
  message: string;
  /** The `Outcome` dimension: allow, deny or error for the authorizers, the route's outcome for the routes. */
  outcome: string;
  /** The `Reason` dimension: the refusal code for the authorizers, the status for the routes. */
  reason?: string;
  /** What else the line says (jti, sub, detail): never a token or a secret. */
  fields: Fields;
}

/**
 * Writes the request's line, `latencyMs` added, carrying its metrics: `Decisions` counted by function and
 * outcome, and by function, outcome and reason; its latency, and the Redis time and calls within it. The
 * metric members are written as text: this runs on every request, and one JSON.stringify of a fixed-shape
 * object costs less than building a second one to merge.
 */
export function writeRequestLine(level: 'info' | 'error', line: RequestLine, started: number, scope: RequestScope): void {
  if (!scope.log.isLogged(level)) return;
  const latencyMs = elapsedMs(started);
  const metrics =
    `"latencyMs":${latencyMs},"Function":${JSON.stringify(scope.functionName)},"Outcome":${JSON.stringify(line.outcome)},` +
    `"Reason":${JSON.stringify(line.reason ?? 'none')},"Decisions":1,"Latency":${latencyMs},` +
    `"RedisLatency":${Math.round(scope.redisMs * 1000) / 1000},"RedisCalls":${scope.redisCalls},` +
    `"_aws":{"Timestamp":${Date.now()},"CloudWatchMetrics":${REQUEST_DEFINITION}}`;
  scope.log.withTrailer(level, line.message, line.fields, metrics, scope);
}

/** A connection opened: one per cold start; more mean Redis dropped connections or failed over. */
export function writeConnectLine(log: Logger, latencyMs: number, fields: Fields): void {
  const metrics = `"RedisConnects":1,"RedisConnectLatency":${latencyMs},"_aws":{"Timestamp":${Date.now()},"CloudWatchMetrics":${CONNECT_DEFINITION}}`;
  log.withTrailer('info', 'redis connected', { latencyMs, ...fields }, metrics);
}
