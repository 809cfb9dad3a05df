/**
 * How fast the ztrust-bot command starts (issue 10, item 6): the median of N
 * runs (default 10), exec to exit, of
 *
 *   node -e 0                                   the reference: a bare node start
 *   node bin/ztrust-bot.js --help
 *   node bin/ztrust-bot.js verify-proof --help
 *   node bin/ztrust-bot.js run --once           the worker on an empty Maildir with an
 *                                               external redis-server: exec to its first
 *                                               Maildir listing, and exec to exit
 *
 * each with its peak RSS (GNU time's %M, when /usr/bin/time exists) and its
 * ratio to `node -e 0` measured in the same rounds (the runs of all cases
 * are interleaved, so a noisy neighbour slows them alike). The goal is
 * `--help` within 4x `node -e 0`.
 *
 *   node --import tsx bench/cli-start.ts [N] [--before REF] [--no-worker]
 *
 * --before REF also times the command as it was at git commit REF (a
 * temporary clone sharing this node_modules; built first when its bin runs
 * dist/). The command runs from dist/: run `npm run build` first (the bench
 * stops with the command's own message when dist/ is stale).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initDataDir } from '../src/app/init.js';
import { startRedis, type RedisHandle } from '../test/harness/redis.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const beforeAt = args.indexOf('--before');
const beforeRef = beforeAt >= 0 ? args[beforeAt + 1] : undefined;
const runs = Number(args.find((a, i) => /^\d+$/.test(a) && (beforeAt < 0 || i !== beforeAt + 1)) ?? 10);
const withWorker = !args.includes('--no-worker');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ztrust-cli-start-'));
const rssFile = path.join(tmp, 'rss');
/** The --before clone's node_modules: a link to this one's. */
let shared: string | null = null;

interface Sample { ms: number; rssKb: number | null; firstFetchMs?: number }
interface Case { label: string; argv: string[]; env?: NodeJS.ProcessEnv; cwd?: string; fetchMark?: string; samples: Sample[] }

/** One run: wall time around the spawn (exec to exit), peak RSS from GNU time. */
function runOnce(c: Case): Sample {
  if (c.fetchMark) rmSync(c.fetchMark, { force: true });
  const argv = TIME ? [TIME, '-f', '%M', '-o', rssFile, process.execPath, ...c.argv] : [process.execPath, ...c.argv];
  const startedAt = Date.now();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { cwd: c.cwd ?? tmp, env: c.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${c.label}: exit ${r.status ?? r.signal}\n${r.stderr.slice(-2000)}`);
  }
  // GNU time writes "Command exited with ..." before the figure when the status is not 0: the figure is the last line.
  const rss = TIME ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : NaN;
  const sample: Sample = { ms, rssKb: Number.isFinite(rss) ? rss : null };
  if (c.fetchMark) sample.firstFetchMs = existsSync(c.fetchMark) ? Number(readFileSync(c.fetchMark, 'utf8')) - startedAt : NaN;
  return sample;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

/** A clone of this repository at `ref`, sharing its node_modules; built when its bin runs dist/. */
function cloneAt(ref: string): string {
  const dir = path.join(tmp, `before-${ref.replace(/[^\w.-]/g, '_')}`);
  const git = (...a: string[]): void => {
    const r = spawnSync('git', a, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${a.join(' ')}: ${r.stderr}`);
  };
  git('clone', '--quiet', '--no-checkout', ROOT, dir);
  git('-C', dir, 'checkout', '--quiet', ref);
  shared = path.join(dir, 'node_modules');
  symlinkSync(path.join(ROOT, 'node_modules'), shared);
  if (readFileSync(path.join(dir, 'bin', 'ztrust-bot.js'), 'utf8').includes('dist/')) {
    process.stdout.write(`building the ${ref} clone...\n`);
    const b = spawnSync(process.execPath, ['scripts/build.js'], { cwd: dir, stdio: 'inherit' });
    if (b.status !== 0) throw new Error(`build of ${ref} failed`);
  }
  return path.join(dir, 'bin', 'ztrust-bot.js');
}

