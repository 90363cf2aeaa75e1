// The bench's command line: --help only prints, --quick is smoke-sized and never overwrites the published
// results, and a typo is refused instead of starting a long run with the defaults.
import { join } from 'node:path';
import { benchInvocation, memoryInvocation, UsageError, type BenchOptions, type Invocation } from '../../bench/lib/options';

const ROOT = '/repo';

function options<T>(invocation: Invocation<T>): T {
  if ('help' in invocation) throw new Error('expected a run, got the usage');
  return invocation.options;
}

describe('bench options', () => {
  it.each([['--help'], ['-h']])('%s gives the usage, naming every flag and its variable, and no run', (flag) => {
    const invocation = benchInvocation(ROOT, { env: {}, argv: [flag] });
    expect(invocation).not.toHaveProperty('options');
    const help = (invocation as { help: string }).help;
    for (const text of ['--quick', '--iterations=N', 'BENCH_ITERATIONS', '--cold-runs=N', '--out=DIR', '(default 8000)']) expect(help).toContain(text);
  });

  it('bench:memory has its own usage', () => {
    const help = (memoryInvocation(ROOT, { env: {}, argv: ['--help'] }) as { help: string }).help;
    expect(help).toContain('--sessions=N');
    expect(help).toContain('--refreshes=N');
    expect(help).not.toContain('--quick');
  });

  it('bench:memory refuses more refreshes than a session keeps access tokens for, where its labels would stop adding up', () => {
    expect(options(memoryInvocation(ROOT, { env: {}, argv: ['--refreshes=15'] })).refreshes).toBe(15);
    expect(() => memoryInvocation(ROOT, { env: {}, argv: ['--refreshes=16'] })).toThrow('refreshes (16) must be at most 15');
  });

  it('with no flags, runs the full counts into bench/results', () => {
    const run: BenchOptions = options(benchInvocation(ROOT, { env: {}, argv: [] }));
    expect(run).toMatchObject({ iterations: 8000, coldRuns: 15, flightRounds: 6, out: join(ROOT, 'bench', 'results') });
  });

  it('--quick turns every count down and writes under bench/tmp, never over the published results', () => {
    const quick = options(benchInvocation(ROOT, { env: {}, argv: ['--quick'] }));
    expect(quick.iterations).toBeLessThan(1000);
    expect(quick.coldRuns).toBeLessThan(5);
    expect(quick.flightRounds).toBe(1);
    expect(quick.out).toBe(join(ROOT, 'bench', 'tmp', 'quick'));
    expect(options(benchInvocation(ROOT, { env: { BENCH_QUICK: 'true' }, argv: [] })).iterations).toBe(quick.iterations);
  });

  it('an explicit count wins over --quick, and a flag over its variable', () => {
    expect(options(benchInvocation(ROOT, { env: {}, argv: ['--quick', '--iterations=50'] })).iterations).toBe(50);
    expect(options(benchInvocation(ROOT, { env: { BENCH_ITERATIONS: '70' }, argv: ['--iterations', '60'] })).iterations).toBe(60);
  });

  it.each([['--hepl'], ['--iteration=5'], ['--quick=yes'], ['-q'], ['quick']])('refuses the unknown flag %s', (flag) => {
    expect(() => benchInvocation(ROOT, { env: {}, argv: [flag] })).toThrow(UsageError);
  });

  it('refuses a count that is not a positive integer, naming it', () => {
    expect(() => benchInvocation(ROOT, { env: {}, argv: ['--batch=0'] })).toThrow('batch must be an integer of at least 1, got "0"');
    expect(() => memoryInvocation(ROOT, { env: {}, argv: ['--sessions=10', '--users=20'] })).toThrow(UsageError);
  });
});
