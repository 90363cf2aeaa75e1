// A fresh Lambda container in miniature: load one bundled function (its init starts the Redis connect),
// invoke it at once, then once more. Started by bench/lib/cold.ts with the bundle path in argv[2], the two
// events as JSON in BENCH_EVENTS and the function's environment; reports on one `BENCH_RESULT {…}` line.
// The handlers' own log lines go to the same stdout, a pipe, as on Lambda.
import { randomUUID } from 'node:crypto';

interface Outcome {
  ok: boolean;
  detail: string;
}

function outcome(answer: unknown): Outcome {
  const value = answer as { statusCode?: number; policyDocument?: { Statement?: Array<{ Effect?: string }> } } | undefined;
  if (value?.policyDocument !== undefined) {
    const effect = value.policyDocument.Statement?.[0]?.Effect;
    return { ok: effect === 'Allow', detail: `policy ${String(effect)}` };
  }
  const status = value?.statusCode;
  return { ok: status === 201 || status === 204, detail: `status ${String(status)}` };
}

async function main(): Promise<void> {
  const bundle = process.argv[2];
  const events = JSON.parse(process.env.BENCH_EVENTS ?? '[]') as unknown[];
  if (bundle === undefined || events.length !== 2) throw new Error('usage: first-invoke <bundle.js> with BENCH_EVENTS=[event, event]');
  const t0 = process.hrtime.bigint();
  // module.require: the bundle's path is known only at run time.
  const loaded = module.require(bundle) as { handler: (event: unknown, context: { awsRequestId: string }) => Promise<unknown> };
  const t1 = process.hrtime.bigint();
  const first = outcome(await loaded.handler(events[0], { awsRequestId: randomUUID() }));
  const t2 = process.hrtime.bigint();
  const second = outcome(await loaded.handler(events[1], { awsRequestId: randomUUID() }));
  const t3 = process.hrtime.bigint();
  const result = {
    loadMs: Number(t1 - t0) / 1e6,
    firstMs: Number(t2 - t1) / 1e6,
    secondMs: Number(t3 - t2) / 1e6,
    ok: first.ok && second.ok,
    detail: `${first.detail}, ${second.detail}`,
  };
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify({ ok: false, detail: error instanceof Error ? error.message : String(error) })}\n`, () =>
    process.exit(1),
  );
});
