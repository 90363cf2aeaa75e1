// @ts-check
// What each function may hold and read, by the group its row of shared/handlers/table.ts names (`keys`), read by
// serverless.yml at package time:
//   `${file(./deploy/keys.js):environment.<function>}`  its key variables: the functions that sign get the signing
//     keys; those that only verify the public keys of an ES256 or EdDSA ring (with HS256, the secret, which is
//     both); the JWKS (`public`) those public keys too, and with HS256 nothing; the others none, and they refuse any
//     (shared/config.ts, loadConfig);
//   `${file(./deploy/keys.js):role.<function>}`  its group's IAM role, one per group, in `roles`: each may write
//     its own functions' logs, and only a group whose variables name the keyring parameter may read it from SSM.
'use strict';

/** @typedef {'signing' | 'verifying' | 'public' | 'none'} KeyGroup */
/** @typedef {{ resolveVariable: (variable: string) => Promise<unknown> }} Resolver */

/** @type {Record<KeyGroup, string>} */
const ROLE_OF_GROUP = { signing: 'SigningRole', verifying: 'VerifyingRole', public: 'PublicRole', none: 'KeylessRole' };

/** The function table, loaded only when asked for: serverless reads this file for every command. */
function functionTable() {
  /** @type {typeof import('../shared/handlers/table')} */
  const table = require('tsx/cjs/api').require('../shared/handlers/table.ts', __filename);
  return table;
}

/**
 * Every function with its group; with a target, only the functions deployed there (a role may name no log group
 * the stack lacks).
 * @param {import('../shared/handlers/table').Target} [target]
 * @returns {Array<[string, KeyGroup]>}
 */
function functionGroups(target) {
  const { FUNCTIONS, functionsOn } = functionTable();
  const names = target === undefined ? /** @type {Array<keyof typeof FUNCTIONS>} */ (Object.keys(FUNCTIONS)) : functionsOn(target);
  return names.map((name) => [name, FUNCTIONS[name].keys]);
}

/** @param {Resolver} resolver */
async function signingEnvironment({ resolveVariable }) {
  return {
    JWT_SECRET: await resolveVariable('self:custom.target.jwtSecret'),
    JWT_KEYS: await resolveVariable('self:custom.target.jwtKeys'),
    JWT_KEYS_SSM_PARAMETER: await resolveVariable('self:custom.target.jwtKeysSsmParameter'),
  };
}

/** @param {Resolver} resolver */
async function verifyingEnvironment(resolver) {
  const alg = await resolver.resolveVariable("env:JWT_ALG, 'HS256'");
  if (alg === 'HS256') return signingEnvironment(resolver);
  return publicEnvironment(resolver);
}

/**
 * The public keys of an ES256 or EdDSA ring; with HS256 nothing: its key is secret, and the JWKS publishes none.
 * @param {Resolver} resolver
 */
async function publicEnvironment(resolver) {
  const alg = await resolver.resolveVariable("env:JWT_ALG, 'HS256'");
  if (alg === 'HS256') return {};
  const parameter = await resolver.resolveVariable('self:custom.target.jwtPublicKeysParameter');
  const publicKeys =
    parameter === '' ? await publicKeysFromEnvironment(resolver) : await resolver.resolveVariable(`param:jwtPublicKeys, ssm:${String(parameter)}`);
  return { JWT_PUBLIC_KEYS: publicKeys };
}

/**
 * @param {KeyGroup} group
 * @param {Resolver} resolver
 * @returns {Promise<Record<string, unknown>>}
 */
async function groupEnvironment(group, resolver) {
  if (group === 'signing') return signingEnvironment(resolver);
  if (group === 'verifying') return verifyingEnvironment(resolver);
  if (group === 'public') return publicEnvironment(resolver);
  return {};
}

/**
 * The local target's public keys: JWT_PUBLIC_KEYS as given, or those of the private keys in JWT_KEYS, as the same
 * JSON array with public PEM text. shared/config.ts reads them, so packaging refuses what a cold start would.
 * @param {Resolver} resolver
 */
