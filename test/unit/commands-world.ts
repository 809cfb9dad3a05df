/**
 * A small community for command-handler tests: keys made at test time with
 * openpgp.js (fast), a collection on disk (the real Collection class, git
 * included), an in-memory SQLite store, the real Dispatcher and the real
 * apply step. Mail is built and signed here (PGP/MIME with attachments, or
 * inline); every reply is checked to be signed by the bot.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { applyChange, collectionOf, type ApplyOutcome } from '../../src/changes/apply.js';
import { applyAttestation } from '../../src/changes/attest-apply.js';
import { LogService } from '../../src/ledger/service.js';
import { generateLogKey } from '../../src/tlog/index.js';
import type { LogAppend } from '../../src/changes/types.js';
import { Collection } from '../../src/collection/collection.js';
import { Dispatcher } from '../../src/commands/dispatch.js';
import { defaultHandlers } from '../../src/commands/index.js';
import { parseConfig, cryptoPolicyOf, type LoadedConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { verifyMail } from '../../src/mail/verify-mail.js';
import { signerFromKey, type BotSigner } from '../../src/pgp/botkey.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { KnownKeys } from '../../src/pgp/known.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ChangeRow, OutboxRow } from '../../src/store/types.js';

export interface Person {
  name: string;
  email: string;
  key: openpgp.PrivateKey;
  fpr: string;
  pub: openpgp.PublicKey;
}

export async function person(name: string, email: string, opts: { date?: Date } = {}): Promise<Person> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email }], format: 'object', config: { v6Keys: false },
    ...(opts.date ? { date: opts.date } : {}),
  });
  return { name, email, key: privateKey, fpr: privateKey.getFingerprint().toUpperCase(), pub: privateKey.toPublic() };
}

/** `target` with certifications by each of `by` on all its user IDs. */
export async function certify(target: openpgp.PublicKey, by: Person[]): Promise<openpgp.PublicKey> {
  let k = target;
  for (const p of by) k = await k.signAllUsers([p.key], undefined, { ...openpgp.config });
  return k;
}

export interface Reply {
  row: OutboxRow;
  to: string[];
  subject: string;
  status: string;
  /** The signed text (verified against the bot key). */
  text: string;
  fields: Record<string, string>;
}

export interface Sent {
  outcome: string;
  /** The direct reply first, then notices, in outbox order. */
  replies: Reply[];
  key: string;
}

export interface Attachment { filename: string; contentType: string; content: string | Buffer }

export interface MailOptions {
  signing?: 'pgpmime' | 'inline' | 'none';
  subject?: string;
  messageId?: string;
  attachments?: Attachment[];
  from?: string;
  date?: Date;
  /** Sign with this key instead of the sender's. */
  signWith?: openpgp.PrivateKey;
}

const CRLF = '\r\n';

export class World {
  readonly store: SqliteStore;
  readonly bot: BotSigner;
  readonly botKeyring: Keyring;
  readonly known: KnownKeys;
  logAppend: LogAppend | null = null;
  /** The log the apply step appends to (withLog), also for ATTEST requests; null: no log. */
  log: LogService | null = null;
  now: () => Date = () => new Date();
  private seq = 0;

  private constructor(readonly dir: string, readonly cfg: LoadedConfig, bot: openpgp.PrivateKey) {
    this.store = SqliteStore.open(':memory:');
    this.bot = signerFromKey(bot);
    this.botKeyring = Keyring.fromKeys([bot.toPublic()]);
    this.known = new KnownKeys(cfg.dataDir);
  }

