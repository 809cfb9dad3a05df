/**
 * The long-running worker's heap bound (WORKER_HEAP_GROWING_PERCENT in
 * src/limits.ts). Set from inside the process, not as a node flag, so it
 * holds however the command is started (the bin, `node bin/...`, systemd,
 * npx). This V8 flag is read each time the heap's next limit is computed,
 * so setting it after start takes effect (unlike --max-semi-space-size,
 * which is fixed when the heap is set up: measured, no effect at run time).
 *
 * Only where it lowers V8's own factor: V8 lets the heap grow up to 4x what
 * was live only when its heap limit is 2 GiB or more (64-bit; node sets the
 * limit to about a quarter of the machine's memory, or --max-old-space-size).
 * Below that V8's factor is already 1.3 to 2, and its memory-saving modes
 * go lower still, so a fixed 2 would only raise it (a 1 GiB limit: 110 MB
 * of heap with V8 alone, 125 MB with the flag, in test/unit/heap.test.ts's
 * churn).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { V8_LARGE_HEAP_LIMIT, WORKER_HEAP_GROWING_PERCENT } from './limits.js';

/** Whether the bound was set: not under a small heap limit, nor when the operator chose the flag. */
export function boundWorkerHeap(percent = WORKER_HEAP_GROWING_PERCENT): boolean {
  if (process.execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  if (getHeapStatistics().heap_size_limit < V8_LARGE_HEAP_LIMIT) return false;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}
