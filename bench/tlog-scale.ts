/**
 * The log at scale (issue 10, item 4): appends N (default 1,000,000)
 * canonical ~360-byte records in batches through TransparencyLog.append (the
 * call the ledger's one writer, src/ledger/service.ts, makes; every append
 * durable: tiles, bundles and checkpoint fsynced), then prints
 *
 *   - entries/s, beside two references measured in the same run on the same
 *     entries: raw SHA-256 leaf hashing (node:crypto), and a plain
 *     append-only file write of the same bytes with one fdatasync per batch;
 *   - RSS after 100k entries (or N/10) and after N, the peak, and the growth
 *     between the two (the log keeps only the tree's right edge and bounded
 *     caches, so it should not grow with the size);
 *   - disk bytes per entry (allocated blocks and apparent size of the log
 *     directory, divided by N);
 *   - inclusion and consistency proof times at size N (median and p99):
 *     cold = the first proof of a freshly opened instance (empty caches; the
 *     OS page cache is warm), warm = one instance answering many proofs;
 *     each also in units of one node hash timed in the same run.
 *
 *   node --import tsx bench/tlog-scale.ts [N] [--batch B] [--dir DIR] [--quick] [--service [--request R]]
 *
 * --quick: N = 100,000 and fewer proofs. --service: append through the
 * ledger's LogService.appendEntries (SQLite store file beside the log: one
 * pending row, the attestation rows and the checkpoint per request) as
 * requests of --request R entries (default 10) with B entries in flight, so
 * the writer's group commit decides the batch size.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogService } from '../src/ledger/service.js';
import { SqliteStore } from '../src/store/sqlite.js';
import {
  formatEntry,
  generateLogKey,
  nodeHash,
  parseCheckpoint,
  parseNote,
  tilePath,
  TransparencyLog,
  verifyConsistency,
  verifyInclusion,
} from '../src/tlog/index.js';
import { benchRecord } from './tlog-record.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const service = args.includes('--service');
const base = opt('--dir') ?? tmpdir();
const batch = Number(opt('--batch') ?? 1000);
const requestSize = Number(opt('--request') ?? 10);
const positional = args.filter((a, i) => /^\d+$/.test(a) && !['--batch', '--dir', '--request'].includes(args[i - 1] ?? ''));
const total = Number(positional[0] ?? (quick ? 100_000 : 1_000_000));
const proofCount = quick ? 300 : 1000;
const coldCount = quick ? 50 : 200;
const ORIGIN = 'bench.ztrust.example';

if (!Number.isSafeInteger(total) || total < 10 || !Number.isSafeInteger(batch) || batch < 1 || !Number.isSafeInteger(requestSize) || requestSize < 1) {
  console.error('usage: node --import tsx bench/tlog-scale.ts [N >= 10] [--batch B] [--dir DIR] [--quick] [--service [--request R]]');
  process.exit(2);
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number): string => `${fmt(bytes / 2 ** 20, 1)} MiB`;
const gc = (globalThis as { gc?: () => void }).gc;
/** Heap in use at the last rssNow(). */
let heapAtSample = 0;
function rssNow(): number {
  gc?.(); // with --expose-gc: what the process holds, not garbage not yet collected
  const m = process.memoryUsage();
  heapAtSample = m.heapUsed + m.external;
  return m.rss;
}

function median(ms: number[]): number {
  return [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)];
}

/** Microseconds per RFC 9162 node hash (SHA-256 of 65 bytes), over 100,000. */
function nodeHashMicros(): number {
  const a = createHash('sha256').digest();
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) nodeHash(a, a);
  return ((performance.now() - t0) * 1000) / 100_000;
}