  static async create(opts: { maintainers?: string[]; threshold?: number; config?: Record<string, unknown> } = {}): Promise<World> {
    const dir = mkdtempSync(path.join(tmpdir(), 'zt-cmd-'));
    const cfg = parseConfig({
      bot: { address: 'bot@ztrust.test', name: 'ztrust-bot' },
      dataDir: dir,
      mailbox: { url: `maildir:${path.join(dir, 'inbox')}` },
      outbox: { url: `dir:${path.join(dir, 'outbox')}` },
      maintainers: opts.maintainers ?? [],
      threshold: opts.threshold ?? 2,
      ...(opts.config ?? {}),
    }, dir);
    const { privateKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'ztrust-bot', email: 'bot@ztrust.test' }], format: 'object', config: { v6Keys: false },
    });
    return new World(dir, cfg, privateKey);
  }

  get policy() {
    return cryptoPolicyOf(this.cfg);
  }

  async collection(): Promise<Collection> {
    return collectionOf(this.cfg);
  }

  /** Put keys into the collection directly (the seed, as `import` would). */
  async seed(keys: openpgp.PublicKey[], certs: { name: string; pem: Buffer; sig: string | null }[] = []): Promise<void> {
    const col = await this.collection();
    await col.apply(async (c) => {
      for (const k of keys) await c.putKey(k, 'public');
      for (const ct of certs) await c.putCert(ct.name, ct.pem, ct.sig);
    }, { message: 'seed', signer: async (d) => (await this.bot.signDetached(d)).armored });
  }

  async dispatcher(): Promise<Dispatcher> {
    const keyring = await this.known.get();
    return new Dispatcher({ config: this.cfg, store: this.store, signer: this.bot, keyring, policy: this.policy, logger: silentLogger }, defaultHandlers());
  }

  /** A message from `p` to the bot. */
  async mail(p: Person | null, body: string, o: MailOptions = {}): Promise<Buffer> {
    const id = o.messageId ?? `<${randomUUID()}@people.test>`;
    const from = o.from ?? (p ? `${p.name} <${p.email}>` : 'Anne Onymous <anne@people.test>');
    const head = [
      `From: ${from}`, 'To: bot@ztrust.test', `Subject: ${o.subject ?? 'request'}`,
      `Date: ${(o.date ?? new Date()).toUTCString()}`, `Message-ID: ${id}`, 'MIME-Version: 1.0',
    ];
    const signing = o.signing ?? (p ? 'pgpmime' : 'none');
    const key = o.signWith ?? p?.key;
    const text = body.replace(/\r?\n/g, CRLF);
    if (signing === 'none' || !key) {
      if (o.attachments?.length) {
        const b = `b-${randomBytes(6).toString('hex')}`;
        return Buffer.from(`${head.join(CRLF)}${CRLF}Content-Type: multipart/mixed; boundary="${b}"${CRLF}${CRLF}${mixedBody(b, text, o.attachments)}`, 'latin1');
      }
      return Buffer.from(`${head.join(CRLF)}${CRLF}Content-Type: text/plain; charset=us-ascii${CRLF}${CRLF}${text}`, 'latin1');
    }
    if (signing === 'inline') {
      if (o.attachments?.length) throw new Error('inline signing with attachments is not built here');
      const signed = await signerFromKey(key).signCleartext(body);
      return Buffer.from(`${head.join(CRLF)}${CRLF}Content-Type: text/plain; charset=us-ascii${CRLF}${CRLF}${signed.replace(/\r?\n/g, CRLF)}`, 'latin1');
    }
    // PGP/MIME: sign the first part's exact bytes (without the CRLF before the boundary).
    let inner: string;
    if (o.attachments?.length) {
      const b2 = `m-${randomBytes(6).toString('hex')}`;
      inner = `Content-Type: multipart/mixed; boundary="${b2}"${CRLF}${CRLF}${mixedBody(b2, text, o.attachments).replace(/\r\n$/, '')}`;
    } else {
      inner = `Content-Type: text/plain; charset=us-ascii${CRLF}Content-Transfer-Encoding: 7bit${CRLF}${CRLF}${text.replace(/\r\n$/, '')}`;
    }
    const { armored, hash } = await signerFromKey(key).signDetached(Buffer.from(inner, 'latin1'));
    const b = `s-${randomBytes(6).toString('hex')}`;
    const msg = `${head.join(CRLF)}${CRLF}Content-Type: multipart/signed; micalg=pgp-${hash}; protocol="application/pgp-signature"; boundary="${b}"${CRLF}${CRLF}` +
      `--${b}${CRLF}${inner}${CRLF}--${b}${CRLF}Content-Type: application/pgp-signature; name="signature.asc"${CRLF}${CRLF}` +
      `${armored.replace(/\r?\n/g, CRLF)}${CRLF}--${b}--${CRLF}`;
    return Buffer.from(msg, 'latin1');
  }

  /** Spool, dispatch and complete one message, as the inbound worker does; returns the outcome and parsed replies. */
  async send(raw: Buffer): Promise<Sent> {
    this.seq++;
    const key = `k${this.seq}-${randomBytes(4).toString('hex')}`;
    await this.store.spool({ key, mailbox: 'test', uidValidity: 1, uid: String(this.seq), messageId: null, raw, receivedAt: new Date().toISOString() });
    const row = (await this.store.getSpooled(key))!;
    const d = await this.dispatcher();
    const out = await d.processMessage(row);
    await this.store.complete(out.completion);
    const rows = (await this.store.listOutbox()).filter((r) => r.spoolKey === key)
      .sort((a, b) => Number(b.id.startsWith('reply:')) - Number(a.id.startsWith('reply:')));
    return { outcome: out.completion.outcome, replies: await Promise.all(rows.map((r) => this.parse(r))), key };
  }

  async parse(row: OutboxRow): Promise<Reply> {
    const v = await verifyMail(row.raw, this.botKeyring);
    assert.equal(v.verdict, 'good', `bot mail ${row.id} is not signed by the bot: ${v.detail}`);
    const text = v.signedText ?? '';
    const parsed = await simpleParser(row.raw);
    const fields: Record<string, string> = {};
    for (const line of text.split('\n')) {
      if (line === '') break;
      const m = /^([A-Za-z-]+): (.*)$/.exec(line);
      if (m) fields[m[1]] = m[2]!;
    }
    // Framed blocks (keys, ticket content, log entries and proofs) are kept byte for byte; everything else fits 72 columns.
    let framedBlock = false;
    for (const line of text.split('\n')) {
      if (/^-----BEGIN [A-Z ]+-----$/.test(line)) framedBlock = true;
      assert.ok(framedBlock || line.length <= 72 || /^((?:Ticket|Root)-Digest: | {2}|-----|[A-Za-z0-9+/=]+$)/.test(line), `line over 72 columns in ${row.id}: ${line}`);
      if (/^-----END [A-Z ]+-----$/.test(line)) framedBlock = false;
    }
    return { row, to: row.recipients, subject: parsed.subject ?? '', status: fields.Status ?? '', text, fields };
  }

  /** Run the apply step for every queued change, as the apply worker would; returns the new notices. */
  async applyAll(): Promise<{ outcomes: ApplyOutcome[]; notices: Reply[] }> {
    const outcomes: ApplyOutcome[] = [];
    const notices: Reply[] = [];
    for (const id of await this.store.pendingChanges()) {
      const deps = { config: this.cfg, store: this.store, signer: this.bot, policy: this.policy, logger: silentLogger, now: this.now };
      const log = this.log;
      const o = await applyChange(id, {
        ...deps, logAppend: this.logAppend,
        ...(log ? { applyAttestation: (row: ChangeRow) => applyAttestation(row, { ...deps, log: async () => log, keyring: () => this.known.get() }) } : {}),
      });
      outcomes.push(o);
      for (const oid of o.outboxIds) notices.push(await this.parse((await this.store.getOutbox(oid))!));
    }
    return { outcomes, notices };
  }
}

