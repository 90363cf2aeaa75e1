// @ts-check
// The stack's CloudWatch dashboard and alarms, read by serverless.yml as `${file(./deploy/monitoring.js):resources}`.
// Our own metrics come from the one definition the log lines use (shared/telemetry/metrics.ts), the function names
// from shared/handlers/table.ts; each alarm's threshold and period is a serverless param (serverless.yml, `params`),
// and docs/runbook.md says what each alarm means and what to do.
'use strict';

/** @typedef {{ resolveVariable: (variable: string) => Promise<unknown> }} Resolver */
/** @typedef {{ Ref: string }} Ref */

/** The alarms' params: serverless.yml (`params`) gives each its default and says what it sets. */
const ALARM_PARAMS = [
  'alarmTopicArn',
  'alarmAuthorizerErrorPercent',
  'alarmAuthorizerErrorPeriod',
  'alarmAuthorizerP99Ms',
  'alarmAuthorizerLatencyPeriod',
  'alarmStoreUnavailableCount',
  'alarmStoreUnavailablePeriod',
  'alarmConnectsPerContainer',
  'alarmReconnectPeriod',
  'alarmThrottles',
  'alarmThrottlesPeriod',
];

function load() {
  const tsx = require('tsx/cjs/api');
  /** @type {typeof import('../shared/handlers/table')} */
  const table = tsx.require('../shared/handlers/table.ts', __filename);
  /** @type {typeof import('../shared/telemetry/metrics')} */
  const metrics = tsx.require('../shared/telemetry/metrics.ts', __filename);
  return { table, metrics };
}

/** serverless's logical id of a function (naming.getLambdaLogicalId, for camelCase names). */
function functionId(/** @type {string} */ name) {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`;
}

const AUTHORIZERS = /** @type {const} */ (['authorizer', 'httpAuthorizer']);

/**
 * A dashboard body is one JSON string, yet must name resources only known at deploy time (function names, the HTTP
 * API's id, the region). Refs stand in as placeholders while the body is built, and become Fn::Join parts.
 */
const PLACEHOLDER = /"@@([A-Za-z0-9:]+)@@"/g;
function ref(/** @type {string} */ logicalId) {
  return `@@${logicalId}@@`;
}
/** `text` with each placeholder string replaced by the quoted value of its Ref. */
function joinWithRefs(/** @type {string} */ text) {
  /** @type {Array<string | Ref>} */
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    parts.push(`${text.slice(last, match.index)}"`, { Ref: /** @type {string} */ (match[1]) }, '"');
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(text.slice(last));
  return { 'Fn::Join': ['', parts] };
}

