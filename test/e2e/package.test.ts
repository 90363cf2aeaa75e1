// `serverless package` (no AWS credentials needed): the CloudFormation template and the function zips, for
// both deployment targets: `local` (the default: settings from the shell, no VPC) and `aws` (stage prod: a VPC,
// settings from SSM Parameter Store, here stubbed with --param so that no AWS call is made).
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { builtinModules } from 'node:module';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  AWS_STUBS,
  AWS_TARGET_ARGS,
  packageService,
  readZip,
  resourcesOfType,
  type Packaged,
  type Resource,
  type Template,
  type ZipEntry,
} from '../../testkit/package-service';
import { FUNCTIONS, functionsOn, type FunctionName, type Target } from '../../shared/handlers/table';
import { apiEnvironment } from './start-api';

jest.setTimeout(60_000);

/** Every function of the table: the local target deploys them all. */
const FUNCTION_NAMES = functionsOn('local');
/** The functions `target` deploys: the local target's demo login is not among the aws target's. */
function deployedOn(target: string): FunctionName[] {
  if (target !== 'local' && target !== 'aws') throw new Error(`no target ${target}`);
  return functionsOn(target satisfies Target);
}
/** The routes behind an authorizer: on the REST API (under the stage) and on the HTTP API alike. */
const PROTECTED_ROUTES = [
  ['GET', '/me'],
  ['POST', '/auth/logout'],
  ['POST', '/auth/logout-all'],
  ['GET', '/auth/sessions'],
  ['DELETE', '/auth/sessions/{sid}'],
] as const;
/** The one route a browser calls without an authorizer or an API key: its body, a refresh token, is its credential. */
const REFRESH_ROUTE = ['POST', '/auth/refresh'] as const;
/** The public keys, for anyone: no authorizer, no API key. */
const JWKS_ROUTE = ['GET', '/.well-known/jwks.json'] as const;
/** The demo page's passwordless login: on the local target only, behind no authorizer and no API key. */
const DEMO_LOGIN_ROUTE = ['POST', '/demo/login'] as const;
const API_KEY_MARKER = 'package-test-api-key-0123456789';
const SECRET_MARKER = 'package-test-secret-marker-0123456789abcdef';
const KEYRING_MARKER = `package-test:${'keyring-marker-'.repeat(3)}`;
/** AWSLambdaVPCAccessExecutionRole's network-interface actions, without its logs actions on every log group. */
const VPC_NETWORK_INTERFACES = {
  Effect: 'Allow',
  Action: [
    'ec2:CreateNetworkInterface',
    'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets',
    'ec2:DeleteNetworkInterface',
    'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses',
  ],
  Resource: '*',
};
/** Optional peers a library require()s inside try/catch only when asked to; esbuild leaves them unresolved. */
const OPTIONAL_PEERS = new Set([
  '@opentelemetry/api', // @redis/client, only from OpenTelemetry.init(), which we never call
  '@aws-sdk/client-ssm', // provided by the Lambda Node.js runtime; loaded only to fetch the keyring from SSM
]);

const packaged: Packaged[] = [];
let plain: Packaged;
let withSecrets: Packaged;
let aws: Packaged;

async function packageWith(variables: Record<string, string>, args: string[] = []): Promise<Packaged> {
  const result = await packageService(apiEnvironment(variables), args);
  packaged.push(result);
  return result;
}

beforeAll(async () => {
  [plain, withSecrets, aws] = await Promise.all([
    packageWith({}),
    packageWith({ SIGN_API_KEY: API_KEY_MARKER, JWT_SECRET: SECRET_MARKER }),
    // The secrets in the shell must not reach the aws target's template either.
    packageWith({ SIGN_API_KEY: API_KEY_MARKER, JWT_SECRET: SECRET_MARKER, JWT_KEYS: KEYRING_MARKER }, AWS_TARGET_ARGS),
  ]);
}, 180_000);

afterAll(() => {
  for (const result of packaged) result.remove();
});

function onlyResourceOfType(template: Template, type: string): [string, Resource] {
  const found = resourcesOfType(template, type);
  expect(found).toHaveLength(1);
  return found[0] as [string, Resource];
}

/** The full path of an AWS::ApiGateway::Resource, e.g. /auth/token, following ParentId up to the root. */
function resourcePath(template: Template, logicalId: string): string {
  const resource = template.Resources[logicalId];
  if (resource === undefined) throw new Error(`no resource ${logicalId}`);
  const parent = resource.Properties.ParentId as { Ref?: string };
  const prefix = parent.Ref === undefined ? '' : resourcePath(template, parent.Ref);
  return `${prefix}/${String(resource.Properties.PathPart)}`;
}

