/**
 * The long-running worker's heap bound (WORKER_HEAP_GROWING_PERCENT in
 * src/limits.ts). Set from inside the process, not as a node flag, so it
 * holds however the command is started (the bin, `node bin/...`, systemd,
 * npx). This V8 flag is read each time the heap's next limit is computed,
 * so setting it after start takes effect (unlike --max-semi-space-size,
 * which is fixed when the heap is set up: measured, no effect at run time).
 */
import { setFlagsFromString } from 'node:v8';
import { WORKER_HEAP_GROWING_PERCENT } from './limits.js';

export function boundWorkerHeap(percent = WORKER_HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