/** @param {Resolver} resolver */
async function resources(resolver) {
  const { table, metrics } = load();
  const target = /** @type {import('../shared/handlers/table').Target} */ (await resolver.resolveVariable('param:target'));
  const service = String(await resolver.resolveVariable('self:service'));
  const stage = String(await resolver.resolveVariable('sls:stage'));
  /** @type {Record<string, number | string>} */
  const params = {};
  for (const name of ALARM_PARAMS) {
    const value = await resolver.resolveVariable(`param:${name}`);
    if (name === 'alarmTopicArn') params[name] = String(value ?? '');
    else params[name] = name.endsWith('Period') ? alarmPeriod(name, value) : positiveNumber(name, value);
  }
  const deployed = table.functionsOn(target);
  const namespace = metrics.METRICS_NAMESPACE;
  const region = ref('AWS::Region');
  const lambdaName = (/** @type {string} */ name) => ref(functionId(name));
  const logGroup = (/** @type {string} */ name) => `/aws/lambda/${service}-${stage}-${name}`;

  /** One row of widgets, sharing the dashboard's 24 columns evenly. */
  let y = 0;
  /** @param {Array<Record<string, unknown>>} row */
  const rowOf = (row) => {
    const width = 24 / row.length;
    const placed = row.map((properties, index) => ({
      type: properties.query === undefined ? 'metric' : 'log',
      x: index * width,
      y,
      width,
      height: 6,
      properties: { region, ...properties },
    }));
    y += 6;
    return placed;
  };
  const search = (/** @type {string} */ schema, /** @type {string} */ filter, /** @type {string} */ stat) => ({
    id: 'search',
    expression: `SEARCH('{${namespace},${schema}} ${filter}', '${stat}', 60)`,
  });
  /** p50 and p99 of `metricName` on the paths that matter most: the authorizers allowing, sign issuing. */
  const medianAndTail = (/** @type {string} */ metricName) =>
    [...AUTHORIZERS.map((fn) => [fn, 'allow']), ['sign', 'issued']].flatMap(([fn, outcome]) =>
      ['p50', 'p99'].map((stat) => [namespace, metricName, 'Function', fn, 'Outcome', outcome, { stat, label: `${fn} ${stat}` }]),
    );
  const perFunction = (/** @type {string} */ metricName, /** @type {string} */ stat) =>
    deployed.map((name) => ['AWS/Lambda', metricName, 'FunctionName', lambdaName(name), { stat, label: name }]);

  const widgets = [
    ...rowOf([
      {
        title: 'Authorizer decisions per minute, by outcome',
        view: 'timeSeries',
        period: 60,
        stat: 'Sum',
        metrics: AUTHORIZERS.flatMap((fn) =>
          metrics.AUTHORIZER_OUTCOMES.map((outcome) => [namespace, 'Decisions', 'Function', fn, 'Outcome', outcome, { label: `${fn} ${outcome}` }]),
        ),
      },
      {
        title: 'Answers per minute, by function and outcome',
        view: 'timeSeries',
        metrics: [[search('Function,Outcome', 'MetricName="Decisions"', 'Sum')]],
      },
      {
        title: 'Deny reasons per minute',
        view: 'timeSeries',
        metrics: [[search('Function,Outcome,Reason', 'MetricName="Decisions" Outcome="deny"', 'Sum')]],
      },
    ]),
    ...rowOf([
      { title: 'Latency p50 / p99 (ms): authorizers allowing, sign issuing', view: 'timeSeries', period: 60, metrics: medianAndTail('Latency') },
      { title: 'Redis latency p50 / p99 within a request (ms)', view: 'timeSeries', period: 60, metrics: medianAndTail('RedisLatency') },
      {
        title: 'Redis connects per minute, and connect latency p99 (ms)',
        view: 'timeSeries',
        period: 60,
        metrics: [
          [namespace, 'RedisConnects', { stat: 'Sum', label: 'connects' }],
          [namespace, 'RedisConnectLatency', { stat: 'p99', label: 'connect p99', yAxis: 'right' }],
        ],
      },
    ]),
    ...rowOf([
      { title: 'Lambda errors', view: 'timeSeries', period: 60, metrics: perFunction('Errors', 'Sum') },
      { title: 'Lambda throttles', view: 'timeSeries', period: 60, metrics: perFunction('Throttles', 'Sum') },
      { title: 'Lambda concurrent executions', view: 'timeSeries', period: 60, metrics: perFunction('ConcurrentExecutions', 'Maximum') },
    ]),
    ...rowOf([
      {
        title: 'Cold starts: init duration (ms), from the REPORT lines',
        view: 'table',
        query: [
          ...deployed.map((name) => `SOURCE '${logGroup(name)}'`),
          'filter @type = "REPORT" and ispresent(@initDuration)',
          'stats count(*) as coldStarts, avg(@initDuration) as avgInitMs, max(@initDuration) as maxInitMs by @log',
        ].join(' | '),
      },
      {
        title: 'REST API 4xx / 5xx per minute',
        view: 'timeSeries',
        period: 60,
        stat: 'Sum',
        metrics: [
          ['AWS/ApiGateway', '4XXError', 'ApiName', `${stage}-${service}`, { label: 'REST 4xx' }],
          ['AWS/ApiGateway', '5XXError', 'ApiName', `${stage}-${service}`, { label: 'REST 5xx' }],
        ],
      },
      {
        title: 'HTTP API 4xx / 5xx per minute',
        view: 'timeSeries',
        period: 60,
        stat: 'Sum',
        metrics: [
          ['AWS/ApiGateway', '4xx', 'ApiId', ref('HttpApi'), { label: 'HTTP 4xx' }],
          ['AWS/ApiGateway', '5xx', 'ApiId', ref('HttpApi'), { label: 'HTTP 5xx' }],
        ],
      },
    ]),
  ];

  const topic = String(params.alarmTopicArn);
  const actions = topic === '' ? {} : { AlarmActions: [topic], OKActions: [topic] };
  /**
   * @param {string} name
   * @param {string} description
   * @param {{ threshold: number | string, period: number | string, evaluate: [number, number], expression: string, metrics: Record<string, Record<string, unknown>> }} spec
   */
  const alarm = (name, description, { threshold, period, evaluate: [datapoints, periods], expression, metrics: used }) => ({
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: `${service}-${stage}-${name}`,
      AlarmDescription: `${description} Runbook: docs/runbook.md#${name}`,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: Number(threshold),
      EvaluationPeriods: periods,
      DatapointsToAlarm: datapoints,
      // No traffic is not an incident.
      TreatMissingData: 'notBreaching',
      Metrics: [
        { Id: 'result', Expression: expression, Label: name, ReturnData: true },
        ...Object.entries(used).map(([id, stat]) => ({ Id: id, MetricStat: { ...stat, Period: Number(period) }, ReturnData: false })),
      ],
      ...actions,
    },
  });
  const ours = (/** @type {string} */ metricName, /** @type {string} */ stat, /** @type {Record<string, string>} */ dimensions) => ({
    Metric: { Namespace: namespace, MetricName: metricName, Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })) },
    Stat: stat,
  });
  const decisions = (/** @type {string} */ fn, /** @type {string} */ outcome) => ours('Decisions', 'Sum', { Function: fn, Outcome: outcome });
  const lambda = (/** @type {string} */ metricName, /** @type {string} */ stat, /** @type {string} */ name) => ({
    Metric: { Namespace: 'AWS/Lambda', MetricName: metricName, Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(name) } }] },
    Stat: stat,
  });

  /** @type {Record<string, unknown>} */
  const alarms = {
    AuthorizerErrorsAlarm: alarm(
      'authorizer-errors',
      'The authorizers could not decide (Redis or the keyring unavailable, or a bug) for this percentage of decisions: callers get 500.',
      {
        threshold: params.alarmAuthorizerErrorPercent,
        period: params.alarmAuthorizerErrorPeriod,
        evaluate: [2, 3],
        // Ids: <outcome><authorizer's index>, e.g. error0.
        expression: (() => {
          const sum = (/** @type {readonly string[]} */ outcomes) =>
            `(${AUTHORIZERS.flatMap((_, i) => outcomes.map((outcome) => `FILL(${outcome}${i}, 0)`)).join(' + ')})`;
          const total = sum(metrics.AUTHORIZER_OUTCOMES);
          return `IF(${total} > 0, 100 * ${sum(['error'])} / ${total}, 0)`;
        })(),
        metrics: Object.fromEntries(AUTHORIZERS.flatMap((fn, i) => metrics.AUTHORIZER_OUTCOMES.map((outcome) => [`${outcome}${i}`, decisions(fn, outcome)]))),
      },
    ),
    AuthorizerLatencyAlarm: alarm('authorizer-latency', 'The p99 latency of the slower authorizer, allowing, is above the bound (ms).', {
      threshold: params.alarmAuthorizerP99Ms,
      period: params.alarmAuthorizerLatencyPeriod,
      evaluate: [2, 3],
      expression: 'MAX([p99rest, p99http])',
      metrics: {
        p99rest: ours('Latency', 'p99', { Function: 'authorizer', Outcome: 'allow' }),
        p99http: ours('Latency', 'p99', { Function: 'httpAuthorizer', Outcome: 'allow' }),
      },
    }),
    StoreUnavailableAlarm: alarm(
      'store-unavailable',
      'A burst of requests failed because Redis did not answer: authorizer errors with reason STORE_UNAVAILABLE, and sign or refresh answering 503 (whose Reason is the status, so a keyring unreadable at cold start counts too).',
      {
        threshold: params.alarmStoreUnavailableCount,
        period: params.alarmStoreUnavailablePeriod,
        evaluate: [1, 1],
        expression: 'FILL(rest, 0) + FILL(http, 0) + FILL(sign, 0) + FILL(refresh, 0)',
        metrics: {
          rest: ours('Decisions', 'Sum', { Function: 'authorizer', Outcome: 'error', Reason: 'STORE_UNAVAILABLE' }),
          http: ours('Decisions', 'Sum', { Function: 'httpAuthorizer', Outcome: 'error', Reason: 'STORE_UNAVAILABLE' }),
          sign: ours('Decisions', 'Sum', { Function: 'sign', Outcome: 'error', Reason: '503' }),
          refresh: ours('Decisions', 'Sum', { Function: 'refresh', Outcome: 'error', Reason: '503' }),
        },
      },
    ),
    RedisReconnectLoopAlarm: alarm(
      'redis-reconnect-loop',
      'Redis connects per period per running container (peak concurrent executions in the account): a container connects once at its cold start, so far more means connections keep failing or dropping.',
      {
        threshold: params.alarmConnectsPerContainer,
        period: params.alarmReconnectPeriod,
        evaluate: [3, 3],
        expression: 'IF(FILL(containers, 0) >= 1, FILL(connects, 0) / FILL(containers, 0), FILL(connects, 0))',
        metrics: {
          connects: ours('RedisConnects', 'Sum', {}),
          containers: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'ConcurrentExecutions' }, Stat: 'Maximum' },
        },
      },
    ),
  };
  // One throttle alarm per key group: an alarm may watch at most 10 metrics, fewer than the functions. The JWKS,
  // alone in its group (`public`), counts with the verifying functions.
  for (const [groups, id] of /** @type {const} */ ([
    [['signing'], 'Signing'],
    [['verifying', 'public'], 'Verifying'],
    [['none'], 'Keyless'],
  ])) {
    const members = deployed.filter((name) => /** @type {readonly string[]} */ (groups).includes(table.FUNCTIONS[name].keys));
    alarms[`${id}ThrottlesAlarm`] = alarm(`${id.toLowerCase()}-throttles`, `Lambda throttled invocations of ${members.join(', ')}.`, {
      threshold: params.alarmThrottles,
      period: params.alarmThrottlesPeriod,
      evaluate: [1, 1],
      expression: members.map((_, i) => `FILL(t${i}, 0)`).join(' + '),
      metrics: Object.fromEntries(members.map((name, i) => [`t${i}`, lambda('Throttles', 'Sum', name)])),
    });
  }

  return {
    Resources: {
      Dashboard: {
        Type: 'AWS::CloudWatch::Dashboard',
        Properties: { DashboardName: `${service}-${stage}`, DashboardBody: joinWithRefs(JSON.stringify({ widgets })) },
      },
      ...alarms,
    },
  };
}

/** @param {string} name @param {unknown} value */
function positiveNumber(name, value) {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`--param ${name} must be a positive number, not ${JSON.stringify(value)}`);
  return number;
}

/**
 * A period CloudWatch accepts for an alarm on these metrics: 10 or 30 seconds, or a multiple of 60; and at most a
 * day over the 3 periods an alarm here evaluates at most.
 * @param {string} name @param {unknown} value
 */
function alarmPeriod(name, value) {
  const seconds = positiveNumber(name, value);
  if (!(seconds === 10 || seconds === 30 || seconds % 60 === 0) || 3 * seconds > 86_400) {
    throw new Error(`--param ${name} must be 10, 30 or a multiple of 60 seconds, and at most 28800, not ${JSON.stringify(value)}`);
  }
  return seconds;
}

module.exports = { resources };
