// Order statistics over nanosecond samples, and the few number formats the reports use.

export interface Summary {
  n: number;
  /** Microseconds. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  return percentile(Float64Array.from(values).sort(), 50);
}

/** Summarises nanosecond samples in microseconds. */
export function summarize(samplesNs: Float64Array): Summary {
  const sorted = Float64Array.from(samplesNs).sort();
  let total = 0;
  for (const value of sorted) total += value;
  const us = (ns: number) => ns / 1000;
  return {
    n: sorted.length,
    p50: us(percentile(sorted, 50)),
    p90: us(percentile(sorted, 90)),
    p99: us(percentile(sorted, 99)),
    mean: us(sorted.length === 0 ? Number.NaN : total / sorted.length),
    min: us(sorted[0] ?? Number.NaN),
  };
}

export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

export function ratio(value: number, digits = 2): string {
  return Number.isFinite(value) ? `${value.toFixed(digits)}×` : '–';
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function thousands(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–';
}
