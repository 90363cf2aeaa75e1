// The stack's dashboard and alarms (deploy/monitoring.js), as packaged for both targets: the dashboard is valid
// JSON, and it and every alarm watch only metrics that exist, ours by the names and dimensions the code emits
// (shared/telemetry/metrics.ts) and AWS's of resources in the stack; each alarm follows its params and has its
// runbook section.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AWS_TARGET_ARGS, packageService, REPO_ROOT, resourcesOfType, type Packaged, type Template } from '../../testkit/package-service';
import { functionsOn } from '../../shared/handlers/table';
import { AUTHORIZER_OUTCOMES, CONNECT_METRICS, METRICS_NAMESPACE, REQUEST_METRICS } from '../../shared/telemetry/metrics';
import { StoreUnavailableError } from '../../shared/errors';
import { apiEnvironment } from './start-api';

jest.setTimeout(60_000);

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:revocable-jwt-alarms';
/** Each alarm's params, as serverless.yml's defaults set them. */
const ALARM_PARAMS: Record<string, { threshold: number; period: number }> = {
  AuthorizerErrorsAlarm: { threshold: 1, period: 60 },
  AuthorizerLatencyAlarm: { threshold: 100, period: 300 },
  StoreUnavailableAlarm: { threshold: 5, period: 60 },
  RedisReconnectLoopAlarm: { threshold: 10, period: 60 },
  SigningThrottlesAlarm: { threshold: 1, period: 60 },
  VerifyingThrottlesAlarm: { threshold: 1, period: 60 },
  KeylessThrottlesAlarm: { threshold: 1, period: 60 },
};

let local: Packaged;
let aws: Packaged;
let withTopic: Packaged;

beforeAll(async () => {
  [local, aws, withTopic] = await Promise.all([
    packageService(apiEnvironment({})),
    packageService(apiEnvironment({}), AWS_TARGET_ARGS),
    packageService(apiEnvironment({}), [...AWS_TARGET_ARGS, `--param=alarmTopicArn=${TOPIC}`, '--param=alarmAuthorizerP99Ms=250']),
  ]);
}, 180_000);

afterAll(() => {
  for (const packaged of [local, aws, withTopic]) packaged?.remove();
});

type Dimensions = Record<string, unknown>;