function method(template: Template, httpMethod: string, path: string): Record<string, unknown> {
  const matches = resourcesOfType(template, 'AWS::ApiGateway::Method').filter(
    ([, resource]) => resource.Properties.HttpMethod === httpMethod && resourcePath(template, (resource.Properties.ResourceId as { Ref: string }).Ref) === path,
  );
  expect(matches).toHaveLength(1);
  return (matches[0] as [string, Resource])[1].Properties;
}

function lambdaFunction(template: Template, name: FunctionName): Record<string, unknown> {
  const handler = `${FUNCTIONS[name].entry.replace(/\.ts$/, '')}.handler`;
  const properties = resourcesOfType(template, 'AWS::Lambda::Function').find(([, resource]) => resource.Properties.Handler === handler)?.[1].Properties;
  if (properties === undefined) throw new Error(`no Lambda function with handler ${handler}`);
  return properties;
}

describe('serverless package: the CloudFormation template', () => {
  test('the authorizer is a TOKEN authorizer on the Authorization header, with result caching off', () => {
    const [, authorizer] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::Authorizer');
    expect(authorizer.Properties).toMatchObject({
      Type: 'TOKEN',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: 0,
    });
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain('"AuthorizerLambdaFunction","Arn"');
  });

  test.each(PROTECTED_ROUTES)('%s %s is behind the authorizer and needs no API key', (httpMethod, path) => {
    const [authorizerId] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::Authorizer');
    expect(method(plain.template, httpMethod, path)).toMatchObject({
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
      ApiKeyRequired: false,
    });
  });

  test.each([
    ['local', () => plain],
    ['aws', () => aws],
  ])('%s target: POST /auth/refresh and GET /.well-known/jwks.json run behind no authorizer and no API key', (_target, packaged) => {
    const { template } = packaged();
    for (const [route, logicalId] of [
      [REFRESH_ROUTE, 'RefreshLambdaFunction'],
      [JWKS_ROUTE, 'JwksLambdaFunction'],
    ] as const) {
      const unguarded = method(template, route[0], route[1]);
      expect(unguarded).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: false });
      expect(unguarded).not.toHaveProperty('AuthorizerId');
      expect(JSON.stringify(unguarded.Integration)).toContain(`"${logicalId}","Arn"`);
    }
  });

  test('POST /auth/token, /auth/revoke and /auth/introspect need an API key, bound to the stage through a usage plan', () => {
    expect(method(plain.template, 'POST', '/auth/token')).toMatchObject({ ApiKeyRequired: true, AuthorizationType: 'NONE' });
    expect(method(plain.template, 'POST', '/auth/revoke')).toMatchObject({ ApiKeyRequired: true, AuthorizationType: 'NONE' });
    expect(method(plain.template, 'POST', '/auth/introspect')).toMatchObject({ ApiKeyRequired: true, AuthorizationType: 'NONE' });

    const [apiKeyId, apiKey] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::ApiKey');
    const [usagePlanId, usagePlan] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::UsagePlan');
    const [, usagePlanKey] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::UsagePlanKey');
    expect(apiKey.Properties).toMatchObject({ Enabled: true, StageKeys: [{ RestApiId: { Ref: 'ApiGatewayRestApi' }, StageName: 'dev' }] });
    expect(usagePlan.Properties.ApiStages).toEqual([{ ApiId: { Ref: 'ApiGatewayRestApi' }, Stage: 'dev' }]);
    expect(usagePlanKey.Properties).toEqual({ KeyId: { Ref: apiKeyId }, KeyType: 'API_KEY', UsagePlanId: { Ref: usagePlanId } });
  });

  test('with SIGN_API_KEY unset the API key has no Value (AWS generates one); when set, it is in the template', () => {
    const [, generated] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::ApiKey');
    expect(generated.Properties).not.toHaveProperty('Value');
    const [, given] = onlyResourceOfType(withSecrets.template, 'AWS::ApiGateway::ApiKey');
    expect(given.Properties.Value).toBe(API_KEY_MARKER);
  });

  test.each([
    ['local', () => plain],
    ['aws', () => aws],
  ])('%s target: there are exactly the functions it deploys', (target, packaged) => {
    const handlers = resourcesOfType(packaged().template, 'AWS::Lambda::Function').map(([, resource]) => resource.Properties.Handler);
    expect(handlers.sort()).toEqual(
      deployedOn(target)
        .map((name) => `${FUNCTIONS[name].entry.replace(/\.ts$/, '')}.handler`)
        .sort(),
    );
  });

  test('local target: the demo login is POST /demo/login on both APIs, behind no authorizer and no API key, under the signing role', () => {
    const { template } = plain;
    const rest = method(template, ...DEMO_LOGIN_ROUTE);
    expect(rest).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: false });
    expect(rest).not.toHaveProperty('AuthorizerId');
    expect(JSON.stringify(rest.Integration)).toContain('"DemoLoginLambdaFunction","Arn"');
    const http = httpApiRoutes(template).get(DEMO_LOGIN_ROUTE.join(' '));
    expect(http?.AuthorizationType ?? 'NONE').toBe('NONE');
    expect(http).not.toHaveProperty('AuthorizerId');
    expect(JSON.stringify(http?.Target)).toContain('HttpApiIntegrationDemoLogin');
    expect(lambdaFunction(template, 'demoLogin').Role).toEqual({ 'Fn::GetAtt': ['SigningRole', 'Arn'] });
  });

  test('aws target: no trace of the demo login: no function, route, log group, permission or policy names it', () => {
    expect(JSON.stringify(aws.template)).not.toMatch(/demo/i);
    // The same check finds it on the local target: it is not blind.
    expect(JSON.stringify(plain.template)).toMatch(/DemoLoginLogGroup/);
  });

  test('every function is on nodejs24.x and arm64 with bounded settings', () => {
    for (const name of FUNCTION_NAMES) {
      // The kill switch SCANs the whole keyspace: it alone may run for minutes.
      const timeout = name === 'revokeAll' ? 900 : 6;
      expect(lambdaFunction(plain.template, name)).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], MemorySize: 256, Timeout: timeout });
    }
  });

  test('the kill switch has no HTTP route', () => {
    const permissions = resourcesOfType(plain.template, 'AWS::Lambda::Permission').map(([, resource]) => JSON.stringify(resource.Properties.FunctionName));
    expect(permissions.some((name) => name.includes('RevokeAllLambdaFunction'))).toBe(false);
    expect(permissions.some((name) => name.includes('SignLambdaFunction'))).toBe(true);
  });

  test('every function gets the full environment with the defaults shared/config.ts expects, and the key material its row allows', () => {
    for (const name of FUNCTION_NAMES) {
      // HS256: the secret is both signing and verifying key, and the JWKS publishes nothing, so holds nothing.
      // Empty: a deployed function that needs it refuses to start until a real one is provided.
      const keys = holdsSecret(name) ? { JWT_SECRET: '', JWT_KEYS: '', JWT_KEYS_SSM_PARAMETER: '' } : {};
      expect(lambdaFunction(plain.template, name).Environment).toEqual({
        Variables: {
          // Empty: a deployed function refuses to start until REDIS_URL is provided.
          REDIS_URL: '',
          ...keys,
          JWT_ALG: 'HS256',
          TOKEN_TTL: '900',
          MAX_TTL: '86400',
          MAX_SESSIONS: '100',
          SESSION_LIMIT: 'end-oldest',
          SESSION_MAX_AGE: '2592000',
          REFRESH_IDLE_TTL: '604800',
          REFRESH_REUSE_GRACE: '10',
          JWT_ISSUER: 'revocable-jwt',
          JWT_AUDIENCE: 'revocable-jwt-api',
          REDIS_TIMEOUT_MS: '1000',
          REDIS_WAIT_REPLICAS: '0',
          REDIS_CLUSTER: 'false',
          REDIS_ALLOW_EVICTION: 'false',
          LOG_LEVEL: 'info',
          // Empty: no browser origin may call the Bearer routes.
          CORS_ORIGINS: '',
        },
      });
    }
  });

  // Documents the local target's known exposure (the aws target has none, see below): whoever can read the
  // stack can read the secret.
  test('local target: JWT_SECRET from the packaging environment lands in plain text in the functions that hold keys, in no bundle', () => {
    for (const name of FUNCTION_NAMES) {
      const environment = lambdaFunction(withSecrets.template, name).Environment as { Variables: Record<string, string> };
      expect({ name, secret: environment.Variables.JWT_SECRET }).toEqual({ name, secret: holdsSecret(name) ? SECRET_MARKER : undefined });
      for (const entry of readZip(join(withSecrets.dir, `${name}.zip`))) {
        expect(entry.content.includes(SECRET_MARKER)).toBe(false);
      }
    }
  });

  test.each([
    ['UNAUTHORIZED', '401'],
    ['ACCESS_DENIED', '403'],
  ])("the %s gateway response is %s with a Bearer challenge and a JSON body like the handlers'", (responseType, statusCode) => {
    const matches = resourcesOfType(plain.template, 'AWS::ApiGateway::GatewayResponse').filter(
      ([, resource]) => resource.Properties.ResponseType === responseType,
    );
    expect(matches).toHaveLength(1);
    const properties = (matches[0] as [string, Resource])[1].Properties;
    expect(properties).toMatchObject({
      RestApiId: { Ref: 'ApiGatewayRestApi' },
      StatusCode: statusCode,
      ResponseParameters: { 'gatewayresponse.header.WWW-Authenticate': "'Bearer'" },
    });
    // API Gateway fills in $context.error.messageString already quoted: substitute a JSON string for it.
    const template = (properties.ResponseTemplates as Record<string, string>)['application/json'] ?? '';
    const rendered = JSON.parse(template.replace('$context.error.messageString', '"Unauthorized"')) as unknown;
    expect(rendered).toEqual({ error: responseType, message: 'Unauthorized' });
  });

  test("the DEFAULT_4XX and DEFAULT_5XX gateway responses also answer JSON in the handlers' shape", () => {
    for (const responseType of ['DEFAULT_4XX', 'DEFAULT_5XX']) {
      const found = resourcesOfType(plain.template, 'AWS::ApiGateway::GatewayResponse').find(
        ([, resource]) => resource.Properties.ResponseType === responseType,
      );
      const template = (found?.[1].Properties.ResponseTemplates as Record<string, string> | undefined)?.['application/json'] ?? '';
      const rendered = JSON.parse(
        template.replace('$context.error.responseType', 'INVALID_API_KEY').replace('$context.error.messageString', '"Forbidden"'),
      ) as unknown;
      expect(rendered).toEqual({ error: 'INVALID_API_KEY', message: 'Forbidden' });
    }
  });
});

