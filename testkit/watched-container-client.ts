// Starts testkit/watched-container.ts as a child process (bundled with esbuild) with a given environment.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import type { WatchedHandler, WatchedOutcome, WatchedReply, WatchedRequest } from './watched-container';

export type Answer = WatchedOutcome & {
  /** Measured inside the container, around the handler call. */
  elapsedMs: number;
  /** performance.now() in this process when the invocation was sent and when its answer arrived. */
  sentAt: number;
  answeredAt: number;
};

export interface WatchedContainer {
  invoke(handler: WatchedHandler, event: unknown): Promise<Answer>;
  stats(): Promise<{ connectCount: number; unhandled: string[] }>;
  readonly pid: number;
  stop(): void;
}

export async function startWatchedContainer(env: Record<string, string>): Promise<WatchedContainer> {
  const dir = mkdtempSync(join(tmpdir(), 'watched-container-'));
  const file = join(dir, 'container.js');
  buildSync({ entryPoints: [join(__dirname, 'watched-container.ts')], outfile: file, bundle: true, platform: 'node', target: 'node20', logLevel: 'silent' });
  const child: ChildProcess = fork(file, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, (reply: WatchedReply) => void>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`container exited (${code ?? signal}) before it was ready`)));
    child.on('message', (message: WatchedReply | { ready: true }) => {
      if ('ready' in message) resolve();
      else {
        pending.get(message.id)?.(message);
        pending.delete(message.id);
      }
    });
  });
  child.removeAllListeners('exit');
  const send = (request: WatchedRequest) =>
    new Promise<WatchedReply>((resolve) => {
      pending.set(request.id, resolve);
      child.send(request);
    });
  return {
    pid: child.pid ?? -1,
    async invoke(handler, event) {
      const sentAt = performance.now();
      const reply = await send({ id: (nextId += 1), type: 'invoke', handler, event });
      if (reply.type !== 'invoke') throw new Error('unexpected reply');
      const { id: _id, type: _type, ...answer } = reply;
      return { ...answer, sentAt, answeredAt: performance.now() };
    },
    async stats() {
      const reply = await send({ id: (nextId += 1), type: 'stats' });
      if (reply.type !== 'stats') throw new Error('unexpected reply');
      return { connectCount: reply.connectCount, unhandled: reply.unhandled };
    },
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
