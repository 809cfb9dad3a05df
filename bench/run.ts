/**
 * `npm run bench`: issue 10's benchmark on the real stack (Dovecot, Redis,
 * SMTP listener on loopback, the real CLI worker), printing each figure
 * beside its reference measured in the same run, the goal, and whether met.
 *
 *   npm run bench                                  all sections at the issue's sizes
 *   npm run bench -- throughput latency            chosen sections
 *   npm run bench -- --quick                       a smoke run at small sizes
 *   npm run bench -- throughput --n 2000 --profile /tmp/prof
 *
 * Sections: throughput, latency, list, memory.
 * Sizes: --n N (signed requests; 10000), --latency-n (200), --list-n M (60000),
 * --ref-n (messages the GnuPG references run on; 600, at most N).
 * --profile DIR: run the throughput worker under node --cpu-prof, profile in DIR.
 * The signed corpus is cached in $ZTRUST_BENCH_CACHE (default $TMPDIR/ztrust-bench-cache).
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { latency, listTraffic, memory, throughput, type BotRun, type Options, type Row } from './sections.js';

const SECTIONS = ['throughput', 'latency', 'list', 'memory'] as const;
type Section = (typeof SECTIONS)[number];

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: npm run bench -- [${SECTIONS.join('|')} ...] [--quick] [--n N] [--latency-n N] [--list-n M] [--ref-n N] [--profile DIR]\n`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    n: { type: 'string' },
    'latency-n': { type: 'string' },
    'list-n': { type: 'string' },
    'ref-n': { type: 'string' },
    profile: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) usage('issue 10 benchmark');
const chosen = (positionals.length ? positionals : [...SECTIONS]) as Section[];
for (const s of chosen) if (!SECTIONS.includes(s)) usage(`unknown section ${s}`);
const int = (v: string | undefined, d: number, name: string): number => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} wants a positive integer, got ${v}`);
  return n;
};
const q = values.quick;
const log = (s: string) => process.stderr.write(`${s}\n`);
const opts: Options = {
  n: int(values.n, q ? 200 : 10_000, 'n'),
  latencyN: int(values['latency-n'], q ? 20 : 200, 'latency-n'),
  listN: int(values['list-n'], q ? 1000 : 60_000, 'list-n'),
  refN: int(values['ref-n'], q ? 60 : 600, 'ref-n'),
  profileDir: values.profile ? path.resolve(values.profile) : null,
  log,
};
if (opts.profileDir) mkdirSync(opts.profileDir, { recursive: true });

const rows: Row[] = [];
const failures: string[] = [];
let full: BotRun | null = null;
const t0 = Date.now();
for (const s of SECTIONS.filter((x) => chosen.includes(x))) {
  try {
    if (s === 'throughput') {
      const r = await throughput(opts);
      rows.push(...r.rows);
      full = r.run;
    } else if (s === 'latency') rows.push(...await latency(opts));
    else if (s === 'list') rows.push(...await listTraffic(opts));
    else rows.push(...await memory(opts, full));
  } catch (e) {
    const msg = (e as Error).stack ?? String(e);
    failures.push(`${s}: ${msg}`);
    log(`${s} FAILED: ${msg}`);
    rows.push({ section: s, figure: 'FAILED (see stderr)', value: '-', met: false });
  }
}

const cols: [keyof Row | 'metText', string][] = [['section', 'section'], ['figure', 'figure'], ['value', 'value'],
  ['reference', 'reference (same run)'], ['ratio', 'ratio'], ['goal', 'goal'], ['metText', 'met']];
const cell = (r: Row, k: keyof Row | 'metText'): string =>
  k === 'metText' ? (r.met === true ? 'yes' : r.met === false ? 'NO' : '') : String(r[k] ?? '');
const widths = cols.map(([k, h]) => Math.max(h.length, ...rows.map((r) => cell(r, k).length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`ztrust-bot benchmark (issue 10): ${os.cpus().length} cores (${cpu}), node ${process.version}, ${os.platform()} ${os.release()}, `
  + `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`sizes: N=${opts.n} signed, latency ${opts.latencyN}, list M=${opts.listN}, references on ${Math.min(opts.refN, opts.n)} messages; `
  + `${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
console.log(line(cols.map(([, h]) => h)));
console.log(widths.map((w) => '-'.repeat(w)).join('-+-'));
for (const r of rows) console.log(line(cols.map(([k]) => cell(r, k))));
process.exitCode = failures.length ? 1 : 0;
