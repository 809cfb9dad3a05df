/**
 * A real data directory for the state-consistency tests: `init` output
 * (bot key, log key, config with a Maildir in and .eml files out), the
 * state store as a file, the collection as a git repository and the log on
 * disk, all opened through openApp as the worker does. Members are GnuPG
 * keys made at test time (cross-certified with gpg), their mail is signed by
 * gpg, and messages go through the real dispatcher and apply step.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import YAML from 'yaml';
import { openApp, type App } from '../../src/app/app.js';
import { applyChange, collectionOf, type ApplyOutcome } from '../../src/changes/apply.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { initDataDir } from '../../src/app/init.js';
import { LogReader } from '../../src/ledger/reader.js';
import { silentLogger } from '../../src/logger.js';
import type { OutboxRow } from '../../src/store/types.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';

export const BOT = 'bot@ztrust.test';

export interface Member { name: string; email: string; fpr: string; armored: string }

export interface StateWorld {
  dir: string;
  cfg: LoadedConfig;
  configPath: string;
  gpg: GpgHome;
  app: App;
  members: Member[];
  botPublicKey: string;
  /** Signed PGP/MIME mail from a member to the bot. */
  mail(m: Member, body: string, messageId?: string): Promise<Buffer>;
  /** Spool, dispatch, complete and apply, as the inbound and apply workers do; the mails the message caused. */
  deliver(raw: Buffer, opts?: { apply?: boolean }): Promise<{ outcome: string; mails: OutboxRow[]; applied: ApplyOutcome[] }>;
  /** Run the apply step for every queued change. */
  applyAll(): Promise<ApplyOutcome[]>;
  /** Puts a message into the Maildir the worker reads. */
  drop(raw: Buffer, name: string): string;
  logSize(): Promise<number>;
  head(): Promise<string>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export async function stateWorld(names: [string, string][] = [['Alice Mainframe', 'alice@people.test'], ['Bob Volunteer', 'bob@people.test'], ['Carol Sysprog', 'carol@people.test']]): Promise<StateWorld> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zt-state-'));
  const gpg = await makeGpgHome();
  const members: Member[] = [];
  for (const [name, email] of names) {
    const fpr = await gpg.genKey(`${name} <${email}>`, { encryptSubkey: false });
    members.push({ name, email, fpr, armored: '' });
  }
  // Cross-certify, as the members did before the bot existed.
  for (const a of members) for (const b of members) if (a !== b) await gpg.signKey(a.fpr, b.fpr);
  for (const m of members) m.armored = await gpg.exportPublic(m.fpr);

  const inbox = path.join(dir, 'inbox');
  for (const d of ['new', 'cur', 'tmp']) mkdirSync(path.join(inbox, d), { recursive: true });
  const init = await initDataDir({
    dataDir: path.join(dir, 'data'), address: BOT, name: 'ztrust-bot', origin: 'test.ztrust.example/log',
    mailboxUrl: `maildir:${inbox}`, outboxUrl: `dir:${path.join(dir, 'outbox')}`, configPath: path.join(dir, 'ztrust.yaml'),
  });
  const doc = YAML.parse(readFileSync(init.configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(init.configPath, YAML.stringify({ ...doc, maintainers: members.map((m) => m.fpr), threshold: 2 }));
  const cfg = loadConfig(init.configPath);
  const botPublicKey = readFileSync(path.join(cfg.dataDir, 'keys', 'bot.pub.asc'), 'utf8');

  // The seed, as an operator's import leaves it: the keys committed.
  const col = await collectionOf(cfg);
  await col.apply(async (c) => {
    for (const m of members) await c.putKey(await openpgp.readKey({ armoredKey: m.armored }), 'public');
  }, { message: 'seed', signer: null });

  let app = await openApp(cfg, silentLogger);
  let seq = 0;
  const applyAll = async (): Promise<ApplyOutcome[]> => {
    const out: ApplyOutcome[] = [];
    for (const id of await app.store.pendingChanges()) {
      out.push(await applyChange(id, {
        config: cfg, store: app.store, signer: app.signer, policy: app.policy, logger: silentLogger,
        logAppend: app.logAppend, applyAttestation: app.applyAttestation,
      }));
    }
    return out;
  };
  const w: StateWorld = {
    dir, cfg, configPath: init.configPath, gpg, members, botPublicKey,
    get app() { return app; },
    mail: (m, body, messageId) => gpg.pgpMimeMessage(m.fpr, { from: `${m.name} <${m.email}>`, to: BOT, subject: 'request', ...(messageId ? { messageId } : {}) }, body, { crlf: true }),
    async deliver(raw, opts = {}) {
      const key = `t${++seq}`;
      await app.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: String(seq), messageId: null, raw, receivedAt: new Date().toISOString() });
      const d = await app.dispatcher();
      const out = await d.processMessage((await app.store.getSpooled(key))!);
      await app.store.complete(out.completion);
      const applied = opts.apply === false ? [] : await applyAll();
      const ids = new Set(applied.flatMap((a) => a.outboxIds));
      const mails = (await app.store.listOutbox()).filter((r) => r.spoolKey === key || ids.has(r.id));
      return { outcome: out.completion.outcome, mails, applied };
    },
    applyAll,
    drop(raw, name) {
      const f = path.join(inbox, 'new', `${Date.now()}.${name}.test`);
      writeFileSync(f, raw);
      return f;
    },
    async logSize() {
      try {
        return (await LogReader.open(path.join(cfg.dataDir, 'log'))).size;
      } catch {
        return 0;
      }
    },
    async head() {
      return (await (await collectionOf(cfg)).git(['rev-parse', 'HEAD'])).trim();
    },
    async reopen() {
      app = await openApp(cfg, silentLogger);
    },
    async close() {
      await app.close();
    },
  };
  return w;
}

