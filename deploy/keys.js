// @ts-check
// The key material each group of functions gets (shared/handlers/table.ts, `keys`), read by serverless.yml as
// `${file(./deploy/keys.js):name}` at package time: the functions that sign get the signing keys; those that only
// verify get the public keys of an ES256 or EdDSA ring (with HS256, the secret, which is both); the others get
// none, and refuse any (shared/config.ts, loadConfig).
'use strict';

/**
 * @typedef {{ resolveVariable: (variable: string) => Promise<unknown> }} Resolver
 * @param {Resolver} resolver
 */
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
  const parameter = await resolver.resolveVariable('self:custom.target.jwtPublicKeysParameter');
  const publicKeys =
    parameter === '' ? await publicKeysFromEnvironment(resolver) : await resolver.resolveVariable(`param:jwtPublicKeys, ssm:${String(parameter)}`);
  return { JWT_PUBLIC_KEYS: publicKeys };
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

module.exports = { signingEnvironment, verifyingEnvironment };