function mixedBody(b: string, text: string, atts: Attachment[]): string {
  let s = `--${b}${CRLF}Content-Type: text/plain; charset=us-ascii${CRLF}${CRLF}${text.endsWith(CRLF) ? text : text + CRLF}`;
  for (const a of atts) {
    const data = typeof a.content === 'string' ? Buffer.from(a.content, 'utf8') : a.content;
    s += `--${b}${CRLF}Content-Type: ${a.contentType}; name="${a.filename}"${CRLF}Content-Disposition: attachment; filename="${a.filename}"${CRLF}` +
      `Content-Transfer-Encoding: base64${CRLF}${CRLF}${(data.toString('base64').match(/.{1,76}/g) ?? []).join(CRLF)}${CRLF}`;
  }
  return `${s}--${b}--${CRLF}`;
}

/** A three-maintainer community (alice, bob, carol cross-certified) and the world around it. */
export async function community(opts: { threshold?: number; config?: Record<string, unknown>; maintainers?: (ps: Person[]) => string[] } = {}) {
  const [alice, bob, carol, stranger] = await Promise.all([
    person('Alice Mainframe', 'alice@people.test'), person('Bob Volunteer', 'bob@people.test'),
    person('Carol Sysprog', 'carol@people.test'), person('Sid Stranger', 'sid@elsewhere.test'),
  ]);
  const members = [alice, bob, carol];
  const w = await World.create({
    maintainers: opts.maintainers ? opts.maintainers(members) : members.map((p) => p.fpr),
    threshold: opts.threshold ?? 2,
    config: opts.config,
  });
  const seeded = [];
  for (const p of members) seeded.push(await certify(p.pub, members.filter((o) => o !== p)));
  await w.seed(seeded);
  return { w, alice: alice, bob: bob, carol: carol, stranger: stranger, members };
}