/** The HTTP API's routes as `METHOD /path`, each with its properties. */
function httpApiRoutes(template: Template): Map<string, Record<string, unknown>> {
  return new Map(resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, resource]) => [String(resource.Properties.RouteKey), resource.Properties]));
}

/** Each group's role (deploy/keys.js): the functions of a row with these `keys` run under it. */
const ROLE_OF_GROUP = { signing: 'SigningRole', verifying: 'VerifyingRole', public: 'PublicRole', none: 'KeylessRole' } as const;

/** With HS256: the functions that hold the secret (or where to find it), those that sign or verify. */
function holdsSecret(name: FunctionName): boolean {
  return FUNCTIONS[name].keys === 'signing' || FUNCTIONS[name].keys === 'verifying';
}
const KEYRING_PARAMETER_ARN = {
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/revocable-jwt/prod/jwt-keys'],
  ],
};

type Statement = { Effect: string; Action: string[]; Resource: unknown };

/** All the AWS API access a function has: its role's inline statements and managed policies. */
function permissions(template: Template, name: FunctionName): { role: string; statements: Statement[]; managedPolicies: unknown[] } {
  const role = (lambdaFunction(template, name).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const properties = template.Resources[role]?.Properties;
  if (properties === undefined) throw new Error(`${name}'s role ${role} is not in the template`);
  const policies = properties.Policies as { PolicyDocument: { Statement: Statement[] } }[];
  return {
    role,
    statements: policies.flatMap((policy) => policy.PolicyDocument.Statement),
    managedPolicies: (properties.ManagedPolicyArns as unknown[] | undefined) ?? [],
  };
}

/** What `name` may ssm:GetParameter. */
function readableParameters(template: Template, name: FunctionName): unknown[] {
  return permissions(template, name)
    .statements.filter((statement) => statement.Action.includes('ssm:GetParameter'))
    .map((statement) => statement.Resource);
}

describe('serverless package: the HTTP API', () => {
  test.each([
    ['local', () => plain],
    ['aws', () => aws],
  ])('%s target: its authorizer is a request authorizer on the Authorization header, payload 2.0, simple responses', (_target, packaged) => {
    const [authorizerId, authorizer] = onlyResourceOfType(packaged().template, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizerId).toBe('HttpApiAuthorizerHttpAuthorizer');
    expect(authorizer.Properties).toMatchObject({
      ApiId: { Ref: 'HttpApi' },
      AuthorizerType: 'REQUEST',
      IdentitySource: ['$request.header.Authorization'],
      EnableSimpleResponses: true,
      AuthorizerPayloadFormatVersion: '2.0',
    });
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain('"HttpAuthorizerLambdaFunction","Arn"');
  });

  test.each([
    ['local', () => plain],
    ['aws', () => aws],
  ])('%s target: authorizer result caching is off on both APIs, as configured (a logout holds on the next request)', (_target, packaged) => {
    const [, rest] = onlyResourceOfType(packaged().template, 'AWS::ApiGateway::Authorizer');
    const [, http] = onlyResourceOfType(packaged().template, 'AWS::ApiGatewayV2::Authorizer');
    expect(rest.Properties.AuthorizerResultTtlInSeconds).toBe(0);
    expect(http.Properties.AuthorizerResultTtlInSeconds).toBe(0);
  });

  test.each([
    ['local', () => plain],
    ['aws', () => aws],
  ])(
    '%s target: serves exactly the protected routes, each behind its authorizer, and POST /auth/refresh, the JWKS (and locally the demo login) behind none, on the $default stage',
    (target, packaged) => {
      const { template } = packaged();
      const routes = httpApiRoutes(template);
      const refreshKey = REFRESH_ROUTE.join(' ');
      const jwksKey = JWKS_ROUTE.join(' ');
      const demoKeys = target === 'local' ? [DEMO_LOGIN_ROUTE.join(' ')] : [];
      expect([...routes.keys()].sort()).toEqual([...PROTECTED_ROUTES.map(([method, path]) => `${method} ${path}`), refreshKey, jwksKey, ...demoKeys].sort());
      expect(routes.get(jwksKey)?.AuthorizationType ?? 'NONE').toBe('NONE');
      for (const [key, properties] of routes) {
        if (key === refreshKey || key === jwksKey || demoKeys.includes(key)) continue;
        expect(properties).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: 'HttpApiAuthorizerHttpAuthorizer' } });
      }
      const refresh = routes.get(refreshKey);
      expect(refresh?.AuthorizationType ?? 'NONE').toBe('NONE');
      expect(refresh).not.toHaveProperty('AuthorizerId');
      expect(JSON.stringify(refresh?.Target)).toContain('HttpApiIntegrationRefresh');
      for (const [, integration] of resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')) {
        expect(integration.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
      }
      const [, stage] = onlyResourceOfType(template, 'AWS::ApiGatewayV2::Stage');
      expect(stage.Properties).toMatchObject({ StageName: '$default', AutoDeploy: true });
    },
  );

  test('the trusted routes are on the REST API only, where the API key guards them', () => {
    const routes = [...httpApiRoutes(aws.template).keys()];
    expect(routes.filter((route) => /\/auth\/(token|revoke|introspect)/.test(route))).toEqual([]);
    for (const path of ['/auth/token', '/auth/revoke', '/auth/introspect']) {
      expect(method(aws.template, 'POST', path)).toMatchObject({ ApiKeyRequired: true, AuthorizationType: 'NONE' });
    }
    const [, usagePlan] = onlyResourceOfType(aws.template, 'AWS::ApiGateway::UsagePlan');
    expect(usagePlan.Properties.ApiStages).toEqual([{ ApiId: { Ref: 'ApiGatewayRestApi' }, Stage: 'prod' }]);
    onlyResourceOfType(aws.template, 'AWS::ApiGateway::UsagePlanKey');
  });
});

