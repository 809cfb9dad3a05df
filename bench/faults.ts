/**
 * Faults on the real stack (issue 8, "What must be true" 6), one scripted
 * scenario shared by test/integration/faults.test.ts and this script:
 *
 *   node --import tsx bench/faults.ts [N]      (default N = 2000; FAULTS_SEED=... to replay)
 *
 * A backlog of N mixed messages waits in Dovecot (HELP, VERIFY <hex>, GET KEY,
 * CHECKPOINT from distinct unsigned senders; some signed with gpg by
 * collection keys; a few SUBMIT KEY by gpg-made newcomer keys, each approved
 * by a maintainer's signed APPROVE as soon as its ticket is announced). The
 * real CLI worker (`ztrust-bot run`) works through it while it is SIGKILLed
 * at five random moments and restarted, the harness Redis is restarted once
 * (no persistence: every job in it is gone), Dovecot is down for 10 s and the
 * SMTP listener refuses all mail for 30 s. A final `run --once` finishes
 * whatever is left. Then, counted at the SMTP listener by In-Reply-To: every
 * message answered, none by two different replies, identical re-sends (same
 * Message-ID) only from the window SMTP cannot close (a kill after the data
 * went out and before the 250 was recorded), every ticket made once and
 * applied once, and `audit` and `log fsck` clean.
 *
 * The moments are drawn from progress (replies seen), not from time, so the
 * faults land mid-run on a fast or a slow machine alike.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Collection } from '../src/collection/collection.js';
import { readKeysAny } from '../src/pgp/inspect.js';
import { startDovecot, type DovecotHandle } from '../test/harness/dovecot.js';
import { startRedis, type RedisHandle } from '../test/harness/redis.js';
import { startSmtp, type CapturedMail, type SmtpHandle } from '../test/harness/smtp.js';
import { makeGpgHome, type GpgHome } from '../test/harness/gpg.js';
import { assertBotMail } from '../test/harness/mailcheck.js';
import { makeBot, readReply, runCli, startCli, type BotSetup, type CliResult } from '../test/integration/bot.js';

export interface FaultOptions {
  /** Backlog size. */
  n: number;
  /** SUBMIT KEY + APPROVE flows (newcomer keys made with gpg). */
  submits?: number;
  /** Messages signed with gpg (at most a few hundred: each is one gpg run). */
  signed?: number;
  seed?: number;
  /** Replies read with Python's email package and gpg --verify. */
  pythonSample?: number;
  log?: (line: string) => void;
}

export type Kind = 'HELP' | 'VERIFY' | 'GET KEY' | 'CHECKPOINT' | 'SUBMIT KEY' | 'APPROVE';

/** The Status each request must be answered with (nothing here changes between runs). */
export const EXPECTED_STATUS: Record<Kind, string> = {
  HELP: 'found', VERIFY: 'not-found', 'GET KEY': 'found', CHECKPOINT: 'found', 'SUBMIT KEY': 'pending', APPROVE: 'approved',
};

interface Sent { id: string; kind: Kind; from: string; signed: boolean }

interface Seen {
  raw: Buffer;
  messageId: string;
  inReplyTo: string | null;
  status: string | null;
  to: string;
  head: string;
}

export interface FaultReport {
  seed: number;
  n: number;
  signed: number;
  submits: number;
  /** Requests the bot had to answer: the backlog plus the APPROVEs sent during the run. */
  requests: number;
  /** SMTP deliveries accepted, distinct Message-IDs among them, and the difference. */
  deliveries: number;
  distinct: number;
  resends: number;
  /** Deliveries the listener refused during its 30 s outage. */
  refused: number;
  /** Answered (by In-Reply-To) before the final `run --once`, and after it. */
  answeredLive: number;
  answered: number;
  missing: string[];
  /** Requests answered by two different replies (distinct Message-IDs with the same recipient and status). */
  doubled: string[];
  /** Replies whose Status is not the one the request must get. */
  wrongStatus: string[];
  /** Cheap checks (headers, structure) that failed, one line each. */
  malformed: string[];
  pythonChecked: number;
  /** assertBotMail failures in the sample (Python defects, structure, gpg). */
  pythonFailures: string[];
  killsAt: number[];
  redisAt: number;
  dovecotAt: number;
  smtpAt: number;
  /** Tickets: one per SUBMIT KEY, each applied exactly once (one commit, one log entry). */
  tickets: { id: string; state: string }[];
  ticketCommits: Record<string, number>;
  ticketProblems: string[];
  outboundConcurrency: number;
  finalRun: { code: number | null; ms: number; stderrTail: string };
  audit: { code: number | null; out: string };
  fsck: { code: number | null; out: string };
  /** The last three requests answered: kind and seconds after the first worker started. */
  lastAnswered: string[];
  /** stderr lines of the live workers that were not JSON. */
  nonJsonStderr: string[];
  wallMs: number;
  phaseMs: Record<string, number>;
}

