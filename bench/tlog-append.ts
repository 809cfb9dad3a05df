/**
 * Transparency log benchmark: appends N (default 10,000) entries in batches
 * of 1 and of 100, every append durable (tiles, bundles and checkpoint
 * fsynced), then times proofs at size N: inclusion and consistency proofs
 * from a fresh instance (empty tile cache, tiles read from disk) and warm,
 * and full tlog-proof blocks (proof + self-check + formatting).
 *
 *   node --import tsx bench/tlog-append.ts [N] [--dir DIR]
 *
 * Entries are ~330-byte canonical log records (formatEntry). Batch-1 appends
 * are bound by the fsync latency of the filesystem holding DIR (default: the
 * OS temp directory).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatEntry, generateLogKey, TransparencyLog } from '../src/tlog/index.js';
import { benchRecord } from './tlog-record.js';

const args = process.argv.slice(2);
const dirAt = args.indexOf('--dir');
const base = dirAt >= 0 ? args[dirAt + 1] : tmpdir();
const total = Number(args.find((a, i) => /^\d+$/.test(a) && i !== dirAt + 1) ?? 10_000);
const ORIGIN = 'bench.ztrust.example';

function entry(i: number): Buffer {
  return formatEntry(benchRecord(i));
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function timeEach(label: string, count: number, fn: (i: number) => Promise<unknown>): Promise<string> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  const ms = (performance.now() - t0) / count;
  return `${label}: ${fmt(ms, 3)} ms per proof (${fmt(count)} proofs)`;
}

const lines: string[] = [`entry size: ${entry(1234).length} bytes; dir: ${base}`];
for (const batch of [1, 100]) {
  const dir = await mkdtemp(join(base, 'ztrust-tlog-bench-'));
  try {
    const { skey } = generateLogKey(ORIGIN);
    let log = await TransparencyLog.open(dir, { origin: ORIGIN, signer: skey });
    const t0 = performance.now();
    for (let i = 0; i < total; i += batch) {
      await log.append(Array.from({ length: Math.min(batch, total - i) }, (_, j) => entry(i + j)));
    }
    const s = (performance.now() - t0) / 1000;
    lines.push(`append ${fmt(total)} entries in batches of ${batch}: ${fmt(s, 2)} s = ${fmt(total / s)} entries/s (${fmt((s * 1000) / Math.ceil(total / batch), 2)} ms per append)`);
    if (batch !== 100) {
      await log.close();
      continue;
    }
    const size = log.size();
    const n = 1000;
    const index = (i: number): number => (i * 7919) % size;
    // Fresh instance: nothing cached, every tile read from disk (page cache).
    await log.close();
    log = await TransparencyLog.open(dir, { origin: ORIGIN, signer: skey });
    lines.push(await timeEach(`inclusion proof at size ${fmt(size)}, fresh instance`, n, (i) => log.inclusionProof(index(i))));
    lines.push(await timeEach(`inclusion proof at size ${fmt(size)}, warm`, n, (i) => log.inclusionProof(index(i))));
    lines.push(await timeEach(`consistency proof m -> ${fmt(size)}, warm`, n, (i) => log.consistencyProof(1 + index(i))));
    lines.push(await timeEach(`tlog-proof block (proof, self-check, format), warm`, n, (i) => log.proofBlock(index(i))));
    const rss = process.memoryUsage().rss / 2 ** 20;
    lines.push(`rss after all: ${fmt(rss)} MiB`);
    await log.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
for (const line of lines) console.log(line);