function quantiles(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${fmt(q(0.5), 3)} ms, p99 ${fmt(q(0.99), 3)} ms (${fmt(s.length)} proofs)`;
}

/** Allocated bytes and apparent bytes of every file under `dir`. */
async function du(dir: string): Promise<{ blocks: number; apparent: number; files: number }> {
  const out = { blocks: 0, apparent: 0, files: 0 };
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = await lstat(p);
      out.blocks += st.blocks * 512;
      if (e.isDirectory()) await walk(p);
      else {
        out.apparent += st.size;
        out.files++;
      }
    }
  };
  await walk(dir);
  return out;
}

/** A deterministic spread of indexes over [0, n) (no Math.random: runs are comparable). */
const spread = (i: number, n: number): number => Number((BigInt(i) * 2654435761n + 12345n) % BigInt(n));

const root = await mkdtemp(join(base, 'ztrust-tlog-scale-'));
const lines: string[] = [];
const say = (s: string): void => {
  lines.push(s);
  console.log(s);
};
try {
  const logDir = join(root, 'log');
  const { skey } = generateLogKey(ORIGIN);
  say(`tlog-scale: N = ${fmt(total)}, batches of ${fmt(batch)}, entry ${formatEntry(benchRecord(1234)).length} bytes, ` +
    `${service ? 'through LogService.appendEntries (SQLite store)' : 'through TransparencyLog.append'}, dir ${base}, node ${process.version}, ` +
    `gc ${gc ? 'forced before each RSS sample' : 'not exposed (run with --expose-gc for steadier RSS)'}`);

  // ---- appends ------------------------------------------------------------
  const store = service ? SqliteStore.open(join(root, 'state.sqlite')) : null;
  const svc = store ? await LogService.open({ dir: logDir, origin: ORIGIN, signer: skey, store }) : null;
  const log = svc ? null : await TransparencyLog.open(logDir, { origin: ORIGIN, signer: skey });
  const checkpoint = 100_000 <= total / 2 ? 100_000 : Math.floor(total / 10);
  const rssStart = rssNow();
  let rssAtCheckpoint = 0;
  let heapAtCheckpoint = 0;
  let peak = rssStart;
  let appendMs = 0;
  let maxBatchMs = 0;
  const sample = (i: number, n: number): void => {
    const rss = process.memoryUsage().rss;
    if (rss > peak) peak = rss;
    if (i < checkpoint && i + n >= checkpoint) {
      rssAtCheckpoint = rssNow();
      heapAtCheckpoint = heapAtSample;
    }
  };
  if (svc) {
    // The way the bot's callers reach the writer: many small requests
    // (`--request` entries each, `batch` entries in flight); the writer
    // group-commits whatever is queued when it is free.
    const per = Math.min(requestSize, batch);
    const window = Math.max(1, Math.floor(batch / per));
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const i = next;
        const n = Math.min(per, total - i);
        next += n;
        const t1 = performance.now();
        await svc.appendEntries(Array.from({ length: n }, (_, j) => benchRecord(i + j)), { key: `bench:${i}` });
        maxBatchMs = Math.max(maxBatchMs, performance.now() - t1);
        sample(i, n);
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    appendMs = performance.now() - t0;
  } else {
    for (let i = 0; i < total; i += batch) {
      const n = Math.min(batch, total - i);
      const bytes = Array.from({ length: n }, (_, j) => formatEntry(benchRecord(i + j)));
      const t0 = performance.now();
      await log!.append(bytes);
      const ms = performance.now() - t0;
      appendMs += ms;
      maxBatchMs = Math.max(maxBatchMs, ms);
      sample(i, n);
    }
  }
  const rssEnd = rssNow();
  const rate = total / (appendMs / 1000);
  if (svc && store) {
    const appends = (await store.checkpointSizes()).length - 1;
    say(`append ${fmt(total)} entries as ${fmt(Math.ceil(total / requestSize))} requests of ${fmt(requestSize)}, ${fmt(batch)} entries in flight: ` +
      `${fmt(appendMs / 1000, 1)} s = ${fmt(rate)} entries/s; the writer made ${fmt(appends)} log appends ` +
      `(${fmt(total / appends, 1)} entries each on average; slowest request ${fmt(maxBatchMs, 1)} ms)`);
  } else {
    say(`append ${fmt(total)} entries: ${fmt(appendMs / 1000, 1)} s = ${fmt(rate)} entries/s ` +
      `(${fmt(appendMs / Math.ceil(total / batch), 2)} ms per batch, slowest ${fmt(maxBatchMs, 1)} ms)`);
  }
  say(`rss: start ${mib(rssStart)}, at ${fmt(checkpoint)} ${mib(rssAtCheckpoint)}, at ${fmt(total)} ${mib(rssEnd)} ` +
    `(growth ${mib(rssEnd - rssAtCheckpoint)} over ${fmt(total - checkpoint)} entries), peak ${mib(peak)}; ` +
    `JS heap + external at ${fmt(checkpoint)} ${mib(heapAtCheckpoint)}, at ${fmt(total)} ${mib(heapAtSample)}`);
  const size = svc ? svc.size() : log!.size();
  const cpNote = svc ? svc.checkpoint() : log!.checkpoint();
  if (svc) await svc.close();
  else await log!.close();
  if (store) {
    const st = await du(root);
    const lg = await du(logDir);
    say(`state store (SQLite, not the log): ${fmt((st.blocks - lg.blocks) / total, 1)} bytes per entry`);
    await store.close();
  }
  const d = await du(logDir);
  say(`disk: ${fmt(d.blocks / total, 1)} bytes per entry allocated, ${fmt(d.apparent / total, 1)} apparent (${fmt(d.files)} files, ${mib(d.blocks)})`);

  // ---- proofs at size N --------------------------------------------------
  // Their reference, measured just before: one RFC 9162 node hash. A proof
  // from tiles hashes about 250 nodes per tile it has to expand.
  const nodeUs = nodeHashMicros();
  const rootHash = parseCheckpoint(parseNote(cpNote).text).root;
  const cold: { inc: number[]; con: number[] } = { inc: [], con: [] };
  for (let i = 0; i < coldCount; i++) {
    for (const kind of ['inc', 'con'] as const) {
      const l = await TransparencyLog.open(logDir, { origin: ORIGIN, signer: skey });
      const t0 = performance.now();
      if (kind === 'inc') await l.inclusionProof(spread(i, size));
      else await l.consistencyProof(1 + spread(i, size - 1));
      cold[kind].push(performance.now() - t0);
      await l.close();
    }
  }
  const l = await TransparencyLog.open(logDir, { origin: ORIGIN, signer: skey });
  const warmInc: number[] = [];
  const warmCon: number[] = [];
  for (let i = 0; i < proofCount; i++) await l.inclusionProof(spread(i + proofCount, size)); // warm-up, not timed
  for (let i = 0; i < proofCount; i++) {
    const index = spread(i, size);
    let t0 = performance.now();
    const proof = await l.inclusionProof(index);
    warmInc.push(performance.now() - t0);
    const m = 1 + spread(i + 7, size - 1);
    t0 = performance.now();
    const cproof = await l.consistencyProof(m);
    warmCon.push(performance.now() - t0);
    if (i < 20) {
      // The figures are only worth printing if the proofs are right.
      if (!verifyInclusion(await l.leafHash(index), index, size, proof, rootHash)) throw new Error(`inclusion proof for ${index} does not verify`);
      if (!verifyConsistency(m, size, cproof, await l.rootAt(m), rootHash)) throw new Error(`consistency proof ${m} -> ${size} does not verify`);
    }
  }
  const blockMs: number[] = [];
  for (let i = 0; i < proofCount; i++) {
    const t0 = performance.now();
    await l.proofBlock(spread(i, size));
    blockMs.push(performance.now() - t0);
  }
  const rssProofs = rssNow();
  await l.close();
  const nodeUsAfter = nodeHashMicros();
  const inHashes = (ms: number[]): string => `= ${fmt((median(ms) * 1000) / nodeUs)} node hashes`;
  say(`reference: one node hash ${fmt(nodeUs, 2)} us before the proofs, ${fmt(nodeUsAfter, 2)} us after (a full tile's 254 inner nodes: ${fmt((254 * nodeUs) / 1000, 3)} ms)`);
  say(`inclusion proof at ${fmt(size)}: cold ${quantiles(cold.inc)} ${inHashes(cold.inc)}; warm ${quantiles(warmInc)} ${inHashes(warmInc)}`);
  say(`consistency proof m -> ${fmt(size)}: cold ${quantiles(cold.con)} ${inHashes(cold.con)}; warm ${quantiles(warmCon)} ${inHashes(warmCon)}`);
  say(`tlog-proof block (proof, self-check, format), warm: ${quantiles(blockMs)}`);
  say(`rss after the proofs: ${mib(rssProofs)}`);
  // ---- references, same entries, same run (last: their arrays would inflate the RSS figures)
  {
    const sample = Math.min(total, 200_000);
    const bytes = Array.from({ length: sample }, (_, i) => formatEntry(benchRecord(i)));
    const prefix = Buffer.from([0]);
    let t0 = performance.now();
    for (const b of bytes) createHash('sha256').update(prefix).update(b).digest();
    const hashRate = sample / ((performance.now() - t0) / 1000);
    const fh = await open(join(root, 'plain.bin'), 'a');
    t0 = performance.now();
    for (let i = 0; i < sample; i += batch) {
      await fh.write(Buffer.concat(bytes.slice(i, i + batch)));
      await fh.datasync();
    }
    const plainRate = sample / ((performance.now() - t0) / 1000);
    await fh.close();
    await rm(join(root, 'plain.bin'));
    say(`reference: SHA-256 leaf hashes ${fmt(hashRate)} entries/s; plain append-only file, one fdatasync per batch of ${fmt(batch)}: ${fmt(plainRate)} entries/s (${fmt((batch / plainRate) * 1000, 2)} ms per batch)`);
    const tileFile = join(logDir, tilePath(0, 1));
    t0 = performance.now();
    for (let i = 0; i < 1000; i++) await readFile(tileFile);
    const readUs = (performance.now() - t0) * 1000 / 1000;
    say(`reference: one 8 KiB tile readFile (async, page cache) ${fmt(readUs, 1)} us`);
    say(`log append rate / plain file rate: ${fmt(rate / plainRate, 3)}; log append rate / SHA-256 rate: ${fmt(rate / hashRate, 3)}`);
  }

} finally {
  await rm(root, { recursive: true, force: true });
}
