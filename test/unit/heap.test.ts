/**
 * The worker's heap bound (src/heap.ts) takes effect when set from inside a
 * running process, and only where it lowers V8's own growing factor. Each
 * case runs in a child node of its own (the flag is process-wide), with its
 * heap limit given explicitly (node's default is a quarter of the machine's
 * memory, which would make the outcome depend on the machine), keeping
 * ~60 MB live in a ring and churning through it as the worker does with
 * messages, and reports whether the bound was set and the largest heap V8
 * committed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HEAP = fileURLToPath(new URL('../../src/heap.ts', import.meta.url));

function churn(o: { bound: boolean; heapLimitMb: number; nodeFlags?: string[] }): { set: boolean | null; peakMb: number } {
  const script = `
    import v8 from 'node:v8';
    const set = ${o.bound ? `(await import(${JSON.stringify(HEAP)})).boundWorkerHeap()` : 'null'};
    const ring = new Array(40000); let peak = 0;
    for (let i = 0; i < 1000000; i++) {
      ring[i % ring.length] = { s: 'x'.repeat(1000) + i, a: new Array(20).fill(i) };
      if (i % 1000 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
    }
    process.stdout.write(JSON.stringify({ set, peakMb: peak / 1048576 }));`;
  const args = [`--max-old-space-size=${o.heapLimitMb}`, ...(o.nodeFlags ?? []), '--import', 'tsx', '--input-type=module', '-e', script];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as { set: boolean | null; peakMb: number };
}

test('under a large heap limit the bound keeps a churning heap closer to what is live than V8 alone does', () => {
  const free = churn({ bound: false, heapLimitMb: 4096 });
  const bound = churn({ bound: true, heapLimitMb: 4096 });
  assert.equal(bound.set, true);
  // ~175 MB against ~110 MB with Node 20; a call that did nothing would give the same figure twice.
  assert.ok(bound.peakMb < free.peakMb * 0.8, `peak heap ${bound.peakMb.toFixed(0)} MB with the bound, ${free.peakMb.toFixed(0)} MB without`);
});

test('under a small heap limit (a small machine) it is not set, where a fixed factor of 2 would raise V8 own', () => {
  const free = churn({ bound: false, heapLimitMb: 1024 });
  const bound = churn({ bound: true, heapLimitMb: 1024 });
  assert.equal(bound.set, false);
  assert.ok(bound.peakMb <= free.peakMb * 1.05, `peak heap ${bound.peakMb.toFixed(0)} MB with the bound, ${free.peakMb.toFixed(0)} MB without`);
});

test('an operator who set --heap-growing-percent keeps it', () => {
  const r = churn({ bound: true, heapLimitMb: 4096, nodeFlags: ['--heap-growing-percent=300'] });
  assert.equal(r.set, false);
});