/** Refs stand in for what only a deployment knows: each becomes `ref:<logical id>`. */
function renderJoin(value: unknown): string {
  const [separator, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return parts.map((part) => (typeof part === 'string' ? part : `ref:${(part as { Ref: string }).Ref}`)).join(separator);
}

/**
 * Throws unless `metricName` with `dimensions` is a metric that exists in `template`'s stack on `target`: one the
 * code emits with exactly that dimension set, or AWS's for one of the stack's functions or APIs.
 */
function expectExists(template: Template, target: 'local' | 'aws', namespace: string, metricName: string, dimensions: Dimensions): void {
  const described = `${namespace} ${metricName} ${JSON.stringify(dimensions)}`;
  const names = Object.keys(dimensions).sort();
  if (namespace === METRICS_NAMESPACE) {
    const definition = [REQUEST_METRICS, CONNECT_METRICS].find((set) => set.metrics.some((metric) => metric.Name === metricName));
    expect({ described, emitted: definition !== undefined }).toEqual({ described, emitted: true });
    const sets = (definition?.dimensions ?? []).map((set) => [...set].sort().join(','));
    expect({ described, dimensionSet: sets.includes(names.join(',')) }).toEqual({ described, dimensionSet: true });
    if ('Function' in dimensions) {
      expect({ described, deployed: (functionsOn(target) as string[]).includes(String(dimensions.Function)) }).toEqual({ described, deployed: true });
    }
    if (['authorizer', 'httpAuthorizer'].includes(String(dimensions.Function)) && 'Outcome' in dimensions) {
      expect(AUTHORIZER_OUTCOMES).toContain(dimensions.Outcome);
    }
    return;
  }
  if (namespace === 'AWS/Lambda') {
    expect(['Errors', 'Throttles', 'ConcurrentExecutions', 'Duration', 'Invocations']).toContain(metricName);
    if (names.length === 0) return; // the account's
    expect(names).toEqual(['FunctionName']);
    const id = String(dimensions.FunctionName).replace(/^ref:/, '');
    expect({ described, type: template.Resources[id]?.Type }).toEqual({ described, type: 'AWS::Lambda::Function' });
    return;
  }
  expect(namespace).toBe('AWS/ApiGateway');
  if ('ApiName' in dimensions) {
    expect(['4XXError', '5XXError']).toContain(metricName);
    const [, restApi] = resourcesOfType(template, 'AWS::ApiGateway::RestApi')[0] ?? [];
    expect(dimensions.ApiName).toBe(restApi?.Properties.Name);
    return;
  }
  expect(['4xx', '5xx']).toContain(metricName);
  expect(names).toEqual(['ApiId']);
  expect(dimensions.ApiId).toBe('ref:HttpApi');
  expect(template.Resources.HttpApi?.Type).toBe('AWS::ApiGatewayV2::Api');
}

/**
 * A SEARCH expression, `SEARCH('{Namespace,Dim,…} MetricName="…" Dim="…"', …)`, as the metric it matches: its
 * dimension names, with the values it fixes and, for the others, a stand-in that passes the value checks.
 */
function searched(expression: string): { namespace: string; metricName: string; dimensions: Dimensions } {
  const match = /^SEARCH\('\{([^}]+)\} (.*)', '(\w+)', \d+\)$/.exec(expression);
  if (match === null) throw new Error(`not a SEARCH expression: ${expression}`);
  const [namespace, ...names] = (match[1] as string).split(',');
  const { MetricName: metricName, ...fixed }: Record<string, string> = Object.fromEntries(
    [...(match[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [String(key), String(value)]),
  );
  expect(Object.keys(fixed).every((name) => names.includes(name))).toBe(true);
  const anyValue: Dimensions = { Function: 'sign', Outcome: 'issued', Reason: '201' };
  return {
    namespace: namespace as string,
    metricName: String(metricName),
    dimensions: Object.fromEntries(names.map((name) => [name, fixed[name] ?? anyValue[name]])),
  };
}

type Widget = { type: string; properties: { metrics?: unknown[][]; query?: string; region: string } };

function dashboard(template: Template): { widgets: Widget[] } {
  const [[, resource] = []] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
  return JSON.parse(renderJoin(resource?.Properties.DashboardBody)) as { widgets: Widget[] };
}

type MetricStat = { Metric: { Namespace: string; MetricName: string; Dimensions?: { Name: string; Value: unknown }[] }; Stat: string; Period: number };
type AlarmQuery = { Id: string; Expression?: string; MetricStat?: MetricStat; ReturnData: boolean };

describe.each([
  ['local', () => local],
  ['aws', () => aws],
] as const)('%s target: the dashboard', (target, packaged) => {
  test('is valid JSON whose every metric the code emits, or AWS emits for a resource of the stack', () => {
    const { template } = packaged();
    const { widgets } = dashboard(template);
    expect(widgets.length).toBeGreaterThanOrEqual(10);
    let checked = 0;
    for (const widget of widgets) {
      expect(widget.properties.region).toBe('ref:AWS::Region');
      for (const entry of widget.properties.metrics ?? []) {
        const [first] = entry;
        if (typeof first === 'object' && first !== null && 'expression' in first) {
          const { namespace, metricName, dimensions } = searched(String((first as { expression: string }).expression));
          expectExists(template, target, namespace, metricName, dimensions);
        } else {
          const fields = entry.filter((part): part is string => typeof part === 'string');
          const [namespace, metricName, ...pairs] = fields;
          const dimensions: Dimensions = {};
          for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1];
          expectExists(template, target, String(namespace), String(metricName), dimensions);
        }
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  test("shows decisions by outcome and function, deny reasons, latencies, Redis connects, Lambda errors, throttles, concurrency and init durations, and each API's 4xx/5xx", () => {
    const { widgets } = dashboard(packaged().template);
    const text = JSON.stringify(widgets);
    for (const wanted of [
      '"Decisions","Function","authorizer","Outcome","error"',
      'MetricName=\\"Decisions\\" Outcome=\\"deny\\"',
      '"Latency","Function","sign","Outcome","issued"',
      '"RedisLatency","Function","httpAuthorizer","Outcome","allow"',
      '"RedisConnects"',
      '"AWS/Lambda","Errors"',
      '"AWS/Lambda","Throttles"',
      '"AWS/Lambda","ConcurrentExecutions"',
      '@initDuration',
      '"4XXError"',
      '"5xx"',
    ]) {
      expect(text).toContain(wanted);
    }
  });

  test("the init-duration query reads exactly the stack's log groups", () => {
    const { template } = packaged();
    const [query] = dashboard(template).widgets.flatMap((widget) => (widget.properties.query === undefined ? [] : [widget.properties.query]));
    const sources = [...String(query).matchAll(/SOURCE '([^']+)'/g)].map((match) => match[1]);
    const logGroups = resourcesOfType(template, 'AWS::Logs::LogGroup').map(([, resource]) => resource.Properties.LogGroupName);
    expect(sources.sort()).toEqual((logGroups as string[]).sort());
  });
});

describe.each([
  ['local', () => local],
  ['aws', () => aws],
] as const)('%s target: the alarms', (target, packaged) => {
  const alarms = () => Object.fromEntries(resourcesOfType(packaged().template, 'AWS::CloudWatch::Alarm'));

  test('are exactly those documented, each on metrics that exist, with its params, and a runbook section', () => {
    const runbook = readFileSync(join(REPO_ROOT, 'docs', 'runbook.md'), 'utf8');
    expect(Object.keys(alarms()).sort()).toEqual(Object.keys(ALARM_PARAMS).sort());
    for (const [id, alarm] of Object.entries(alarms())) {
      const properties = alarm.Properties as { AlarmName: string; Threshold: number; Metrics: AlarmQuery[]; AlarmActions?: unknown };
      const stage = target === 'aws' ? 'prod' : 'dev';
      const name = properties.AlarmName.replace(`revocable-jwt-${stage}-`, '');
      expect({ id, section: runbook.includes(`<a id="${name}"></a>`) }).toEqual({ id, section: true });
      expect({ id, threshold: properties.Threshold }).toEqual({ id, threshold: ALARM_PARAMS[id]?.threshold });
      expect(properties).not.toHaveProperty('AlarmActions');
      const returned = properties.Metrics.filter((query) => query.ReturnData);
      expect(returned).toHaveLength(1);
      const stats = properties.Metrics.filter((query) => query.MetricStat !== undefined);
      expect(stats.length).toBeLessThanOrEqual(10);
      // The expression names only the metrics it is given, and uses every one of them.
      const ids = new Set(stats.map((query) => query.Id));
      const used = new Set(
        [...String(returned[0]?.Expression).matchAll(/\b([a-z]\w*)\b/g)].map((match) => match[1]).filter((word) => !['result'].includes(String(word))),
      );
      expect({ id, unknown: [...used].filter((word) => !ids.has(String(word)) && !/^(IF|FILL|MAX)$/i.test(String(word))) }).toEqual({ id, unknown: [] });
      expect({ id, unused: [...ids].filter((query) => !used.has(query)) }).toEqual({ id, unused: [] });
      for (const { MetricStat: stat } of stats) {
        const dimensions = Object.fromEntries(
          (stat?.Metric.Dimensions ?? []).map(({ Name, Value }) => [Name, typeof Value === 'object' ? `ref:${(Value as { Ref: string }).Ref}` : Value]),
        );
        expectExists(packaged().template, target, String(stat?.Metric.Namespace), String(stat?.Metric.MetricName), dimensions);
        expect({ id, period: stat?.Period }).toEqual({ id, period: ALARM_PARAMS[id]?.period });
      }
    }
  });

  test("the Redis-unavailable burst counts the reasons the code gives it: the authorizers' error code, the routes' 503", () => {
    const reasons = (alarms().StoreUnavailableAlarm?.Properties.Metrics as AlarmQuery[]).flatMap(
      (query) => query.MetricStat?.Metric.Dimensions?.filter((dimension) => dimension.Name === 'Reason').map((dimension) => dimension.Value) ?? [],
    );
    expect(new Set(reasons)).toEqual(new Set([new StoreUnavailableError('x').code, '503']));
  });

  test('the throttle alarms together watch every function of the stack, once', () => {
    const watched = ['SigningThrottlesAlarm', 'VerifyingThrottlesAlarm', 'KeylessThrottlesAlarm'].flatMap((id) =>
      (alarms()[id]?.Properties.Metrics as AlarmQuery[]).flatMap(
        (query) => query.MetricStat?.Metric.Dimensions?.map((dimension) => (dimension.Value as { Ref: string }).Ref) ?? [],
      ),
    );
    const functions = resourcesOfType(packaged().template, 'AWS::Lambda::Function').map(([id]) => id);
    expect(watched.sort()).toEqual(functions.sort());
    expect(functionsOn(target).length).toBe(functions.length);
  });
});

test('--param alarmTopicArn notifies that topic on alarm and on recovery, and a threshold param sets its alarm', () => {
  const alarms = resourcesOfType(withTopic.template, 'AWS::CloudWatch::Alarm');
  for (const [, alarm] of alarms) expect(alarm.Properties).toMatchObject({ AlarmActions: [TOPIC], OKActions: [TOPIC] });
  expect(withTopic.template.Resources.AuthorizerLatencyAlarm?.Properties.Threshold).toBe(250);
});

test.each([
  ['a threshold that is not a positive number', '--param=alarmThrottles=none', '--param alarmThrottles must be a positive number'],
  ['a period CloudWatch would refuse', '--param=alarmReconnectPeriod=45', '--param alarmReconnectPeriod must be 10, 30 or a multiple of 60'],
  [
    'a period longer than 3 of them fit in a day',
    '--param=alarmAuthorizerErrorPeriod=36000',
    '--param alarmAuthorizerErrorPeriod must be 10, 30 or a multiple of 60',
  ],
])('%s is refused while packaging, naming the param', async (_case, param, message) => {
  const failure = await packageService(apiEnvironment({}), [param]).then(
    () => undefined,
    (error: unknown) => error as { stdout: string; stderr: string },
  );
  expect(`${failure?.stdout}${failure?.stderr}`).toContain(message);
});
