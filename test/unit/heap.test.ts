/**
 * The worker's heap bound (src/heap.ts) takes effect when set from inside a
 * running process. Each case runs in a child node of its own (the flag is
 * process-wide) that keeps ~60 MB live in a ring and churns through it, as
 * the worker does with messages, and reports the largest heap V8 committed.
 * Deterministic for a given node: the same allocations give the same GC
 * schedule.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HEAP = fileURLToPath(new URL('../../src/heap.ts', import.meta.url));

function peakHeapMb(bound: boolean): number {
  const script = `
    import v8 from 'node:v8';
    ${bound ? `(await import(${JSON.stringify(HEAP)})).boundWorkerHeap();` : ''}
    const ring = new Array(40000); let peak = 0;
    for (let i = 0; i < 1000000; i++) {
      ring[i % ring.length] = { s: 'x'.repeat(1000) + i, a: new Array(20).fill(i) };
      if (i % 1000 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
    }
    process.stdout.write(String(peak / 1048576));`;
  return Number(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' }));
}

test('the bound keeps a churning heap closer to what is live than V8 alone does', () => {
  const free = peakHeapMb(false);
  const bound = peakHeapMb(true);
  // ~170 MB against ~107 MB with Node 20; a call that did nothing would give the same figure twice.
  assert.ok(bound < free * 0.8, `peak heap ${bound.toFixed(0)} MB with the bound, ${free.toFixed(0)} MB without`);
});
