/**
 * Shared support for integration tests: a bot data directory wired to the
 * harness services, and the real CLI run as a child process, exactly as an
 * operator would run it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { simpleParser } from 'mailparser';
import { initDataDir } from '../../src/app/init.js';
import { dataLayout } from '../../src/datadir.js';
import { openLogView } from '../../src/digest/logview.js';
import { parseEntry, type LogEntry } from '../../src/tlog/index.js';
import { atExit } from '../harness/cleanup.js';
import type { GpgHome } from '../harness/gpg.js';
import type { CapturedMail } from '../harness/smtp.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'bin', 'ztrust-bot.js');

export interface BotSetup {
  dir: string;
  dataDir: string;
  configPath: string;
  botFingerprint: string;
  botPublicKey: string;
  address: string;
  env: NodeJS.ProcessEnv;
}

export interface BotOptions {
  mailboxUrl: string;
  mailboxPassword?: string;
  outboxUrl: string;
  redisUrl?: string | null;
  address?: string;
  /** Deep-merged over the generated config. */
  config?: Record<string, unknown>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export async function makeBot(o: BotOptions): Promise<BotSetup> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ztrust-it-'));
  const address = o.address ?? 'ztrust-bot@example.org';
  const init = await initDataDir({ dataDir: path.join(dir, 'data'), address, name: 'ztrust-bot', origin: 'test.ztrust.example/log',
    mailboxUrl: o.mailboxUrl, outboxUrl: o.outboxUrl, configPath: path.join(dir, 'ztrust.yaml') });
  const doc = YAML.parse(readFileSync(init.configPath, 'utf8')) as Record<string, unknown>;
  // o.config is merged key by key (a test's `mailbox: { checkMs }` keeps the password setting).
  const patched = merge(merge(doc, {
    mailbox: { ...(o.mailboxPassword !== undefined ? { passwordEnv: 'ZTRUST_TEST_IMAP_PASSWORD' } : {}), pollSeconds: 5 },
    outbox: { attempts: 5, backoffSeconds: 0.2 },
    queue: { redisUrl: o.redisUrl ?? null },
  }), o.config ?? {});
  writeFileSync(init.configPath, YAML.stringify(patched));
  return {
    dir, dataDir: init.config.dataDir, configPath: init.configPath, botFingerprint: init.botFingerprint, address,
    botPublicKey: readFileSync(path.join(init.config.dataDir, 'keys', 'bot.pub.asc'), 'utf8'),
    env: { ...process.env, ZTRUST_TEST_IMAP_PASSWORD: o.mailboxPassword ?? '', ZTRUST_LOG_LEVEL: process.env.ZTRUST_TEST_LOG_LEVEL ?? 'warn' },
  };
}

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** `output()`: what the command has written so far (stdout, then stderr), for a test's failure message while it still runs. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<CliResult>; output: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  // A test file the runner ends (its timeout) runs no after() hook: a worker
  // left running would poll ports that later files' servers may take.
  const forget = atExit(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const done = new Promise<CliResult>((resolve) => child.once('exit', (code, signal) => {
    forget();
    resolve({ code, signal, stdout, stderr });
  }));
  return { child, done, output: () => stdout + stderr };
}

export type RunningCli = ReturnType<typeof startCli>;

/** The command's result; SIGKILLed first if it has not exited within `ms`. */
export async function doneWithin(cli: RunningCli, ms: number): Promise<CliResult> {
  const t = setTimeout(() => cli.child.kill('SIGKILL'), ms);
  const r = await cli.done;
  clearTimeout(t);
  return r;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliResult> {
  return doneWithin(startCli(args, env), timeoutMs);
}

/** SIGTERM, then SIGKILL if it has not exited within `ms`. */
export function stopCli(cli: RunningCli, ms: number): Promise<CliResult> {
  cli.child.kill('SIGTERM');
  return doneWithin(cli, ms);
}

export interface ReplyInfo {
  raw: Buffer;
  to: string[];
  inReplyTo: string | null;
  messageId: string | null;
  status: string | null;
  text: string;
}

/** A bot mail as a test reads it: recipients, Status, the text (LF), its machine-readable lines, In-Reply-To and the raw Subject. */
export interface MailFields { to: string; status: string; text: string; fields: Record<string, string>; inReplyTo: string | null; subject: string }

export async function mailFields(m: CapturedMail): Promise<MailFields> {
  const r = await readReply(m);
  const text = r.text.replace(/\r\n/g, '\n');
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line) break;
    const x = /^([A-Za-z-]+): (.*)$/.exec(line);
    if (x) fields[x[1]] = x[2]!;
  }
  const subject = /^Subject: (.*)$/m.exec(m.raw.toString('latin1'))?.[1] ?? '';
  return { to: r.to.join(','), status: r.status ?? '', text, fields, inReplyTo: r.inReplyTo, subject };
}

export async function readReply(m: CapturedMail): Promise<ReplyInfo> {
  const p = await simpleParser(m.raw);
  return {
    raw: m.raw, to: m.recipients, inReplyTo: p.inReplyTo ?? null, messageId: p.messageId ?? null,
    status: (p.headers.get('x-ztrust-status') as string | undefined) ?? null, text: p.text ?? '',
  };
}

/** Every entry of the bot's transparency log, read from its files as a mirror would ([] before the first). */
export async function logEntries(dataDir: string): Promise<LogEntry[]> {
  const view = await openLogView(dataLayout(dataDir).log);
  if (!view) return [];
  const out: LogEntry[] = [];
  for (let i = 0; i < view.size; i++) out.push(parseEntry(await view.entry(i)));
  return out;
}

/**
 * The seed of a deployment: the given gpg-made keys certify one another
 * (gpg --quick-sign-key) and are imported with `ztrust-bot import` from the
 * working group's layout (pgp/all/0x<key id>-<address>-public.asc).
 */
export async function importCommunity(g: GpgHome, bot: BotSetup, members: { fpr: string; address: string }[], workDir: string): Promise<CliResult> {
  for (const a of members) for (const b of members) if (a !== b) await g.signKey(a.fpr, b.fpr);
  const seed = path.join(workDir, 'seed', 'ztrust');
  mkdirSync(path.join(seed, 'pgp', 'all'), { recursive: true });
  for (const m of members) {
    writeFileSync(path.join(seed, 'pgp', 'all', `0x${m.fpr.slice(-16).toLowerCase()}-${m.address}-public.asc`), await g.exportPublic(m.fpr));
  }
  return runCli(['import', path.dirname(seed), '--config', bot.configPath], bot.env);
}