// A small seeded PRNG (mulberry32): a run can be replayed with FAULTS_SEED.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOT = 'ztrust-bot@example.org';
const DOMAIN = 'faults.test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function header(head: string, name: string): string | null {
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r\\n[ \\t].*)*)`, 'im').exec(head);
  return m ? m[1].replace(/\r\n[ \t]+/g, ' ').trim() : null;
}

/** Structure every reply must have, checked on every mail without spawning anything. */
function cheapCheck(s: Seen): string[] {
  const bad: string[] = [];
  for (const line of s.head.split('\r\n')) {
    if (line.length > 998) bad.push('header line over 998 octets');
    if (!/^[\x21-\x39\x3b-\x7e]+:/.test(line) && !/^[ \t]/.test(line)) bad.push(`header line neither field nor continuation: ${JSON.stringify(line.slice(0, 60))}`);
    if (!/^[\x20-\x7e\t]*$/.test(line)) bad.push('non-ASCII or control octet in the header');
  }
  const ct = header(s.head, 'Content-Type') ?? '';
  if (!/^multipart\/signed;/i.test(ct) || !/protocol="application\/pgp-signature"/i.test(ct)) bad.push(`Content-Type ${ct}`);
  if (!/^"?ztrust-bot"? <ztrust-bot@example\.org>$/.test(header(s.head, 'From') ?? '')) bad.push(`From ${header(s.head, 'From')}`);
  if (!s.messageId) bad.push('no Message-ID');
  if (!header(s.head, 'X-Ztrust-Loop')) bad.push('no loop header');
  if (!/-----BEGIN PGP SIGNATURE-----/.test(s.raw.toString('latin1'))) bad.push('no signature');
  return bad;
}

function readSeen(m: CapturedMail): Seen {
  const text = m.raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  return {
    raw: m.raw, head, messageId: header(head, 'Message-ID') ?? '', inReplyTo: header(head, 'In-Reply-To'),
    status: header(head, 'X-Ztrust-Status'), to: m.recipients.join(','),
  };
}

export async function runFaults(o: FaultOptions): Promise<FaultReport> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = rng(seed);
  const n = o.n;
  const submits = o.submits ?? 4;
  const signedCount = Math.min(o.signed ?? Math.round(n * 0.15), n - submits);
  const phaseMs: Record<string, number> = {};
  const phase = (name: string, since: number) => { phaseMs[name] = Date.now() - since; };

  let dovecot: DovecotHandle | undefined;
  let redis: RedisHandle | undefined;
  let smtp: SmtpHandle | undefined;
  let gpg: GpgHome | undefined;
  let worker: { child: import('node:child_process').ChildProcess; done: Promise<CliResult> } | null = null;
  try {
    let t = Date.now();
    [dovecot, redis, smtp, gpg] = await Promise.all([startDovecot(), startRedis(), startSmtp(), makeGpgHome()]);
    const g = gpg;
    const members = ['alice', 'bob', 'carol', 'dave'];
    const fpr: Record<string, string> = {};
    for (const w of members) fpr[w] = await g.genKey(`${w} <${w}@${DOMAIN}>`, { algo: 'ed25519' });
    const newcomers = Array.from({ length: submits }, (_, i) => `new${i}`);
    for (const w of newcomers) {
      fpr[w] = await g.genKey(`${w} <${w}@${DOMAIN}>`, { algo: 'ed25519' });
      await g.signKey(fpr.alice, fpr[w]);
    }
    const outboundConcurrency = 2;
    const bot: BotSetup = await makeBot({
      mailboxUrl: dovecot.imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url, address: BOT,
      config: {
        maintainers: [fpr.alice, fpr.bob], threshold: 1,
        queue: { redisUrl: redis.url, prefix: 'faults', inboundConcurrency: 4, outboundConcurrency, retryFailedSeconds: 10 },
        // Distinct senders and a high global cap: the rate limits must not decide who is answered here.
        limits: { maxRepliesPerHour: 1_000_000, maxRepliesPerSenderPerHour: 1_000_000 },
      },
    });
    // The seed is a web of trust: each member certified by the next, so `audit` has nothing to report.
    for (let i = 0; i < members.length; i++) await g.signKey(fpr[members[(i + 1) % members.length]], fpr[members[i]]);
    const col = await Collection.open(path.join(bot.dataDir, 'collection'));
    const exported: string[] = [];
    for (const w of members) exported.push(await g.exportPublic(fpr[w]));
    await col.apply(async (c) => {
      for (const armored of exported) {
        const [key] = await readKeysAny(armored);
        await c.putKey(key, 'public', { armored });
      }
    }, { message: 'seed the collection', signer: null });
    phase('setup', t);

    // --- the backlog ---------------------------------------------------------
    t = Date.now();
    const plain: Kind[] = ['HELP', 'VERIFY', 'GET KEY', 'CHECKPOINT'];
    const body = (k: Kind): string => {
      switch (k) {
        case 'VERIFY': return `VERIFY ${createHash('sha256').update(String(rand())).digest('hex')}\n`;
        case 'GET KEY': return `GET KEY ${members[Math.floor(rand() * members.length)]}@${DOMAIN}\n`;
        default: return `${k}\n`;
      }
    };
    const sent: Sent[] = [];
    const raws: Buffer[] = [];
    const signedJobs: (() => Promise<void>)[] = [];
    for (let i = 0; i < n; i++) {
      const id = `<f${i}@${DOMAIN}>`;
      if (i < submits) {
        const w = newcomers[i];
        const key = await g.exportPublic(fpr[w]);
        sent.push({ id, kind: 'SUBMIT KEY', from: `${w}@${DOMAIN}`, signed: true });
        signedJobs.push(async () => {
          raws[i] = await g.inlineMessage(fpr[w], { from: `${w} <${w}@${DOMAIN}>`, to: BOT, subject: 'my key', messageId: id }, `SUBMIT KEY\nTo: ${BOT}\n\n${key}`);
        });
      } else if (i < submits + signedCount) {
        const w = members[i % members.length];
        const kind = plain[i % plain.length];
        sent.push({ id, kind, from: `${w}@${DOMAIN}`, signed: true });
        const text = body(kind).replace(/\n$/, `\nTo: ${BOT}\n`);
        const headers = { from: `${w} <${w}@${DOMAIN}>`, to: BOT, subject: `signed ${kind} ${i}`, messageId: id };
        signedJobs.push(async () => {
          raws[i] = i % 2 ? await g.pgpMimeMessage(fpr[w], headers, text) : await g.inlineMessage(fpr[w], headers, text);
        });
      } else {
        const kind = plain[Math.floor(rand() * plain.length)];
        const from = `user${i}@example.org`;
        sent.push({ id, kind, from, signed: false });
        raws[i] = g.plainMessage({ from, to: BOT, subject: `${kind} ${i}`, messageId: id }, body(kind));
      }
    }
    // gpg signs two at a time (the machine has two cores).
    const queue = [...signedJobs];
    await Promise.all([0, 1].map(async () => { for (let j = queue.shift(); j; j = queue.shift()) await j(); }));
    phase('sign', t);
    t = Date.now();
    // Shuffled, so the kinds (and the signed mail) are spread over the run.
    const order = [...raws.keys()];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const dq = [...order];
    await Promise.all([0, 1, 2, 3].map(async () => { for (let i = dq.shift(); i !== undefined; i = dq.shift()) await dovecot!.deliver(raws[i]); }));
    phase('deliver', t);
    log(`backlog: ${n} messages (${signedCount} signed, ${submits} SUBMIT KEY) in ${phaseMs.sign} ms signing + ${phaseMs.deliver} ms LMTP`);

    // --- watching the listener -------------------------------------------------
    const byId = new Map(sent.map((s) => [s.id, s]));
    const seen: Seen[] = [];
    const answered = new Set<string>();
    // When each request was first answered (ms after the first worker started): the tail shows what waited longest.
    const answeredAt: { id: string; ms: number }[] = [];
    let liveStart = Date.now();
    const tickets = new Map<string, { ticket: string; digest: string }>();
    const approvals: { id: string; raw: Buffer | null; submitId: string; delivered: boolean }[] = [];
    let scanned = 0;
    const scan = async () => {
      while (scanned < smtp!.messages.length) {
        const s = readSeen(smtp!.messages[scanned++]);
        seen.push(s);
        if (s.inReplyTo && byId.has(s.inReplyTo) && !answered.has(s.inReplyTo)) {
          answered.add(s.inReplyTo);
          answeredAt.push({ id: s.inReplyTo, ms: Date.now() - liveStart });
        }
        const req = s.inReplyTo ? byId.get(s.inReplyTo) : undefined;
        if (req?.kind === 'SUBMIT KEY' && s.status === 'pending' && !tickets.has(req.id)) {
          const info = await readReply({ raw: s.raw, recipients: [s.to], envelopeFrom: '' });
          const ticket = /^Ticket: (\S+)$/m.exec(info.text)?.[1];
          const digest = /^Ticket-Digest: ([0-9a-f]{64})$/m.exec(info.text)?.[1];
          if (ticket && digest) {
            tickets.set(req.id, { ticket, digest });
            // The maintainer answers the announcement with a signed, bound APPROVE, while the faults go on.
            const id = `<approve-${ticket}@${DOMAIN}>`;
            const a = { id, raw: null as Buffer | null, submitId: req.id, delivered: false };
            approvals.push(a);
            sent.push({ id, kind: 'APPROVE', from: `alice@${DOMAIN}`, signed: true });
            byId.set(id, sent[sent.length - 1]);
            a.raw = await g.inlineMessage(fpr.alice, { from: `alice <alice@${DOMAIN}>`, to: BOT, subject: `Re: ${ticket}`, messageId: id },
              `APPROVE ${ticket} ${digest}\nTo: ${BOT}\n`);
          }
        }
      }
      // Dovecot may be down: keep the approval and deliver it on a later round.
      for (const a of approvals) {
        if (a.delivered || !a.raw) continue;
        try { await dovecot!.deliver(a.raw); a.delivered = true; } catch { /* retried on the next scan */ }
      }
    };

    // --- the live worker and the faults ---------------------------------------
    const stderrs: string[] = [];
    const start = () => {
      const w = startCli(['run', '--config', bot.configPath], bot.env);
      void w.done.then((r) => stderrs.push(r.stderr));
      return w;
    };
    const progress = () => answered.size;
    const expected = () => n + submits;
    /** Waits until `count` requests are answered; the worker must not exit on its own. */
    let nextReport = Date.now() + 10_000;
    const report = () => {
      if (Date.now() < nextReport) return;
      nextReport = Date.now() + 10_000;
      log(`${Math.round((Date.now() - t) / 1000)} s: ${progress()} answered, ${smtp!.messages.length} accepted, ${smtp!.rejected.length} refused`);
    };
    const waitFor = async (count: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (progress() < count) {
        await scan();
        report();
        if (Date.now() > deadline) throw new Error(`faults: ${progress()} of ${count} answered after ${timeoutMs} ms`);
        const exited = await Promise.race([worker!.done, sleep(25).then(() => null)]);
        if (exited) throw new Error(`faults: the worker exited on its own: ${exited.code ?? exited.signal}\n${exited.stderr.slice(-3000)}`);
      }
    };
    type Fault = { at: number; kind: 'kill' | 'redis' | 'dovecot' | 'smtp' };
    const frac = () => Math.floor(n * (0.05 + rand() * 0.8));
    const faults: Fault[] = [
      ...Array.from({ length: 5 }, () => ({ at: frac(), kind: 'kill' as const })),
      ...(['redis', 'dovecot', 'smtp'] as const).map((kind) => ({ at: frac(), kind })),
    ].sort((a, b) => a.at - b.at);
    // Strictly increasing: each fault lands after the bot has answered something since the last one.
    const gap = Math.max(1, Math.floor(n / 100));
    for (let i = 1; i < faults.length; i++) faults[i].at = Math.max(faults[i].at, faults[i - 1].at + gap);
    const killsAt: number[] = [];
    let redisAt = -1;
    let dovecotAt = -1;
    let dovecotDown: Promise<unknown> = Promise.resolve();
    let smtpAt = -1;
    t = Date.now();
    liveStart = t;
    worker = start();
    for (const f of faults) {
      await waitFor(f.at, 240_000);
      const at = progress();
      if (f.kind === 'kill') {
        worker.child.kill('SIGKILL');
        const r = await worker.done;
        if (r.signal !== 'SIGKILL') throw new Error(`faults: the worker ended with ${r.code ?? r.signal} before the kill\n${r.stderr.slice(-3000)}`);
        killsAt.push(at);
        worker = start();
      } else if (f.kind === 'redis') {
        redisAt = at;
        await redis.restart(1000);
      } else if (f.kind === 'dovecot') {
        dovecotAt = at;
        // Not awaited: the bot spools what it fetched before the outage and
        // works on while Dovecot is down, so a loop that waited out the 10 s
        // would find the backlog done and land every later fault after the
        // end (seen: "fault at 604 of 604"). Awaited after the last fault.
        dovecotDown = dovecot.restart({ downMs: 10_000 });
      } else {
        smtpAt = at;
        smtp.refuseFor(30_000);
      }
      log(`${f.kind} at ${at} answered`);
    }
    await dovecotDown;
    // The live worker finishes (the retry schedule picks up what ran out of
    // attempts during the outages); give up waiting after a minute without progress.
    let last = -1;
    let lastChange = Date.now();
    while (progress() < expected() || approvals.some((a) => !answered.has(a.id))) {
      await scan();
      report();
      if (progress() !== last) { last = progress(); lastChange = Date.now(); }
      if (Date.now() - lastChange > 60_000) break;
      const exited = await Promise.race([worker.done, sleep(50).then(() => null)]);
      if (exited) throw new Error(`faults: the worker exited on its own: ${exited.code ?? exited.signal}\n${exited.stderr.slice(-3000)}`);
    }
    // Applies and their notices may still be on their way: a short quiet period.
    for (let quiet = 0; quiet < 40; quiet++) { const before = smtp.messages.length; await sleep(100); await scan(); if (smtp.messages.length !== before) quiet = 0; }
    const answeredLive = progress();
    worker.child.kill('SIGTERM');
    const stopped = await Promise.race([worker.done, sleep(30_000).then(() => null)]);
    if (!stopped) { worker.child.kill('SIGKILL'); await worker.done; }
    worker = null;
    phase('live', t);

    // --- the final run --once and the counts ------------------------------------
    t = Date.now();
    const fin = await runCli(['run', '--once', '--config', bot.configPath], bot.env, 300_000);
    phase('final', t);
    await scan();
    const requests = [...byId.keys()];
    const missing = requests.filter((id) => !answered.has(id));
    // One distinct reply per (request, recipient, status): a submission is
    // answered "pending" and later told "approved" and "applied"; anything else is doubled.
    const groups = new Map<string, Set<string>>();
    const wrongStatus: string[] = [];
    const malformed: string[] = [];
    const firstOf = new Map<string, Seen>();
    for (const s of seen) {
      for (const b of cheapCheck(s)) malformed.push(`${s.messageId}: ${b}`);
      if (!firstOf.has(s.messageId)) firstOf.set(s.messageId, s);
      const req = s.inReplyTo ? byId.get(s.inReplyTo) : undefined;
      if (!req) continue;
      const key = `${req.id} ${s.to} ${s.status}`;
      const set = groups.get(key) ?? new Set<string>();
      set.add(s.messageId);
      groups.set(key, set);
      // A submission is answered "pending", then its submitter is told "approved" and "applied".
      const allowed = req.kind === 'SUBMIT KEY' ? ['pending', 'approved', 'applied'] : [EXPECTED_STATUS[req.kind]];
      if (s.to === req.from && !allowed.includes(s.status ?? '')) wrongStatus.push(`${req.id} ${req.kind}: ${s.status}`);
    }
    const doubled = [...groups.entries()].filter(([, ids]) => ids.size > 1).map(([k, ids]) => `${k}: ${[...ids].join(' ')}`);
    for (const req of sent) {
      if (req.kind === 'SUBMIT KEY') continue;
      const replies = new Set(seen.filter((s) => s.inReplyTo === req.id).map((s) => s.messageId));
      if (replies.size > 1) doubled.push(`${req.id} ${req.kind}: ${replies.size} different replies`);
    }
    const distinct = firstOf.size;

    // Python's email package and gpg on a sample (they spawn processes), spread over the run.
    const sample = o.pythonSample ?? 50;
    const step = Math.max(1, Math.floor(distinct / sample));
    const all = [...firstOf.values()];
    let pythonChecked = 0;
    const pythonFailures: string[] = [];
    for (let i = 0; i < all.length && pythonChecked < sample; i += step) {
      try { await assertBotMail(all[i].raw, bot.botPublicKey); } catch (e) { pythonFailures.push(`${all[i].messageId}: ${(e as Error).message.slice(0, 1500)}`); }
      pythonChecked++;
    }

    // Tickets: one per submission, each applied once.
    const tl = await runCli(['tickets', '--json', '--config', bot.configPath], bot.env);
    const list = JSON.parse(tl.stdout || '[]') as { id: string; state: string; subject: string }[];
    const gitLog = spawnSync('git', ['-C', path.join(bot.dataDir, 'collection'), 'log', '--format=%B%x00'], { encoding: 'utf8' }).stdout;
    const ticketCommits: Record<string, number> = {};
    const ticketProblems: string[] = [];
    if (list.length !== submits) ticketProblems.push(`${list.length} tickets for ${submits} submissions`);
    for (const [submitId, tk] of tickets) {
      const row = list.filter((x) => x.id === tk.ticket);
      if (row.length !== 1) ticketProblems.push(`${submitId}: ticket ${tk.ticket} listed ${row.length} times`);
      else if (row[0].state !== 'applied') ticketProblems.push(`${tk.ticket} is ${row[0].state}`);
      ticketCommits[tk.ticket] = gitLog.split(`Ztrust-Ticket: ${tk.ticket}\n`).length - 1;
      if (ticketCommits[tk.ticket] !== 1) ticketProblems.push(`${tk.ticket}: ${ticketCommits[tk.ticket]} commits`);
    }
    if (tickets.size !== submits) ticketProblems.push(`${tickets.size} of ${submits} submissions got a ticket`);

    const audit = await runCli(['audit', '--config', bot.configPath], bot.env);
    const fsck = await runCli(['log', 'fsck', '--config', bot.configPath], bot.env);
    const nonJsonStderr = stderrs.flatMap((e) => e.split('\n')).filter((l) => l.trim() && !l.startsWith('{'));
    return {
      seed, n, signed: signedCount, submits, requests: requests.length,
      deliveries: seen.length, distinct, resends: seen.length - distinct, refused: smtp.rejected.length,
      answeredLive, answered: answered.size, missing, doubled, wrongStatus, malformed: [...new Set(malformed)], pythonChecked, pythonFailures,
      killsAt, redisAt, dovecotAt, smtpAt,
      tickets: list.map((x) => ({ id: x.id, state: x.state })), ticketCommits, ticketProblems, outboundConcurrency,
      finalRun: { code: fin.code, ms: phaseMs.final, stderrTail: fin.stderr.slice(-2000) },
      audit: { code: audit.code, out: (audit.stdout + audit.stderr).slice(-2000) },
      fsck: { code: fsck.code, out: (fsck.stdout + fsck.stderr).slice(-2000) },
      lastAnswered: answeredAt.slice(-3).map((a) => `${byId.get(a.id)!.kind}@${Math.round(a.ms / 1000)}s`),
      nonJsonStderr: nonJsonStderr.slice(0, 20), wallMs: Date.now() - t0, phaseMs,
    };
  } catch (err) {
    // The fault moments of a failed run, to replay it.
    if (err instanceof Error) err.message += `\n(replay with FAULTS_SEED=${seed})`;
    throw err;
  } finally {
    if (worker) { worker.child.kill('SIGKILL'); await worker.done; }
    await Promise.allSettled([dovecot?.stop(), redis?.stop(), smtp?.stop(), gpg?.cleanup()]);
  }
}

/** The one line both the test and the script print. */
export function countsLine(r: FaultReport): string {
  const s = (x: number) => (x < 0 ? '-' : String(x));
  return `# faults: n=${r.n} signed=${r.signed} submits=${r.submits} requests=${r.requests} answered=${r.answered} (live ${r.answeredLive})`
    + ` missing=${r.missing.length} doubled=${r.doubled.length} wrong-status=${r.wrongStatus.length} malformed=${r.malformed.length}`
    + ` deliveries=${r.deliveries} distinct=${r.distinct} same-id-resends=${r.resends} (bound ${r.killsAt.length * r.outboundConcurrency})`
    + ` refused-by-smtp=${r.refused} kills-at=${r.killsAt.join(',')} redis-at=${s(r.redisAt)} dovecot-at=${s(r.dovecotAt)} smtp-at=${s(r.smtpAt)}`
    + ` tickets=${r.tickets.filter((t) => t.state === 'applied').length}/${r.submits}-applied ticket-problems=${r.ticketProblems.length}`
    + ` audit=${r.audit.code === 0 ? 'clean' : `exit-${r.audit.code}`} fsck=${r.fsck.code === 0 ? 'clean' : `exit-${r.fsck.code}`}`
    + ` final-run=exit-${r.finalRun.code}/${Math.round(r.finalRun.ms / 1000)}s python-checked=${r.pythonChecked} python-failed=${r.pythonFailures.length} non-json-stderr=${r.nonJsonStderr.length} last-answered=${r.lastAnswered.join(',')}`
    + ` seed=${r.seed} wall=${Math.round(r.wallMs / 1000)}s (${Object.entries(r.phaseMs).map(([k, v]) => `${k} ${Math.round(v / 1000)}s`).join(', ')})`;
}

