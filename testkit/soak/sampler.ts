// Heap (after GC, with node --expose-gc) and the server's open connections, sampled along the run: a leak
// shows as growth from the first checkpoint (pools full) to the last.
import type { Admin } from './deployment';
import type { Ledger } from './ledger';
import type { Checkpoint } from './model';

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;

export class Sampler {
  readonly checkpoints: Checkpoint[] = [];
  /** When the run proper starts, after the setup. */
  private started = performance.now();
  private readonly gc = (globalThis as { gc?: () => void }).gc;

  constructor(
    private readonly admin: Admin,
    private readonly ledger: Ledger,
    private readonly progress: ((line: string) => void) | undefined,
  ) {}

  /** Marks the start of the run proper; resolves that time (performance.now()). */
  begin(): number {
    this.started = performance.now();
    return this.started;
  }

  elapsedMs(): number {
    return performance.now() - this.started;
  }

  async checkpoint(): Promise<void> {
    const { gc, ledger } = this;
    let heapMiB: number | undefined;
    if (gc !== undefined) {
      gc();
      gc();
      heapMiB = mib(process.memoryUsage().heapUsed);
    }
    this.checkpoints.push({ atMs: Math.round(this.elapsedMs()), requests: ledger.requests.total, heapMiB, connections: await this.clientCount() });
    this.progress?.(
      `soak: ${Math.round(this.elapsedMs() / 1000)} s, ${ledger.requests.total} requests, wrong allows ${ledger.wrongAllows}, wrong denials ${ledger.wrongDenials}, errors ${ledger.unhandledErrors}, failed closed ${ledger.failedClosed}` +
        (heapMiB === undefined ? '' : `, heap ${heapMiB} MiB`),
    );
  }

  /** Normal clients connected, but the soak's own admin connection. */
  private async clientCount(): Promise<number> {
    const list = await this.admin.sendCommand<string>(['CLIENT', 'LIST', 'TYPE', 'normal']);
    return list.split('\n').filter((line) => line.trim() !== '').length - 1;
  }
}
