// How every function is bundled, kept here alone: serverless.yml's `custom.esbuild.config` points at this file,
// and the bench (bench/lib/cold.ts) builds its bundles with LAMBDA_BUILD, so that what is measured is what ships.
'use strict';
const plugins = require('./esbuild-plugins');

/** esbuild's own options for a function bundle. */
const LAMBDA_BUILD = {
  bundle: true,
  minify: true,
  sourcemap: false,
  // The Node.js of serverless.yml's provider.runtime (test/integration/bench-smoke.test.ts checks it).
  target: 'node24',
  platform: 'node',
  format: 'cjs',
  // @redis/client goes into each bundle (tokens are signed and checked with node:crypto), so every function zip
  // holds a single JS file and no node_modules. The one exception is the AWS SDK's SSM client, which the Node.js
  // runtime provides and which only the aws target loads (shared/auth/keyring.ts): never bundled, never packaged.
  external: ['@aws-sdk/client-ssm'],
  // node-redis builds ~820 methods on the first createClient(), at cold start: the plugin makes that cheap.
  plugins,
};

/**
 * What serverless-esbuild calls with `custom.esbuild.config` set. It then reads no other key of
 * `custom.esbuild` itself, so this hands on the plugin's own ones from serverless.yml (work folder, watch),
 * and refuses any that would restate or override LAMBDA_BUILD.
 * @param {{ service: { custom: { esbuild: Record<string, unknown> } } }} serverless
 */
function serverlessEsbuildOptions(serverless) {
  const { config: _thisFile, ...fromYaml } = serverless.service.custom.esbuild;
  const restated = Object.keys(fromYaml).filter((key) => key in LAMBDA_BUILD || key === 'exclude');
  if (restated.length > 0) {
    throw new Error(`serverless.yml custom.esbuild sets ${restated.join(', ')}: bundler settings belong in deploy/esbuild-options.js`);
  }
  // `exclude`: what is external is not put in the zip's node_modules either.
  return { ...LAMBDA_BUILD, exclude: [...LAMBDA_BUILD.external], ...fromYaml };
}

module.exports = serverlessEsbuildOptions;
module.exports.LAMBDA_BUILD = LAMBDA_BUILD;