/** A preload that writes the time of the first listing of `dir` (the Maildir's new/) to `mark`: the worker's first fetch. */
function fetchMarker(): string {
  const code = `import fs from 'node:fs'; import path from 'node:path'; import { syncBuiltinESMExports } from 'node:module';
const target = process.env.BENCH_FETCH_DIR, mark = process.env.BENCH_FETCH_MARK, orig = fs.readdirSync;
fs.readdirSync = function (p, ...rest) {
  if (path.resolve(String(p)) === target) { fs.writeFileSync(mark, String(Date.now())); fs.readdirSync = orig; syncBuiltinESMExports(); }
  return orig.call(this, p, ...rest);
};
syncBuiltinESMExports();`;
  return `data:text/javascript,${encodeURIComponent(code)}`;
}

async function main(): Promise<void> {
  const bin = path.join(ROOT, 'bin', 'ztrust-bot.js');
  const cases: Case[] = [
    { label: 'node -e 0', argv: ['-e', '0'], samples: [] },
    { label: 'ztrust-bot --help', argv: [bin, '--help'], samples: [] },
    { label: 'ztrust-bot verify-proof --help', argv: [bin, 'verify-proof', '--help'], samples: [] },
  ];
  const oldBin = beforeRef ? cloneAt(beforeRef) : null;
  if (oldBin) {
    cases.push({ label: `${beforeRef}: --help`, argv: [oldBin, '--help'], samples: [] });
    cases.push({ label: `${beforeRef}: verify-proof --help`, argv: [oldBin, 'verify-proof', '--help'], samples: [] });
  }

  let redis: RedisHandle | null = null;
  try {
    if (withWorker) {
      redis = await startRedis();
      const init = await initDataDir({ dataDir: path.join(tmp, 'data'), address: 'bot@bench.example', name: 'ztrust-bot',
        origin: 'bench.example/log', extra: { queue: { redisUrl: redis.url } } });
      const inboxNew = path.join(init.config.dataDir, 'inbox', 'new');
      const mark = path.join(tmp, 'first-fetch');
      const env = { ...process.env, BENCH_FETCH_DIR: inboxNew, BENCH_FETCH_MARK: mark, ZTRUST_LOG_LEVEL: 'warn' };
      const worker = (label: string, b: string): Case =>
        ({ label, argv: ['--import', fetchMarker(), b, 'run', '--once', '--config', init.configPath], env, fetchMark: mark, samples: [] });
      cases.push(worker('ztrust-bot run --once (empty Maildir)', bin));
      if (oldBin) cases.push(worker(`${beforeRef}: run --once (empty Maildir)`, oldBin));
    }

    // A first run of each, not counted: a stale dist/ stops here with the command's message; caches warm alike.
    for (const c of cases) runOnce(c);
    for (let i = 0; i < runs; i++) for (const c of cases) c.samples.push(runOnce(c));
  } finally {
    await redis?.stop();
  }

  const base = median(cases[0].samples.map((s) => s.ms));
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  process.stdout.write(`cli-start: node ${process.version}, ${os.cpus().length} cores, load ${load}; median of ${runs} interleaved runs each\n`);
  process.stdout.write(`${'case'.padEnd(52)}${'median ms'.padStart(11)}${'min ms'.padStart(9)}${'peak RSS MB'.padStart(13)}${'x node -e 0'.padStart(13)}\n`);
  const row = (label: string, ms: number[], rss: (number | null)[]): void => {
    const m = median(ms);
    const known = rss.filter((x) => x !== null);
    const r = known.length === rss.length ? median(known) / 1024 : NaN;
    process.stdout.write(`${label.padEnd(52)}${f1(m).padStart(11)}${f1(Math.min(...ms)).padStart(9)}${f1(r).padStart(13)}${(m / base).toFixed(2).padStart(13)}\n`);
  };
  for (const c of cases) {
    const rss = c.samples.map((s) => s.rssKb);
    if (c.fetchMark) row(`${c.label}, to 1st fetch`, c.samples.map((s) => s.firstFetchMs ?? NaN), rss.map(() => null));
    row(c.fetchMark ? `${c.label}, to exit` : c.label, c.samples.map((s) => s.ms), rss);
  }
  const help = median(cases[1].samples.map((s) => s.ms)) / base;
  process.stdout.write(`goal: --help within 4x node -e 0: ${help <= 4 ? 'met' : 'NOT met'} (${help.toFixed(2)}x)\n`);
}

try {
  await main();
} finally {
  // The clone's node_modules is a link to this one's: remove the link itself before the rest.
  if (shared) rmSync(shared, { force: true });
  rmSync(tmp, { recursive: true, force: true });
}
