/**
 * The sections of `npm run bench` (issue 10). Each starts its own Dovecot,
 * Redis and SMTP listener, runs the real CLI worker against them, and stops
 * everything again; on failure it names the directories it kept.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listMessage, signedCorpus, type SignedCorpus } from './corpus.js';
import { topSelfTime } from './profile.js';
import { rawCrypto, shellRobot, wksServer } from './refs.js';
import { fillMaildir, firstRecordedAt, inReplyTo, spawnWorker, startStack, tapOf, type Stack, type Worker } from './stack.js';

export interface Row {
  section: string;
  figure: string;
  value: string;
  /** The reference measured in the same run, and the ratio of the figure to it. */
  reference?: string;
  ratio?: string;
  goal?: string;
  met?: boolean | null;
}

export interface Options {
  n: number;
  latencyN: number;
  listN: number;
  refN: number;
  profileDir: string | null;
  log: (s: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (kb: number) => `${fmt(kb / 1024)} MB`;

/** Run `body` on a fresh stack; stop it always, remove the bot's dir on success, name what was kept on failure. */
async function withStack<T>(o: Parameters<typeof startStack>[0], log: (s: string) => void, body: (s: Stack) => Promise<T>): Promise<T> {
  const stack = await startStack(o);
  let ok = false;
  try {
    const r = await body(stack);
    ok = true;
    return r;
  } finally {
    await stack.stop();
    if (ok) rmSync(stack.bot.dir, { recursive: true, force: true });
    else log(`  FAILED: bot data dir and worker log kept in ${stack.bot.dir} (worker.log); Dovecot dir ${stack.dovecot.dir} `
      + '(removed unless ZTRUST_HARNESS_KEEP=1)');
  }
}

export interface BotRun {
  n: number;
  /** From exec to the last reply at the SMTP listener. */
  totalMs: number;
  /** From exec to the first body fetch seen on the wire. */
  startupMs: number;
  peakRssKb: number;
  exitCode: number | null;
  exitMs: number;
  /** CPU profiles of the worker (main thread first), when profiled. */
  profiles: string[];
}

/** `run --once` on N signed requests in Dovecot; timed until every reply is at the SMTP listener. */
export async function signedRun(corpus: SignedCorpus, n: number, o: Options, profileDir: string | null): Promise<BotRun> {
  return withStack({ prefix: 'bench', publicKeys: corpus.publicKeys.map((k) => k.armored) }, o.log, async (stack) => {
    const t = Date.now();
    await fillMaildir(stack, n, (i) => readFileSync(corpus.files[i]));
    o.log(`  ${n} signed messages in Dovecot's Maildir (indexed) in ${Date.now() - t} ms; run --once ...`);
    const want = new Set(corpus.ids.slice(0, n));
    const w = spawnWorker(stack, ['run', '--once'], { cpuProfDir: profileDir ?? undefined, logFile: path.join(stack.bot.dir, 'worker.log') });
    let exitAt = 0;
    let exit: { code: number | null } = { code: null };
    void w.exited.then((e) => { exitAt = Date.now(); exit = e; });
    let seen = 0;
    let lastAt = 0;
    let reported = Date.now();
    while (want.size > 0) {
      const msgs = stack.smtp.messages;
      for (; seen < msgs.length; seen++) {
        const id = inReplyTo(msgs[seen]);
        if (id && want.delete(id)) lastAt = Date.now();
      }
      if (want.size === 0) break;
      if (exitAt && Date.now() - exitAt > 5000) {
        throw new Error(`worker exited (code ${exit.code}) with ${want.size} of ${n} requests unanswered; stderr tail:\n${w.stderrTail()}`);
      }
      if (Date.now() - reported > 10_000) {
        reported = Date.now();
        o.log(`  ... ${n - want.size}/${n} answered after ${((Date.now() - w.startedAt) / 1000).toFixed(0)} s`);
      }
      await sleep(20);
    }
    await w.exited;
    const r: BotRun = {
      n, totalMs: lastAt - w.startedAt, startupMs: (tapOf(stack).fetches[0] ?? NaN) - w.startedAt, peakRssKb: w.peakRssKb(),
      exitCode: exit.code, exitMs: exitAt - w.startedAt, profiles: [],
    };
    if (exit.code !== 0) throw new Error(`run --once exited ${exit.code} although every request was answered:\n${w.stderrTail()}`);
    if (profileDir) {
      // node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: this worker's, main thread (0) first.
      r.profiles = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(w.pid))
        .sort((a, b) => Number(a.split('.')[4]) - Number(b.split('.')[4])).map((f) => path.join(profileDir, f));
    }
    return r;
  });
}

export async function throughput(o: Options): Promise<{ rows: Row[]; run: BotRun }> {
  const rows: Row[] = [];
  o.log(`throughput: ${o.n} signed requests`);
  const corpus = await signedCorpus(o.n, o.log);
  const run = await signedRun(corpus, o.n, o, o.profileDir);
  const rate = o.n / (run.totalMs / 1000);
  const backlogRate = o.n / ((run.totalMs - run.startupMs) / 1000);
  const refN = Math.min(o.refN, o.n);
  o.log(`  bot: ${fmt(rate, 1)} msg/s end to end; references on ${refN} of the same messages ...`);
  const robot1 = await shellRobot(corpus, refN, 1);
  const cores = os.cpus().length;
  const robotN = await shellRobot(corpus, refN, cores);
  const wks = await wksServer(corpus, refN);
  const raw = rawCrypto(1);
  const bound = raw.pairPerSec * cores;
  const ratio = (a: number, b: number) => `${fmt(a / b, 2)}x`;
  const S = 'throughput';
  rows.push(
    { section: S, figure: `signed requests, run --once, end to end (N=${o.n})`, value: `${fmt(rate, 1)} msg/s`, goal: '>= 1,000 msg/s', met: rate >= 1000 },
    { section: S, figure: 'vs shell robot (gpg --verify + gpg --clearsign), sequential', value: `${fmt(rate, 1)} msg/s`,
      reference: `${fmt(robot1.perSecond, 1)} msg/s (${refN} msgs${robot1.failures ? `, ${robot1.failures} gpg failures` : ''})`, ratio: ratio(rate, robot1.perSecond),
      goal: '>= 5x', met: rate >= 5 * robot1.perSecond },
    { section: S, figure: `vs shell robot, ${cores} parallel loops`, value: `${fmt(rate, 1)} msg/s`,
      reference: `${fmt(robotN.perSecond, 1)} msg/s`, ratio: ratio(rate, robotN.perSecond), goal: '(information)', met: null },
    { section: S, figure: 'vs gpg-wks-server --receive (key submissions)', value: `${fmt(rate, 1)} msg/s`,
      reference: `${fmt(wks.perSecond, 1)} msg/s (${refN} mails${wks.failures ? `, ${wks.failures} failed` : ''})`, ratio: ratio(rate, wks.perSecond),
      goal: '>= 5x', met: rate >= 5 * wks.perSecond },
    { section: S, figure: 'raw-crypto bound: node:crypto Ed25519 verify+sign', value: `${fmt(rate, 1)} msg/s`,
      reference: `${fmt(raw.pairPerSec)}/s/core x ${cores} = ${fmt(bound)}/s (verify ${fmt(raw.verifyPerSec)}/s, sign ${fmt(raw.signPerSec)}/s)`,
      ratio: `${fmt((100 * rate) / bound, 2)}%`, goal: '(fraction reached)', met: null },
    { section: S, figure: 'backlog rate (after the first fetch)', value: `${fmt(backlogRate, 1)} msg/s`, goal: '(information)', met: null },
    { section: S, figure: 'start-up: exec to first UID FETCH BODY.PEEK[] on the wire', value: `${fmt(run.startupMs)} ms`, goal: '< 1,000 ms', met: run.startupMs < 1000 },
    { section: S, figure: 'peak RSS of the worker (VmHWM)', value: mb(run.peakRssKb), goal: '<= 300 MB', met: run.peakRssKb <= 300 * 1024 },
    { section: S, figure: 'run --once exit after the last reply', value: `${fmt(run.exitMs - run.totalMs)} ms`, goal: '(information)', met: null },
  );
  for (const [i, file] of run.profiles.entries()) {
    const top = topSelfTime(file, i === 0 ? 25 : 8);
    o.log(`  CPU profile of the worker, ${i === 0 ? 'main thread' : `thread ${file.split('.')[4]}`}: ${file} (${fmt(top.total)} ms sampled); top self time:`);
    for (const l of top.lines) o.log(`    ${l}`);
    if (i === 0) {
      o.log('  main thread, self time by module:');
      for (const l of top.modules) o.log(`    ${l}`);
    }
  }
  return { rows, run };
}

export async function memory(o: Options, full: BotRun | null): Promise<Row[]> {
  o.log(`memory: peak RSS at N=${o.n} and N/4=${Math.ceil(o.n / 4)}`);
  const corpus = await signedCorpus(o.n, o.log);
  const big = full ?? await signedRun(corpus, o.n, o, null);
  const small = await signedRun(corpus, Math.ceil(o.n / 4), o, null);
  const growth = big.peakRssKb / small.peakRssKb;
  return [
    { section: 'memory', figure: `peak RSS, run --once, N=${o.n}`, value: mb(big.peakRssKb), goal: '<= 300 MB', met: big.peakRssKb <= 300 * 1024 },
    { section: 'memory', figure: `peak RSS at N=${o.n} vs at N/4=${small.n} (same run)`, value: mb(big.peakRssKb), reference: mb(small.peakRssKb),
      ratio: `${fmt(growth, 2)}x`, goal: 'flat (N vs N/4 <= 1.2x)', met: growth <= 1.2 },
  ];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export async function latency(o: Options): Promise<Row[]> {
  o.log(`latency: ${o.latencyN} signed VERIFY requests, one at a time, by LMTP to an idle 'run' worker; in IDLE, then with mailbox.checkMs 50`);
  // Every third corpus message is a HELP: take a corpus large enough to hold latencyN VERIFYs.
  const corpus = await signedCorpus(Math.ceil(o.latencyN * 1.5) + 2, o.log);
  const picks = corpus.ids.map((_, i) => i).filter((i) => i % 3 !== 0).slice(0, o.latencyN);
  const idle = await latencyRun(o, corpus, picks, null);
  const checked = await latencyRun(o, corpus, picks, 50);
  return [...idle, ...checked];
}

/** One latency run: the worker in IMAP IDLE (checkMs null), or asking every checkMs milliseconds. */
async function latencyRun(o: Options, corpus: Awaited<ReturnType<typeof signedCorpus>>, picks: number[], checkMs: number | null): Promise<Row[]> {
  const config = checkMs === null ? {} : { mailbox: { checkMs } };
  return withStack({ prefix: 'latency', publicKeys: corpus.publicKeys.map((k) => k.armored), config }, o.log, async (stack) => {
    const w: Worker = spawnWorker(stack, ['run'], { logFile: path.join(stack.bot.dir, 'worker.log') });
    try {
      const readyBy = Date.now() + 30_000;
      let startupMs: number;
      if (checkMs === null) {
        while (tapOf(stack).idles.length === 0) {
          if (Date.now() > readyBy) throw new Error(`the worker did not enter IDLE within 30 s:\n${w.stderrTail()}`);
          await sleep(20);
        }
        startupMs = tapOf(stack).idles[0] - w.startedAt;
      } else {
        // No IDLE to wait for: one HELP (corpus message 0, not counted) answered shows the worker ready.
        await stack.dovecot.deliver(readFileSync(corpus.files[0]));
        await stack.smtp.waitFor(1, 30_000);
        startupMs = Date.now() - w.startedAt;
      }
      await sleep(500);
      const total: number[] = [];
      const notify: number[] = [];
      const lmtp: number[] = [];
      for (const i of picks) {
        const raw = readFileSync(corpus.files[i]);
        const before = stack.smtp.messages.length;
        const fetchesBefore = tapOf(stack).fetches.length;
        const t0 = Date.now();
        await stack.dovecot.deliver(raw);
        const t1 = Date.now();
        const got = await stack.smtp.waitFor(before + 1, 30_000);
        const t2 = Date.now();
        const id = inReplyTo(got[before]);
        if (id !== corpus.ids[i]) throw new Error(`reply to ${id}, expected ${corpus.ids[i]}`);
        lmtp.push(t1 - t0);
        total.push(t2 - t1);
        const f = tapOf(stack).fetches[fetchesBefore];
        if (f !== undefined) notify.push(f - t1);
        // Let the worker settle back into IDLE, as between mails from people.
        await sleep(20);
      }
      const s = [...total].sort((a, b) => a - b);
      const ns = [...notify].sort((a, b) => a - b);
      const p = (q: number) => percentile(s, q);
      const L = checkMs === null ? 'latency (IDLE)' : `latency (checkMs ${checkMs})`;
      return [
        { section: L, figure: `delivery to reply, p50 (n=${s.length})`, value: `${fmt(p(50))} ms`, goal: '<= 100 ms', met: p(50) <= 100 },
        { section: L, figure: 'delivery to reply, p90', value: `${fmt(p(90))} ms`, goal: '(information)', met: null },
        { section: L, figure: 'delivery to reply, p99', value: `${fmt(p(99))} ms`, goal: '<= 300 ms', met: p(99) <= 300 },
        { section: L, figure: 'delivery to reply, max', value: `${fmt(s[s.length - 1])} ms`, goal: '(information)', met: null },
        { section: L, figure: `of which: delivery to the worker's UID FETCH (${checkMs === null ? 'IDLE push' : 'next check'}), p50`, value: `${fmt(percentile(ns, 50))} ms`,
          reference: `p90 ${fmt(percentile(ns, 90))} ms`, goal: checkMs === null ? '(Dovecot notify delay, see notes)' : '(information)', met: null },
        { section: L, figure: 'LMTP delivery itself (not counted), p50', value: `${fmt(percentile([...lmtp].sort((a, b) => a - b), 50))} ms`, goal: '(information)', met: null },
        { section: L, figure: `worker start-up: exec to ${checkMs === null ? 'first IDLE on the wire' : 'its first answer'}`, value: `${fmt(startupMs)} ms`, goal: '(information)', met: null },
      ];
    } finally {
      await w.stop();
    }
  });
}

export async function listTraffic(o: Options): Promise<Row[]> {
  o.log(`list traffic: ${o.listN} unsigned list posts`);
  // No wire tap: at ~90 MB/s a node proxy in the path costs a fifth of the rate.
  return withStack({ prefix: 'list', watch: false }, o.log, async (stack) => {
    const t = Date.now();
    const bytes = await fillMaildir(stack, o.listN, listMessage);
    o.log(`  ${o.listN} list posts (${fmt(bytes / 1048576)} MB) in Dovecot's Maildir (indexed) in ${Date.now() - t} ms; run --once ...`);
    const w = spawnWorker(stack, ['run', '--once'], { cpuProfDir: o.profileDir ?? undefined, logFile: path.join(stack.bot.dir, 'worker.log') });
    const firstRecorded = firstRecordedAt(stack, w);
    let reported = Date.now();
    const progress = setInterval(() => {
      if (Date.now() - reported < 10_000) return;
      reported = Date.now();
      o.log(`  ... ${((Date.now() - w.startedAt) / 1000).toFixed(0)} s`);
    }, 1000);
    const exit = await w.exited;
    clearInterval(progress);
    const endMs = Date.now() - w.startedAt;
    if (exit.code !== 0) throw new Error(`run --once exited ${exit.code}:\n${w.stderrTail()}`);
    // Replies are sent before run --once exits; give a stray late one a moment to show.
    await sleep(500);
    const replies = stack.smtp.messages.length;
    const startupMs = await firstRecorded - w.startedAt;
    if (o.profileDir) {
      const main = readdirSync(o.profileDir).find((f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(w.pid) && f.split('.')[4] === '0');
      if (main) {
        const top = topSelfTime(path.join(o.profileDir, main), 15);
        o.log(`  CPU profile of the worker, main thread: ${path.join(o.profileDir, main)} (${fmt(top.total)} ms sampled); top self time:`);
        for (const l of top.lines) o.log(`    ${l}`);
        o.log('  main thread, self time by module:');
        for (const l of top.modules) o.log(`    ${l}`);
      }
    }
    const rate = o.listN / (endMs / 1000);
    const backlog = o.listN / ((endMs - startupMs) / 1000);
    const L = 'list';
    return [
      { section: L, figure: `unsigned list posts, run --once, end to end (M=${o.listN})`, value: `${fmt(rate, 1)} msg/s`, goal: '>= 5,000 msg/s', met: rate >= 5000 },
      { section: L, figure: 'backlog rate (after the first batch is recorded)', value: `${fmt(backlog, 1)} msg/s`, goal: '(information)', met: null },
      { section: L, figure: 'replies sent', value: String(replies), goal: '0', met: replies === 0 },
      { section: L, figure: 'peak RSS of the worker (VmHWM)', value: mb(w.peakRssKb()), goal: '(information)', met: null },
    ];
  });
}