/** Everything that must hold, as sentences; empty when the run is clean. */
export function violations(r: FaultReport): string[] {
  const v: string[] = [];
  if (r.missing.length) v.push(`${r.missing.length} request(s) never answered: ${r.missing.slice(0, 10).join(' ')}`);
  if (r.doubled.length) v.push(`${r.doubled.length} request(s) answered by two different replies: ${r.doubled.slice(0, 5).join('; ')}`);
  if (r.wrongStatus.length) v.push(`wrong Status: ${r.wrongStatus.slice(0, 10).join('; ')}`);
  if (r.pythonFailures.length) v.push(`${r.pythonFailures.length} of ${r.pythonChecked} sampled replies fail assertBotMail: ${r.pythonFailures[0]}`);
  if (r.malformed.length) v.push(`malformed replies: ${r.malformed.slice(0, 10).join('; ')}`);
  if (r.resends > r.killsAt.length * r.outboundConcurrency) v.push(`${r.resends} same-Message-ID re-sends, more than kills x outbound concurrency`);
  if (r.ticketProblems.length) v.push(`tickets: ${r.ticketProblems.join('; ')}`);
  if (r.finalRun.code !== 0) v.push(`final run --once exited ${r.finalRun.code}: ${r.finalRun.stderrTail}`);
  if (r.audit.code !== 0) v.push(`audit exited ${r.audit.code}: ${r.audit.out}`);
  if (r.fsck.code !== 0) v.push(`log fsck exited ${r.fsck.code}: ${r.fsck.out}`);
  return v;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? process.env.FAULTS_N ?? 2000);
  const seed = process.env.FAULTS_SEED ? Number(process.env.FAULTS_SEED) : undefined;
  const r = await runFaults({ n, seed, submits: 8, signed: Math.min(300, Math.round(n * 0.15)), log: (l) => console.error(`faults: ${l}`) });
  console.log(countsLine(r));
  const v = violations(r);
  for (const line of v) console.log(`# FAILED: ${line}`);
  if (r.nonJsonStderr.length) console.log(`# non-JSON stderr lines of the worker (first ${r.nonJsonStderr.length}):\n${r.nonJsonStderr.join('\n')}`);
  process.exitCode = v.length ? 1 : 0;
}