describe('serverless package: deployment targets, VPC and IAM', () => {
  test('local target: no function is in a VPC', () => {
    for (const name of FUNCTION_NAMES) expect(lambdaFunction(plain.template, name)).not.toHaveProperty('VpcConfig');
  });

  test('aws target: every function runs in the VPC given for the stage', () => {
    for (const name of deployedOn('aws')) {
      expect(lambdaFunction(aws.template, name).VpcConfig).toEqual({
        SecurityGroupIds: { 'Fn::Split': [',', AWS_STUBS.securityGroupIds] },
        SubnetIds: { 'Fn::Split': [',', AWS_STUBS.subnetIds] },
      });
    }
  });

  test.each([
    ['local', () => plain],
    ['aws', () => aws],
  ])("%s target: each function runs under its group's role, and the stack's IAM is those roles, one per group", (target, packaged) => {
    const { template } = packaged();
    for (const name of deployedOn(target)) {
      expect({ name, role: lambdaFunction(template, name).Role }).toEqual({ name, role: { 'Fn::GetAtt': [ROLE_OF_GROUP[FUNCTIONS[name].keys], 'Arn'] } });
    }
    const iam = Object.entries(template.Resources).filter(([, resource]) => resource.Type.startsWith('AWS::IAM::'));
    expect(iam.map(([id, resource]) => `${id} ${resource.Type}`).sort()).toEqual(
      Object.values(ROLE_OF_GROUP)
        .map((id) => `${id} AWS::IAM::Role`)
        .sort(),
    );
  });

  test.each([
    ['local', () => plain, 'dev', []],
    ['aws', () => aws, 'prod', [VPC_NETWORK_INTERFACES]],
  ])(
    "%s target: a function may write to the log groups of its group's functions, manage network interfaces in a VPC, read the keyring where it holds it, and nothing else",
    (target, packaged, stage, inVpc) => {
      const { template } = packaged();
      for (const name of deployedOn(target)) {
        const { statements, managedPolicies } = permissions(template, name);
        expect({ name, managedPolicies }).toEqual({ name, managedPolicies: [] });
        // Only the log groups of functions the target deploys: a role naming another would fail the deployment.
        const group = deployedOn(target).filter((other) => FUNCTIONS[other].keys === FUNCTIONS[name].keys);
        const logGroups = group.map((member) => `/aws/lambda/revocable-jwt-${stage}-${member}`);
        const [logs, ...others] = statements;
        expect(logs).toMatchObject({ Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] });
        // A log group the stack lacks shows as such (toEqual would skip an undefined entry).
        const granted = (logs?.Resource as { 'Fn::GetAtt': [string, 'Arn'] }[]).map(({ 'Fn::GetAtt': [id] }) => template.Resources[id] ?? `no resource ${id}`);
        expect({ name, granted }).toEqual({
          name,
          granted: logGroups.map((logGroupName) => ({ Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: logGroupName, RetentionInDays: 14 } })),
        });
        // No logs action on any other resource: one function cannot write into another's logs, or their metrics.
        const keyring = others.filter((statement) => statement.Action.includes('ssm:GetParameter'));
        for (const statement of keyring)
          expect({ name, statement }).toEqual({ name, statement: { Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: KEYRING_PARAMETER_ARN } });
        expect({ name, rest: others.filter((statement) => !keyring.includes(statement)) }).toEqual({ name, rest: inVpc });
      }
    },
  );

  test.each([
    ['local', () => plain, { signing: [], verifying: [], public: [], none: [] }],
    ['aws', () => aws, { signing: [KEYRING_PARAMETER_ARN], verifying: [KEYRING_PARAMETER_ARN], public: [], none: [] }],
  ])('%s target with HS256: the functions that hold the secret, and they alone, may read the keyring parameter', (target, packaged, expected) => {
    for (const name of deployedOn(target)) {
      expect({ name, readable: readableParameters(packaged().template, name) }).toEqual({ name, readable: expected[FUNCTIONS[name].keys] });
    }
  });

  test('aws target: without the stubs, packaging looks the settings up in SSM, and so fails without AWS credentials', async () => {
    const failure = await packageService(apiEnvironment({}), ['--stage', 'prod']).then(
      () => undefined,
      (error: unknown) => error as { stdout: string; stderr: string },
    );
    expect(failure).toBeDefined();
    const printed = `${failure?.stdout}${failure?.stderr}`;
    expect(printed).toContain('AWS provider credentials not found');
    for (const setting of ['custom.target.redisUrl', 'custom.target.vpc.securityGroupIds', 'custom.target.vpc.subnetIds']) {
      expect(printed).toContain(`Cannot resolve variable at "${setting}`);
    }
  });

  test("aws target: the environment has the Redis endpoint and, where the function holds keys, the keyring parameter's name, and no secret", () => {
    for (const name of deployedOn('aws')) {
      const { Variables: variables } = lambdaFunction(aws.template, name).Environment as { Variables: Record<string, string> };
      expect(variables).toMatchObject({ REDIS_URL: AWS_STUBS.redisUrl });
      const keys = { JWT_SECRET: variables.JWT_SECRET, JWT_KEYS: variables.JWT_KEYS, JWT_KEYS_SSM_PARAMETER: variables.JWT_KEYS_SSM_PARAMETER };
      expect({ name, keys }).toEqual({
        name,
        keys: holdsSecret(name)
          ? { JWT_SECRET: '', JWT_KEYS: '', JWT_KEYS_SSM_PARAMETER: '/revocable-jwt/prod/jwt-keys' }
          : { JWT_SECRET: undefined, JWT_KEYS: undefined, JWT_KEYS_SSM_PARAMETER: undefined },
      });
    }
  });

  test('aws target: no secret from the packaging shell is anywhere in the template or the bundles', () => {
    const template = JSON.stringify(aws.template);
    for (const marker of [SECRET_MARKER, KEYRING_MARKER, API_KEY_MARKER]) {
      expect(template.includes(marker)).toBe(false);
      for (const name of deployedOn('aws')) {
        for (const entry of readZip(join(aws.dir, `${name}.zip`))) expect(entry.content.includes(marker)).toBe(false);
      }
    }
    // Nor the public development secret, the one secret the repository itself holds.
    expect(template.includes('local-development-secret')).toBe(false);
    // The API key has no value: AWS generates it, and it is read from API Gateway, never from the stack.
    const [, apiKey] = onlyResourceOfType(aws.template, 'AWS::ApiGateway::ApiKey');
    expect(apiKey.Properties).not.toHaveProperty('Value');
    expect(apiKey.Properties).toMatchObject({ Enabled: true, StageKeys: [{ RestApiId: { Ref: 'ApiGatewayRestApi' }, StageName: 'prod' }] });
  });
});

