// @ts-check
// The demo page `npm start` serves at /demo/ (demo/): its HTML and CSS as they are, and demo/demo.ts bundled with
// the typed client (client/src) by esbuild, in memory, once at startup. Edits show after a restart.
'use strict';
const { readFile } = require('node:fs/promises');
const { join } = require('node:path');
const { build } = require('esbuild');

const DEMO = join(__dirname, '..', 'demo');

/** @typedef {import('./local-gateway').StaticFile} StaticFile */

/** @returns {Promise<Map<string, StaticFile>>} the page's files by URL path */
async function buildDemoPage() {
  const [html, css, bundle] = await Promise.all([
    readFile(join(DEMO, 'index.html')),
    readFile(join(DEMO, 'demo.css')),
    build({
      entryPoints: [join(DEMO, 'demo.ts')],
      tsconfig: join(DEMO, 'tsconfig.json'),
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      // The page is for reading: its code too, in the browser's developer tools.
      sourcemap: 'inline',
      logLevel: 'silent',
    }),
  ]);
  const page = { type: 'text/html; charset=utf-8', body: html };
  return new Map([
    ['/demo', page],
    ['/demo/', page],
    ['/demo/demo.css', { type: 'text/css; charset=utf-8', body: css }],
    ['/demo/demo.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(bundle.outputFiles[0]?.contents ?? []) }],
  ]);
}

module.exports = { buildDemoPage };
