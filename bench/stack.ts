/**
 * The real stack for one benchmark section: the harness's Dovecot, Redis and
 * SMTP listener, a bot data directory wired to them, a Maildir filled under
 * Dovecot's mail root, a watching TCP proxy in front of IMAP, and the real
 * CLI worker spawned as deployed, with its peak RSS sampled from /proc.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { Collection } from '../src/collection/collection.js';
import { readKeysAny } from '../src/pgp/inspect.js';
import { startDovecot, type DovecotHandle } from '../test/harness/dovecot.js';
import { startRedis, type RedisHandle } from '../test/harness/redis.js';
import { startSmtp, type SmtpHandle, type CapturedMail } from '../test/harness/smtp.js';
import { findBinary } from '../test/harness/procs.js';
import { atExit } from '../test/harness/cleanup.js';
import { startTcpProxy } from '../test/harness/tcpproxy.js';
import { makeBot, CLI, type BotSetup } from '../test/integration/bot.js';
import { BOT } from './corpus.js';

export interface Stack {
  dovecot: DovecotHandle;
  redis: RedisHandle;
  smtp: SmtpHandle;
  bot: BotSetup;
  /**
   * The wire tap between the worker and Dovecot; null when the section asked
   * for none (`watch: false`): the proxy is a node process in the data path,
   * which costs list traffic (~90 MB/s through it) a fifth of its rate.
   */
  proxy: ImapWatch | null;
  stop(): Promise<void>;
}

/**
 * A pass-through TCP proxy in front of Dovecot's IMAP port that notes when
 * the client sends a command fetching a message body (`UID FETCH ...
 * BODY.PEEK[]`): the moment the worker starts reading mail, seen on the wire.
 */
export interface ImapWatch {
  port: number;
  /** Times (Date.now()) of body fetch commands, in order. */
  fetches: number[];
  /** Times of IDLE commands: the worker waiting for the server's push. */
  idles: number[];
  stop(): Promise<void>;
}

const BODY_FETCH = /UID FETCH [0-9:,*]+ \([^)\r\n]*BODY\.PEEK\[\]/i;

export async function startImapWatch(target: number): Promise<ImapWatch> {
  const fetches: number[] = [];
  const idles: number[] = [];
  const tails = new WeakMap<Socket, string>();
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: target }, {
    onClientData(d, client) {
      // Scan whole lines only; an incomplete last line waits for the next read (bounded: commands are short).
      const lines = ((tails.get(client) ?? '') + d.toString('latin1')).split('\r\n');
      tails.set(client, (lines.pop() ?? '').slice(-400));
      for (const line of lines) {
        if (BODY_FETCH.test(line)) fetches.push(Date.now());
        else if (/^\S+ IDLE$/i.test(line)) idles.push(Date.now());
      }
    },
  });
  return { port: proxy.port, fetches, idles, stop: () => proxy.stop() };
}

/** ZTRUST_BENCH_CONCURRENCY=N, or N,M: queue.inboundConcurrency N and outboundConcurrency N (or M). */
function concurrency(): Record<string, number> {
  const [n, m = n] = (process.env.ZTRUST_BENCH_CONCURRENCY ?? '').split(',').map(Number);
  return Number.isInteger(n) && n > 0 && Number.isInteger(m) && m > 0 ? { inboundConcurrency: n, outboundConcurrency: m } : {};
}

export async function startStack(o: { prefix: string; config?: Record<string, unknown>; publicKeys?: string[]; watch?: boolean }): Promise<Stack> {
  const [dovecot, redis, smtp] = await Promise.all([startDovecot(), startRedis(), startSmtp()]);
  const proxy = o.watch === false ? null : await startImapWatch(dovecot.imapPort);
  try {
    const imapUrl = `imap://${dovecot.user}@127.0.0.1:${proxy?.port ?? dovecot.imapPort}/INBOX`;
    const bot = await makeBot({
      mailboxUrl: imapUrl, mailboxPassword: dovecot.password, outboxUrl: smtp.url, redisUrl: redis.url, address: BOT,
      config: {
        // ZTRUST_BENCH_CONCURRENCY=N sets both worker pools (queue.inboundConcurrency, outboundConcurrency) to N.
        queue: { redisUrl: redis.url, prefix: o.prefix, ...concurrency() },
        // The benchmark measures the pipeline, not the flood limits: every request must be answered.
        limits: { maxRepliesPerHour: 10_000_000, maxRepliesPerSenderPerHour: 10_000_000 },
        ...(o.config ?? {}),
      },
    });
    // As an operator runs it: info-level logs (the default), not the test's warn.
    bot.env.ZTRUST_LOG_LEVEL = process.env.ZTRUST_BENCH_LOG_LEVEL ?? 'info';
    if (o.publicKeys?.length) {
      const col = await Collection.open(path.join(bot.dataDir, 'collection'));
      await col.apply(async (c) => {
        for (const armored of o.publicKeys!) {
          const [key] = await readKeysAny(armored);
          await c.putKey(key, 'public', { armored });
        }
      }, { message: 'benchmark signers', signer: null });
    }
    let stopped: Promise<void> | null = null;
    return {
      dovecot, redis, smtp, bot, proxy,
      stop() {
        stopped ??= Promise.allSettled([proxy?.stop(), dovecot.stop(), redis.stop(), smtp.stop()]).then(() => undefined);
        return stopped;
      },
    };
  } catch (e) {
    await Promise.allSettled([proxy?.stop(), dovecot.stop(), redis.stop(), smtp.stop()]);
    throw e;
  }
}

