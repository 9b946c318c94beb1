/** The arithmetic of a benchmark run: percentiles and the throughput of its steady part. */

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * The nearest-rank percentile (0 < p <= 100) of values sorted ascending: the smallest value that at least p %
 * of the values do not exceed. Every answer is a value that was measured; NaN when there are none.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`a percentile is above 0 and at most 100, not ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.length === 0 ? Number.NaN : sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean,
  };
}

/** One checkout of a run, by the load generator's clock (ms). */
export interface Sample {
  /** When its start was sent (POST, or the workflow start of the floor). */
  startedAt: number;
  /** When it reached a terminal state; undefined if it never did within the run's timeout. */
  endedAt?: number | undefined;
}

export interface Throughput {
  /** Terminal states per second while every slot was busy: the first warm-up checkouts and the tail left out. */
  steady: number;
  /** Every checkout of the run over the run's whole time, start-up and tail included. */
  overall: number;
  /** The window the steady figure counts, ms. */
  windowMs: number;
}

/**
 * A run keeps a fixed number of checkouts in flight, starting the next as one ends. Once the warm-up
 * checkouts are under way it is in its steady state until the last start: from then on fewer stay in flight.
 * The steady rate counts the checkouts that ended between the first start after the warm-up and the last
 * start. With too few checkouts for such a window it falls back to the overall rate.
 */
export function throughput(samples: readonly Sample[], warmup: number): Throughput {
  const starts = samples.map((sample) => sample.startedAt).sort((a, b) => a - b);
  const ends = samples.flatMap((sample) => (sample.endedAt === undefined ? [] : [sample.endedAt]));
  const first = starts[0];
  const lastEnd = ends.length > 0 ? Math.max(...ends) : undefined;
  const overall = first !== undefined && lastEnd !== undefined && lastEnd > first ? (ends.length * 1000) / (lastEnd - first) : 0;
  const from = starts[warmup];
  const to = starts[starts.length - 1];
  if (from === undefined || to === undefined || to - from <= 0) return { steady: overall, overall, windowMs: 0 };
  const inWindow = ends.filter((end) => end > from && end <= to).length;
  if (inWindow < 2) return { steady: overall, overall, windowMs: 0 };
  return { steady: (inWindow * 1000) / (to - from), overall, windowMs: to - from };
}
