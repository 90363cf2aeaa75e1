// A local stand-in for SSM Parameter Store's GetParameter, spoken as the AWS SDK speaks it (the AWS JSON 1.1
// protocol: POST / with `X-Amz-Target: AmazonSSM.GetParameter`), on loopback. The real SSMClient is pointed at
// it with AWS_ENDPOINT_URL_SSM, the SDK's own endpoint setting.
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface SsmRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** What GetParameter answers: the parameter's value, or an AWS error (`__type`) with its HTTP status. */
export type SsmAnswer = { value: string } | { status: number; type: string; message: string };

export interface SsmStandIn {
  /** For AWS_ENDPOINT_URL_SSM. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: SsmRequest[];
  /** What every later GetParameter answers. */
  answer(answer: SsmAnswer): void;
  close(): Promise<void>;
}

export async function startSsmStandIn(initial: SsmAnswer): Promise<SsmStandIn> {
  let current = initial;
  const requests: SsmRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text: the test then sees what was sent.
      }
      requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body });
      const reply = (status: number, payload: unknown) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(payload));
      };
      if (request.headers['x-amz-target'] !== 'AmazonSSM.GetParameter') {
        reply(400, { __type: 'UnknownOperationException', message: `not a stand-in for ${String(request.headers['x-amz-target'])}` });
        return;
      }
      if ('value' in current) {
        const name = (body as { Name?: unknown }).Name;
        reply(200, { Parameter: { Name: name, Type: 'SecureString', Value: current.value, Version: 1 } });
      } else {
        reply(current.status, { __type: current.type, message: current.message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the SSM stand-in has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    answer: (answer) => {
      current = answer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