async function publicKeysFromEnvironment({ resolveVariable }) {
  const alg = await resolveVariable("env:JWT_ALG, 'HS256'");
  const given = await resolveVariable("env:JWT_PUBLIC_KEYS, ''");
  if (typeof given === 'string' && given.trim() !== '') return given;
  const ring = await resolveVariable("env:JWT_KEYS, ''");
  if (alg === 'HS256' || typeof ring !== 'string' || ring.trim() === '') return '';
  /** @type {typeof import('../shared/config')} */
  const config = require('tsx/cjs/api').require('../shared/config.ts', __filename);
  const { publicKeys } = config.asymmetricKeyring(
    config.parseAsymmetricKeyring(ring, 'JWT_KEYS', 'private', /** @type {'ES256' | 'EdDSA'} */ (alg)),
    /** @type {'ES256' | 'EdDSA'} */ (alg),
  );
  return JSON.stringify(publicKeys.map(({ kid, key }) => ({ kid, key: key.export({ format: 'pem', type: 'spki' }) })));
}

/** @param {Resolver} resolver */
async function environment(resolver) {
  const byGroup = {
    signing: await groupEnvironment('signing', resolver),
    verifying: await groupEnvironment('verifying', resolver),
    public: await groupEnvironment('public', resolver),
    none: await groupEnvironment('none', resolver),
  };
  return Object.fromEntries(functionGroups().map(([name, group]) => [name, byGroup[group]]));
}

function role() {
  return Object.fromEntries(functionGroups().map(([name, group]) => [name, ROLE_OF_GROUP[group]]));
}

/** serverless's logical id of a function's log group (its naming.getLogGroupLogicalId, for camelCase names). */
function logGroupId(/** @type {string} */ name) {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}LogGroup`;
}

/** @param {string} parameterName e.g. /revocable-jwt/prod/jwt-keys */
function parameterArn(parameterName) {
  return {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:parameter${parameterName}`]],
  };
}

/**
 * What Lambda needs to attach a function to the VPC: AWS's AWSLambdaVPCAccessExecutionRole without its logs
 * actions on every log group, which would let any function write into every other's logs (and their metrics).
 * DescribeNetworkInterfaces and DescribeSubnets take no resource but `*`.
 */
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

/**
 * The four roles, one per group, as a `resources` entry. PublicRole, like KeylessRole, may read no parameter: its
 * function's variables never name the keyring. In a VPC (the aws target) each may also manage the functions' network
 * interfaces. Reading the keyring parameter needs no KMS permission while it is encrypted with
 * the default key aws/ssm; with a customer managed key, allow kms:Decrypt on that key to SigningRole (and, with
 * HS256, VerifyingRole).
 * @param {Resolver} resolver
 */
async function roles(resolver) {
  const inVpc = (await resolver.resolveVariable('self:custom.target.vpc, null')) != null;
  const groups = functionGroups(/** @type {import('../shared/handlers/table').Target} */ (await resolver.resolveVariable('param:target')));
  /** @type {Record<string, unknown>} */
  const resources = {};
  for (const group of /** @type {KeyGroup[]} */ (['signing', 'verifying', 'public', 'none'])) {
    const logGroups = groups.filter(([, of]) => of === group).map(([name]) => ({ 'Fn::GetAtt': [logGroupId(name), 'Arn'] }));
    const keyringParameter = (await groupEnvironment(group, resolver)).JWT_KEYS_SSM_PARAMETER;
    const statements = [
      // The log groups exist already (serverless defines them): writing to them is all a function needs.
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: logGroups },
      ...(typeof keyringParameter === 'string' && keyringParameter !== ''
        ? [{ Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: parameterArn(keyringParameter) }]
        : []),
      ...(inVpc ? [VPC_NETWORK_INTERFACES] : []),
    ];
    resources[ROLE_OF_GROUP[group]] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: ['sts:AssumeRole'] }],
        },
        Policies: [
          {
            PolicyName: `${ROLE_OF_GROUP[group].replace(/Role$/, '').toLowerCase()}-functions`,
            PolicyDocument: { Version: '2012-10-17', Statement: statements },
          },
        ],
      },
    };
  }
  return { Resources: resources };
}

module.exports = { environment, role, roles };