/** A newcomer certified by `by` (collection members, or the stranger). */
export async function newcomer(name: string, email: string, by: Person[]): Promise<Person & { certified: openpgp.PublicKey }> {
  const p = await person(name, email);
  return { ...p, certified: await certify(p.pub, by) };
}

/** Prose with line wrapping undone, for matching sentences. */
export function flat(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/**
 * The binding line every signed state-changing command carries directly
 * under the command (and its digest line, for APPROVE/REJECT in the
 * two-line form): the world's bot address.
 */
export const TO_BOT = 'To: bot@ztrust.test';

/**
 * Everything a refused command must leave alone: tickets with their votes,
 * change requests, the log's checkpoints and the collection's git history
 * and files. Compare two snapshots with deepEqual.
 */
export async function stateOf(w: World): Promise<unknown> {
  const tickets = await w.store.listTickets();
  const withVotes = await Promise.all(tickets.map(async (t) => ({ ...t, votes: await w.store.getVotes(t.id) })));
  const col = await w.collection();
  return {
    tickets: withVotes,
    changes: await w.store.listChanges(),
    checkpoints: await w.store.checkpointSizes(),
    head: (await col.git(['rev-parse', 'HEAD'])).trim(),
    files: (await col.git(['ls-files', '-s'])).trim(),
  };
}

/**
 * A community with a log: keys/log.key written as init does, the log opened
 * from the config (it writes log/log.vkey itself), and the world's apply
 * step appending to it, ATTEST included, as the worker's wiring does.
 */
export async function withLog(opts: Parameters<typeof community>[0] = {}) {
  const c = await community(opts);
  const k = generateLogKey(c.w.cfg.log.origin);
  mkdirSync(path.join(c.w.cfg.dataDir, 'keys'), { recursive: true });
  writeFileSync(path.join(c.w.cfg.dataDir, 'keys', 'log.key'), `${k.skey}\n`, { mode: 0o600 });
  const svc = await LogService.fromConfig(c.w.cfg, c.w.store, silentLogger);
  c.w.log = svc;
  c.w.logAppend = (entry, changeId) => svc.appendEntry(entry, `change:${changeId}`);
  return { ...c, svc, vkey: k.vkey };
}

/** A community with one pending ticket: Dave's key, certified by Alice and Bob, submitted (bound) by Dave. */
export async function pendingTicket(opts: Parameters<typeof community>[0] = {}) {
  const c = await community(opts);
  const dave = await newcomer('Dave Newcomer', 'dave@people.test', [c.alice, c.bob]);
  const opened = await c.w.send(await c.w.mail(dave, `SUBMIT KEY\n${TO_BOT}\n\n${dave.certified.armor()}`));
  const t = (await c.w.store.getTicket(opened.replies[0].fields.Ticket))!;
  return { ...c, dave, opened, t };
}
