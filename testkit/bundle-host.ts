// A stand-in Lambda container for one packaged function, run under the Lambda runtime's Node.js by
// test/e2e/bundles-runtime.test.ts: it refuses any other Node major, loads the bundle from the function's zip
// as the runtime does (require the module, take the named export), and runs invocations sent over IPC.
// Transpiled on its own, without bundling: it must hold nothing but this file.
// Arguments: <expected Node major> <bundle file> <export name>.

export interface BundleInvocation {
  id: number;
  event: unknown;
}

export type BundleInvocationResult = { id: number } & ({ ok: true; result: unknown } | { ok: false; error: { name: string; message: string } });

export interface BundleHostReady {
  ready: true;
  /** process.versions.node, as the bundle saw it. */
  node: string;
}

const [expectedMajor, file, exportName] = process.argv.slice(2);
if (Number(process.versions.node.split('.')[0]) !== Number(expectedMajor)) {
  process.stderr.write(`bundle host: Node.js ${process.versions.node} is not the Lambda runtime's Node.js ${expectedMajor}\n`);
  process.exit(70);
}
// A bundle that cannot load under this Node (syntax, a missing module) throws here and ends the process.
const exported = (module.require(String(file)) as Record<string, unknown>)[String(exportName)];
if (typeof exported !== 'function') {
  process.stderr.write(`bundle host: ${file} exports no function ${exportName}\n`);
  process.exit(71);
}
/** Called as the runtime calls a handler: the event and a context (only awsRequestId here); it may return a promise. */
const handler = exported as (event: unknown, context: { awsRequestId: string }) => unknown;

process.on('message', ({ id, event }: BundleInvocation) => {
  const reply = (outcome: BundleInvocationResult) => process.send?.(outcome);
  Promise.resolve()
    .then(() => handler(event, { awsRequestId: `bundle-test-${id}` }))
    .then(
      (result) => reply({ id, ok: true, result }),
      (error: unknown) => reply({ id, ok: false, error: { name: (error as Error).name, message: (error as Error).message } }),
    );
});

// The test process is gone: do not outlive it.
process.on('disconnect', () => process.exit(0));

const ready: BundleHostReady = { ready: true, node: process.versions.node };
process.send?.(ready);