describe('serverless package: the function zips', () => {
  const sizes: Record<string, { zip: number; js: number }> = {};

  afterAll(() => {
    // For the record: bundle sizes drift as dependencies change.
    console.log(`function packages (bytes): ${JSON.stringify(sizes)}`);
  });

  test.each(FUNCTION_NAMES)('%s.zip holds one bundled JS file that needs nothing but Node built-ins', (name) => {
    const zipPath = join(plain.dir, `${name}.zip`);
    const entries = readZip(zipPath);
    expect(entries.map((entry) => entry.name)).toEqual([FUNCTIONS[name].entry.replace(/\.ts$/, '.js')]);
    const code = (entries[0] as ZipEntry).content.toString('utf8');
    sizes[name] = { zip: statSync(zipPath).size, js: code.length };

    const required = [...code.matchAll(/require\(\s*["']([^"']+)["']\s*\)/g)].map((match) => match[1] ?? '');
    const builtins = new Set(builtinModules);
    const external = required.filter((module) => !module.startsWith('node:') && !builtins.has(module) && !OPTIONAL_PEERS.has(module));
    expect(external).toEqual([]);
    expect(code).toContain('exports');
  });

  // With the require check above this shows the libraries were inlined, not merely left out.
  test('the bundles that touch Redis carry the Redis client inside them, and no JWT library', () => {
    for (const name of ['sign', 'refresh', 'logout', 'logoutAll', 'revoke', 'authorizer', 'httpAuthorizer']) {
      const code = (readZip(join(plain.dir, `${name}.zip`))[0] as ZipEntry).content.toString('utf8');
      expect(code).toContain('Socket closed unexpectedly'); // @redis/client
      // Tokens are signed and checked with node:crypto (shared/auth/jws.ts): jsonwebtoken and jwt-redis are for tests.
      expect(code).not.toContain('jwt audience invalid'); // jsonwebtoken
      expect(code).not.toContain('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'); // jwt-redis's generateId
      // Built through deploy/esbuild-plugins.js, as serverless.yml asks: the cheap client class build.
      expect(code).toContain('__dictionaryMode');
    }
    const meCode = (readZip(join(plain.dir, 'me.zip'))[0] as ZipEntry).content.toString('utf8');
    expect(meCode).not.toContain('Socket closed unexpectedly');
  });
});

