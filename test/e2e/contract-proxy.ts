// An HTTP proxy in front of `npm start` for the programs a test runs (the README's curl lines): it passes each request
// on and each answer back as they are, and checks the answer against docs/openapi.yaml as request() does.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkAgainstContract } from './start-api';

export interface CheckedAnswer {
  method: string;
  path: string;
  status: number;
  /** What docs/openapi.yaml does not document about it. */
  problem?: string;
}

export interface ContractProxy {
  /** The proxy's origin: a path under it goes to the same path under the API's origin. */
  readonly url: string;
  /** Every answer passed back, in order. */
  readonly answers: readonly CheckedAnswer[];
  close(): Promise<void>;
}

/** Connection-level headers and the body's framing: each hop sets its own. fetch has already decoded the body. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'host']);

/** `origin`: where `npm start` serves both APIs, e.g. http://localhost:41234. */
export async function startContractProxy(origin: string): Promise<ContractProxy> {
  const answers: CheckedAnswer[] = [];
  const server = createServer((req, res) => {
    forward(origin, req, res, answers).catch((error: unknown) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`contract proxy: ${(error as Error).message}`);
    });
  });
  server.listen(0, 'localhost');
  await once(server, 'listening');
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    answers,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function forward(origin: string, req: IncomingMessage, res: ServerResponse, answers: CheckedAnswer[]): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const url = `${origin}${path}`;
  const headers = Object.entries(req.headers).flatMap(([name, value]): Array<[string, string]> =>
    HOP_BY_HOP.has(name) || value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]],
  );
  const body = chunks.length === 0 ? undefined : Buffer.concat(chunks);
  const response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  let problem: string | undefined;
  try {
    checkAgainstContract(url, method, { status: response.status, headers: response.headers, body: text });
  } catch (error) {
    problem = (error as Error).message;
  }
  answers.push({ method, path, status: response.status, ...(problem === undefined ? {} : { problem }) });
  const passedOn: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) passedOn[name] = value;
  });
  res.writeHead(response.status, passedOn);
  res.end(text);
}
