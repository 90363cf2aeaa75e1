// esbuild plugins for the function bundles, used through deploy/esbuild-options.js by serverless-esbuild and
// the bench's bundles (bench/lib/cold.ts) alike, so that what is measured is what ships.
'use strict';
const { readFile } = require('node:fs/promises');

/** The class node-redis's attachConfig() creates, before it adds a method per command to its prototype. */
const CLASS_CREATED = /(Class = class extends BaseClass \{\s*\};)/;

/**
 * node-redis 6 builds its client class on the first createClient(): about 820 methods added one at a time
 * to a new prototype, each addition changing the prototype's hidden class. At cold start that took ~40 ms,
 * as long as loading every dependency. Turning the prototype into a dictionary first (add a property, delete
 * it) makes the additions cheap; V8 makes it a fast prototype again once the first client is built on it.
 * Same methods, same behaviour: only the order of V8's internal representations changes.
 *
 * If node-redis's code no longer matches, the bundle is built unpatched (slower cold start, nothing else)
 * with a warning; test/unit/esbuild-plugins.test.ts fails on the installed version, so an upgrade shows it.
 */
const nodeRedisClassBuild = {
  name: 'node-redis-class-build',
  setup(build) {
    build.onLoad({ filter: /[\\/]@redis[\\/]client[\\/]dist[\\/]lib[\\/]commander\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!CLASS_CREATED.test(source)) {
        return {
          contents: source,
          loader: 'js',
          warnings: [{ text: 'node-redis commander.js changed: its client class is built unpatched (slower cold start); see deploy/esbuild-plugins.js' }],
        };
      }
      return {
        contents: source.replace(CLASS_CREATED, '$1 Class.prototype.__dictionaryMode = 0; delete Class.prototype.__dictionaryMode;'),
        loader: 'js',
      };
    });
  },
};

module.exports = [nodeRedisClassBuild];
