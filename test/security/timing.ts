/**
 * Shared by the linear-time attack tests: timings that a pause of a busy
 * machine does not decide (the fastest of several runs counts).
 */

/** Fastest of `runs` timings of fn (ms). */
export async function fastest(fn: () => unknown, runs = 3): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return best;
}

/** `unit` repeated to about `bytes` bytes. */
export const fill = (unit: string, bytes: number) => unit.repeat(Math.ceil(bytes / unit.length));