describe('serverless package: trusted callers and the usage plan', () => {
  async function packagingError(args: string[]): Promise<string> {
    const failure = await packageService(apiEnvironment({}), args).then(
      () => undefined,
      (error: unknown) => error as { stdout: string; stderr: string },
    );
    expect(failure).toBeDefined();
    return `${failure?.stdout}${failure?.stderr}`;
  }

  test('by default the API key is throttled at 20 requests/s with a burst of 50 and no quota', () => {
    const [, usagePlan] = onlyResourceOfType(plain.template, 'AWS::ApiGateway::UsagePlan');
    expect(usagePlan.Properties.Throttle).toEqual({ RateLimit: 20, BurstLimit: 50 });
    expect(usagePlan.Properties).not.toHaveProperty('Quota');
  });

  test('usagePlanRate, usagePlanBurst and usagePlanQuota set the usage plan', async () => {
    const tuned = await packageWith({}, ['--param=usagePlanRate=100', '--param=usagePlanBurst=200', '--param=usagePlanQuota=500000/MONTH']);
    const [, usagePlan] = onlyResourceOfType(tuned.template, 'AWS::ApiGateway::UsagePlan');
    expect(usagePlan.Properties.Throttle).toEqual({ RateLimit: 100, BurstLimit: 200 });
    expect(usagePlan.Properties.Quota).toEqual({ Limit: 500000, Period: 'MONTH' });
  });

  test.each([
    ['usagePlanRate', '--param=usagePlanRate=fast'],
    ['usagePlanBurst', '--param=usagePlanBurst=-1'],
    ['usagePlanQuota', '--param=usagePlanQuota=1000/YEAR'],
    ['trustedCallers', '--param=trustedCallers=cookie'],
  ])('a bad %s fails the packaging with a message naming it', async (name, arg) => {
    expect(await packagingError([arg])).toContain(`--param ${name} must`);
  });

  test('trustedCallers=iam is refused on the local target: serverless offline cannot check SigV4', async () => {
    expect(await packagingError(['--param=trustedCallers=iam'])).toContain('--param trustedCallers=iam needs the aws target');
  });

  test('aws target with trustedCallers=iam: sign, revoke and introspect need SigV4, and there is no API key or usage plan', async () => {
    const iam = await packageWith({ SIGN_API_KEY: API_KEY_MARKER }, [...AWS_TARGET_ARGS, '--param=trustedCallers=iam']);
    for (const path of ['/auth/token', '/auth/revoke', '/auth/introspect']) {
      expect(method(iam.template, 'POST', path)).toMatchObject({ AuthorizationType: 'AWS_IAM', ApiKeyRequired: false });
    }
    for (const type of ['AWS::ApiGateway::ApiKey', 'AWS::ApiGateway::UsagePlan', 'AWS::ApiGateway::UsagePlanKey']) {
      expect(resourcesOfType(iam.template, type)).toEqual([]);
    }
    expect(JSON.stringify(iam.template)).not.toContain(API_KEY_MARKER);
    // The routes behind the authorizer do not change, nor does the refresh route, which needs neither.
    for (const [httpMethod, path] of PROTECTED_ROUTES) {
      expect(method(iam.template, httpMethod, path)).toMatchObject({ AuthorizationType: 'CUSTOM' });
    }
    expect(method(iam.template, ...REFRESH_ROUTE)).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: false });
  });
});