/**
 * Put messages straight into the bot user's Maildir under Dovecot's mail
 * root (owned by the mail uid, as Dovecot's own delivery would leave them),
 * then have Dovecot index them (doveadm mailbox status syncs the Maildir),
 * so the timed run starts from a mailbox in the state delivery leaves.
 */
export async function fillMaildir(stack: Stack, count: number, message: (i: number) => Buffer): Promise<number> {
  const md = stack.dovecot.maildir();
  const home = path.dirname(md);
  const { uid, gid } = statSync(home);
  for (const d of ['', 'new', 'cur', 'tmp']) {
    mkdirSync(path.join(md, d), { recursive: true });
    chownSync(path.join(md, d), uid, gid);
  }
  const now = Math.floor(Date.now() / 1000);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const raw = message(i);
    bytes += raw.length;
    // Maildir unique name; S= lets Dovecot skip a stat for the size.
    const file = path.join(md, 'new', `${now}.M${i}P${process.pid}.bench,S=${raw.length}`);
    writeFileSync(file, raw);
    chownSync(file, uid, gid);
  }
  const conf = path.join(stack.dovecot.dir, 'dovecot.conf');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(findBinary('doveadm', 'dovecot-core'), ['-c', conf, 'mailbox', 'status', '-u', stack.dovecot.user, 'messages', 'INBOX'],
      { timeout: 600_000 }, (err, stdout, stderr) => (err ? reject(new Error(`doveadm: ${err.message} ${stderr}`)) : resolve(stdout)));
  });
  const n = Number(/messages=(\d+)/.exec(out)?.[1]);
  if (n !== count) throw new Error(`Dovecot sees ${n} messages in INBOX, expected ${count}: ${out}`);
  return bytes;
}

const messageIdLine = /^In-Reply-To:[ \t]*(<[^>\r\n]*>)/im;

/** In-Reply-To of a captured mail (header section only). */
export function inReplyTo(m: CapturedMail): string | null {
  const raw = m.raw.toString('latin1');
  const end = raw.indexOf('\r\n\r\n');
  return messageIdLine.exec(end < 0 ? raw : raw.slice(0, end))?.[1] ?? null;
}

export interface Worker {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  /** Highest VmHWM (kB) read from /proc while it ran. */
  peakRssKb(): number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail(): string;
  stop(): Promise<void>;
}

/** The real CLI (`node bin/ztrust-bot.js ...`), with its stderr to a file in the data dir and VmHWM sampled. */
export function spawnWorker(stack: Stack, args: string[], opts: { cpuProfDir?: string; logFile: string }): Worker {
  // ZTRUST_BENCH_NODE_ARGS: node flags for diagnosis (`--trace-gc`, which
  // NODE_OPTIONS refuses), with the worker's stdout to ZTRUST_BENCH_STDOUT.
  const nodeArgs = [
    ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : []),
    ...(process.env.ZTRUST_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const stdout = process.env.ZTRUST_BENCH_STDOUT ? openSync(process.env.ZTRUST_BENCH_STDOUT, 'a') : 'ignore';
  const startedAt = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args, '--config', stack.bot.configPath],
    { env: stack.bot.env, stdio: ['ignore', stdout, 'pipe'] });
  if (typeof stdout === 'number') closeSync(stdout); // the child has its own copy
  const pid = child.pid!;
  // Not left running if the bench dies (an error, ^C): the harness's exit hooks end it with the servers.
  const forget = atExit(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  let tail = '';
  const chunks: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => { chunks.push(d); tail = (tail + d.toString('utf8')).slice(-8000); });
  let peak = 0;
  const sample = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch { /* exited */ }
  };
  const timer = setInterval(sample, 50);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      clearInterval(timer);
      forget();
      writeFileSync(opts.logFile, Buffer.concat(chunks));
      resolve({ code, signal });
    });
  });
  return {
    child, pid, startedAt, exited,
    peakRssKb: () => { sample(); return peak; },
    stderrTail: () => tail,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        sample();
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** The section's wire tap; throws for a stack started with `watch: false`. */
export function tapOf(stack: Stack): ImapWatch {
  if (!stack.proxy) throw new Error('this section started its stack without the IMAP wire tap (watch: false)');
  return stack.proxy;
}

/**
 * When the worker's store first holds a message: its first fetch batch
 * fetched and recorded (a little after the fetch itself, so never kinder to
 * the worker than the wire tap). Read from outside the data path: the
 * worker's state.db, read-only, every 5 ms. NaN if the worker exits first.
 */
export function firstRecordedAt(stack: Stack, w: Worker): Promise<number> {
  const file = path.join(stack.bot.dataDir, 'state.db');
  let db: Database.Database | null = null;
  let running = true;
  void w.exited.then(() => { running = false; });
  return new Promise((resolve) => {
    const poll = (): void => {
      const at = Date.now();
      try {
        db ??= existsSync(file) ? new Database(file, { readonly: true, fileMustExist: true }) : null;
        if (db?.prepare('SELECT 1 FROM spool LIMIT 1').get()) {
          db.close();
          resolve(at);
          return;
        }
      } catch { /* not created or migrated yet, or busy: ask again */ }
      if (!running) {
        db?.close();
        resolve(NaN);
        return;
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}