/** Dave, certified by the first two members, submits his key: the ticket id and digest from the reply. */
export async function openTicket(w: StateWorld): Promise<{ ticket: string; digest: string; dave: string }> {
  const [alice, bob] = w.members;
  const dave = await w.gpg.genKey('dan@p.io', { encryptSubkey: false });
  await w.gpg.signKey(alice.fpr, dave);
  await w.gpg.signKey(bob.fpr, dave);
  const key = await w.gpg.exportPublic(dave);
  const sub = await w.deliver(await w.gpg.pgpMimeMessage(dave, { from: 'dan@p.io', to: BOT, subject: 'key' }, `SUBMIT KEY\nTo: ${BOT}\n\n${key}`, { crlf: true }));
  const reply = sub.mails.map((m) => m.raw.toString('latin1')).join('\n');
  const ticket = /Ticket: (\S+)/.exec(reply)?.[1];
  const digest = /Ticket-Digest: ([0-9a-f]{64})/.exec(reply)?.[1];
  if (!ticket || !digest) throw new Error(`no ticket in the reply to SUBMIT KEY (${sub.outcome})`);
  return { ticket, digest, dave };
}

/** Carol's revocation certificate, as gpg made it with her key (openpgp-revocs.d), armour unlocked. */
export function revocationOf(w: StateWorld, fpr: string): string {
  const rev = readFileSync(path.join(w.gpg.home, 'openpgp-revocs.d', `${fpr}.rev`), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN');
  return rev.slice(rev.indexOf('-----BEGIN'));
}

/** The status line of a bot mail's body (the mails are PGP/MIME: the first part holds it). */
export function statusOf(row: OutboxRow): string | null {
  return /^X-Ztrust-Status: (\S+)/mi.exec(row.raw.toString('latin1'))?.[1] ?? null;
}

export function removeStore(cfg: LoadedConfig): void {
  for (const s of ['', '-wal', '-shm']) rmSync(path.join(cfg.dataDir, `state.db${s}`), { force: true });
}