describe('serverless package: outputs for stacks that add their own routes', () => {
  test.each([
    ['RestApiId', { Ref: 'ApiGatewayRestApi' }],
    ['RestApiRootResourceId', { 'Fn::GetAtt': ['ApiGatewayRestApi', 'RootResourceId'] }],
    ['RestApiAuthorizerId', { Ref: 'AuthorizerApiGatewayAuthorizer' }],
    ['AuthorizerFunctionArn', { 'Fn::GetAtt': ['AuthorizerLambdaFunction', 'Arn'] }],
    ['HttpApiId', { Ref: 'HttpApi' }],
    ['HttpApiAuthorizerId', { Ref: 'HttpApiAuthorizerHttpAuthorizer' }],
    ['HttpAuthorizerFunctionArn', { 'Fn::GetAtt': ['HttpAuthorizerLambdaFunction', 'Arn'] }],
  ])('%s is exported under the stack-qualified name', (name, value) => {
    for (const [template, stage] of [
      [plain.template, 'dev'],
      [aws.template, 'prod'],
    ] as const) {
      const output = template.Outputs?.[name];
      expect(output?.Value).toEqual(value);
      expect(output?.Export?.Name).toBe(`sls-revocable-jwt-${stage}-${name}`);
      // Each refers to a resource the template has.
      const target = (value as { Ref?: string; 'Fn::GetAtt'?: string[] }).Ref ?? (value as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
      expect(template.Resources).toHaveProperty([target as string]);
    }
  });

  test("RestApiExecutionArn is the stage's execute-api ARN, the prefix of an IAM policy for the trusted routes", () => {
    const joined = JSON.stringify(aws.template.Outputs?.RestApiExecutionArn?.Value);
    expect(joined).toContain('":execute-api:"');
    expect(joined).toContain('{"Ref":"ApiGatewayRestApi"},"/prod"');
  });
});

describe('serverless package with JWT_ALG=ES256: least privilege per function', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const publicPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }) as string;
  const ring = JSON.stringify([{ kid: 'es-1', key: privatePem }]);
  let es256: Packaged;
  let esAws: Packaged;
  beforeAll(async () => {
    [es256, esAws] = await Promise.all([
      packageWith({ JWT_ALG: 'ES256', JWT_KEYS: ring }),
      packageWith({ JWT_ALG: 'ES256' }, [...AWS_TARGET_ARGS, `--param=jwtPublicKeys=${JSON.stringify([{ kid: 'es-1', key: publicPem }])}`]),
    ]);
  }, 120_000);

  test.each([
    ['local', () => es256],
    ['aws', () => esAws],
  ])('%s target: the private keys only where tokens are signed, the public keys where they are checked, nothing elsewhere', (target, packaged) => {
    for (const name of deployedOn(target)) {
      const variables = (lambdaFunction(packaged().template, name).Environment as { Variables: Record<string, string> }).Variables;
      const held = Object.keys(variables).filter((variable) => ['JWT_SECRET', 'JWT_KEYS', 'JWT_PUBLIC_KEYS', 'JWT_KEYS_SSM_PARAMETER'].includes(variable));
      const expected = {
        signing: ['JWT_SECRET', 'JWT_KEYS', 'JWT_KEYS_SSM_PARAMETER'],
        verifying: ['JWT_PUBLIC_KEYS'],
        public: ['JWT_PUBLIC_KEYS'],
        none: [],
      }[FUNCTIONS[name].keys];
      expect({ name, held: held.sort() }).toEqual({ name, held: expected.sort() });
      const text = JSON.stringify(variables);
      expect({ name, private: text.includes('PRIVATE KEY') }).toEqual({ name, private: target === 'local' && FUNCTIONS[name].keys === 'signing' });
      if (FUNCTIONS[name].keys === 'verifying' || FUNCTIONS[name].keys === 'public') {
        expect(JSON.parse(variables.JWT_PUBLIC_KEYS as string)).toEqual([{ kid: 'es-1', key: publicPem }]);
      }
    }
  });

  test.each([
    ['local', () => es256, { signing: [], verifying: [], public: [], none: [] }],
    ['aws', () => esAws, { signing: [KEYRING_PARAMETER_ARN], verifying: [], public: [], none: [] }],
  ])('%s target: only the functions that sign may read the private keyring parameter', (target, packaged, expected) => {
    for (const name of deployedOn(target)) {
      expect({ name, readable: readableParameters(packaged().template, name) }).toEqual({ name, readable: expected[FUNCTIONS[name].keys] });
    }
  });
});
