/**
 * Pipeline throughput: N messages (half PGP/MIME-signed by a collection key,
 * half unsigned) in a Maildir, drained by `run --once` on an embedded Redis,
 * SQLite and a dir: outbox. Prints messages per second end to end (intake,
 * verification, signing each reply, queueing, writing the .eml files).
 *
 *   node --import tsx bench/pipeline.ts [N]
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { initDataDir } from '../src/app/init.js';
import { openApp } from '../src/app/app.js';
import { createLogger } from '../src/logger.js';
import { composeSigned } from '../src/mail/compose.js';
import { signerFromKey } from '../src/pgp/botkey.js';
import { runOnce } from '../queue/runner.js';

const N = Number(process.argv[2] ?? 500);
const root = mkdtempSync(path.join(os.tmpdir(), 'ztrust-bench-'));
const init = await initDataDir({ dataDir: path.join(root, 'data'), address: 'bot@bench.example', name: 'ztrust-bot', origin: 'bench/log',
  extra: { limits: { maxRepliesPerSenderPerHour: 1_000_000, maxRepliesPerHour: 1_000_000 }, ...(process.env.BENCH_CONC ? { queue: { inboundConcurrency: Number(process.env.BENCH_CONC), outboundConcurrency: Number(process.env.BENCH_CONC) } } : {}) } });
const { privateKey: alice } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Alice', email: 'alice@bench.example' }], format: 'object' });
const all = path.join(init.config.dataDir, 'collection', 'pgp', 'all');
mkdirSync(all, { recursive: true });
writeFileSync(path.join(all, `0x${alice.getKeyID().toHex()}-alice@bench.example-public.asc`), alice.toPublic().armor());
const inbox = path.join(init.config.dataDir, 'inbox');
for (const d of ['new', 'cur', 'tmp']) mkdirSync(path.join(inbox, d), { recursive: true });
const aliceSigner = signerFromKey(alice);
for (let i = 0; i < N; i++) {
  const raw = i % 2 === 0
    ? await composeSigned({ from: { address: 'alice@bench.example' }, to: ['bot@bench.example'], subject: `b${i}`, messageId: `<b${i}@bench.example>`,
      date: new Date(), autoSubmitted: null, loopHeader: null, body: 'HELP\n', signing: 'pgpmime' }, aliceSigner)
    : Buffer.from(`From: user${i}@bench.example\r\nTo: bot@bench.example\r\nSubject: b${i}\r\nMessage-ID: <b${i}@bench.example>\r\n\r\nHELP\r\n`);
  writeFileSync(path.join(inbox, 'new', `${i}.bench`), raw);
}
const app = await openApp(init.config, createLogger('error'));
/** CPU time of the main JS thread (ms), from /proc: the pipeline's bottleneck, less disturbed by a busy machine than wall time. */
function mainThreadCpuMs(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
const main0 = mainThreadCpuMs();
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
await runOnce(app);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const cpu = process.cpuUsage(cpu0);
const mainCpu = mainThreadCpuMs() - main0;
await app.close();
const replies = readdirSync(init.config.outbox.url.slice(4)).filter((f) => f.endsWith('.eml')).length;
console.log(`messages: ${N} (half PGP/MIME-signed), replies: ${replies}`);
console.log(`run --once wall time: ${ms.toFixed(0)} ms (includes embedded redis-server start and stop)`);
console.log(`bot process CPU: ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms/message), main thread ${mainCpu} ms (${(mainCpu / N).toFixed(2)} ms/message)`);
console.log(`throughput: ${(N / (ms / 1000)).toFixed(1)} messages/s, ${(ms / N).toFixed(2)} ms/message`);
console.log(`data: ${root}`);
if (process.env.BENCH_MARK) console.log(`mark-us: ${t0 / 1000n} ${process.hrtime.bigint() / 1000n}`);
