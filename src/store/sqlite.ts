/**
 * SQLite backend of the state store (better-sqlite3, WAL). SQL is kept
 * portable (ON CONFLICT DO NOTHING, ISO-8601 text times, no SQLite-only
 * functions) so a PostgreSQL backend can share the schema.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { StoreError } from '../errors.js';
import { limitedOutcome, STORE_BOUNDS, type BudgetSpent } from '../limits.js';
import { BackgroundCheckpoints } from './checkpoints.js';
import { claimHeldByOther } from './claim.js';
import type {
  ChangeRow, ChangeState, Completion, CompletionResult, Cursor, EffectsResult, OutboxRecord, OutboxRow, ReplyBudget, SendClaim, SpoolRecord, SpoolRow,
  StateStore, SubscriberRow, SubscriptionTokenRow, StoreEffect, TicketRow, TicketState, VoteRecord,
} from './types.js';
import type { AttestationRecord, LogAppendRecord, LogIndexRows, RootApprovalRecord, RootDraftRow, RootDraftState, SourceVouchRecord, WatcherRow } from './types.js';

// 2: tickets, votes, change requests, counters (additive: version 1 stores are upgraded in place).
// 3: digest subscribers and subscription tokens (additive as well).
// 4: outbox.budget (reply budgets by signer or address); processed keys bound
//    to the content (see migrate()).
// 5: outbox.claimed_by/claimed_at (a row is sent only by the sender that
//    claimed it: src/store/claim.ts). An older version would not honour the
//    claims, so it refuses a store of this version.
const SCHEMA_VERSION = 5;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spool (
  key TEXT PRIMARY KEY, mailbox TEXT NOT NULL, uid_validity INTEGER NOT NULL, uid TEXT NOT NULL,
  message_id TEXT, raw BLOB NOT NULL, received_at TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued', outcome TEXT, sender TEXT, command TEXT, verdict TEXT, done_at TEXT);
CREATE INDEX IF NOT EXISTS spool_state ON spool(state);
CREATE TABLE IF NOT EXISTS processed (message_key TEXT PRIMARY KEY, spool_key TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (mailbox TEXT PRIMARY KEY, uid_validity INTEGER NOT NULL, last_uid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signatures (
  signature_id TEXT PRIMARY KEY, signer TEXT NOT NULL, command TEXT NOT NULL, spool_key TEXT NOT NULL, used_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY, spool_key TEXT, kind TEXT NOT NULL, envelope_from TEXT NOT NULL, recipients TEXT NOT NULL,
  message_id TEXT NOT NULL, raw BLOB NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT, budget TEXT);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status);
CREATE TABLE IF NOT EXISTS outbox_recipients (outbox_id TEXT NOT NULL, address TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_recipients_addr ON outbox_recipients(address, created_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reply_counts (budget TEXT NOT NULL, minute TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (budget, minute));
CREATE INDEX IF NOT EXISTS reply_counts_minute ON reply_counts(minute);
CREATE TABLE IF NOT EXISTS tickets (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL, submitter TEXT NOT NULL, requester TEXT NOT NULL,
  parent_message_id TEXT, source_digest TEXT NOT NULL, content TEXT NOT NULL, digest TEXT NOT NULL, payload TEXT NOT NULL,
  state TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, closed_reason TEXT, spool_key TEXT);
CREATE INDEX IF NOT EXISTS tickets_state ON tickets(state, expires_at);
CREATE INDEX IF NOT EXISTS tickets_subject ON tickets(subject);
CREATE TABLE IF NOT EXISTS votes (
  ticket_id TEXT NOT NULL, voter TEXT NOT NULL, vote TEXT NOT NULL, digest TEXT NOT NULL, reason TEXT, spool_key TEXT,
  at TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (ticket_id, voter));
CREATE TABLE IF NOT EXISTS changes (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, ticket_id TEXT, subject TEXT NOT NULL, payload TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued', requester TEXT, parent_message_id TEXT, source_digest TEXT NOT NULL,
  signers TEXT NOT NULL, approvers TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  commit_id TEXT, log_index INTEGER, error TEXT, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changes_state ON changes(state);
CREATE INDEX IF NOT EXISTS changes_ticket ON changes(ticket_id);
CREATE TABLE IF NOT EXISTS log_appends (
  key TEXT PRIMARY KEY, from_index INTEGER NOT NULL, count INTEGER NOT NULL, entries_digest TEXT NOT NULL,
  state TEXT NOT NULL, created_at TEXT NOT NULL, done_at TEXT);
CREATE INDEX IF NOT EXISTS log_appends_state ON log_appends(state);
CREATE TABLE IF NOT EXISTS attestations (
  log_index INTEGER PRIMARY KEY, digest TEXT NOT NULL, name TEXT NOT NULL, signer TEXT NOT NULL, source TEXT NOT NULL,
  time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attestations_digest ON attestations(digest, log_index);
CREATE TABLE IF NOT EXISTS source_vouches (
  log_index INTEGER NOT NULL, release TEXT NOT NULL, release_lc TEXT NOT NULL, package TEXT NOT NULL, fingerprint TEXT NOT NULL,
  voucher TEXT NOT NULL, ticket TEXT NOT NULL, time TEXT NOT NULL, type TEXT NOT NULL, PRIMARY KEY (log_index, release_lc));
CREATE INDEX IF NOT EXISTS source_vouches_release ON source_vouches(release_lc, log_index);
CREATE INDEX IF NOT EXISTS source_vouches_key ON source_vouches(fingerprint, log_index);
CREATE TABLE IF NOT EXISTS root_drafts (
  version INTEGER NOT NULL, digest TEXT NOT NULL, text TEXT NOT NULL, proposer TEXT NOT NULL, state TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (version, digest));
CREATE TABLE IF NOT EXISTS root_approvals (
  version INTEGER NOT NULL, digest TEXT NOT NULL, fingerprint TEXT NOT NULL, cleartext TEXT, data BLOB, signature BLOB,
  key TEXT NOT NULL, spool_key TEXT, at TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (version, digest, fingerprint));
CREATE TABLE IF NOT EXISTS watchers (
  fingerprint TEXT NOT NULL, address TEXT NOT NULL, since INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (fingerprint, address));
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscribers (address TEXT PRIMARY KEY, subscribed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscription_tokens (
  token_hash TEXT PRIMARY KEY, address TEXT NOT NULL, action TEXT NOT NULL, created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL, used_at TEXT, spool_key TEXT);
CREATE INDEX IF NOT EXISTS subscription_tokens_address ON subscription_tokens(address, used_at);
`;

interface SpoolDbRow {
  key: string; mailbox: string; uid_validity: number; uid: string; message_id: string | null; raw: Buffer;
  received_at: string; state: 'queued' | 'done'; outcome: string | null; declared_size: number | null;
}
interface TicketDbRow {
  id: string; kind: TicketRow['kind']; subject: string; submitter: string; requester: string; parent_message_id: string | null;
  source_digest: string; content: string; digest: string; payload: string; state: TicketState; version: number;
  created_at: string; expires_at: string; updated_at: string; closed_reason: string | null; spool_key: string | null;
}
interface VoteDbRow {
  ticket_id: string; voter: string; vote: VoteRecord['vote']; digest: string; reason: string | null; spool_key: string | null; at: string;
}
interface ChangeDbRow {
  id: string; kind: ChangeRow['kind']; ticket_id: string | null; subject: string; payload: string; state: ChangeState;
  requester: string | null; parent_message_id: string | null; source_digest: string; signers: string; approvers: string;
  created_at: string; updated_at: string; commit_id: string | null; log_index: number | null; error: string | null;
}
interface SourceVouchDbRow {
  log_index: number; release: string; package: string; fingerprint: string; voucher: string; ticket: string; time: string;
  type: SourceVouchRecord['type'];
}
interface RootDraftDbRow {
  version: number; digest: string; text: string; proposer: string; state: RootDraftState; created_at: string; updated_at: string;
}
interface RootApprovalDbRow {
  version: number; digest: string; fingerprint: string; cleartext: string | null; data: Buffer | null; signature: Buffer | null;
  key: string; spool_key: string | null; at: string;
}
const toRootDraft = (r: RootDraftDbRow): RootDraftRow => ({
  version: r.version, digest: r.digest, text: r.text, proposer: r.proposer, state: r.state, createdAt: r.created_at, updatedAt: r.updated_at,
});
interface OutboxDbRow {
  id: string; spool_key: string | null; kind: OutboxRecord['kind']; envelope_from: string; recipients: string;
  message_id: string; raw: Buffer; status: OutboxRow['status']; attempts: number; last_error: string | null;
  created_at: string; sent_at: string | null; budget: string | null; claimed_by: string | null; claimed_at: string | null;
}

const now = (): string => new Date().toISOString();

/** The reply_counts row that tallies every reply (budget keys are `key:` or `addr:`, never empty). */
const GLOBAL_TALLY = '';

/** 'YYYY-MM-DDTHH:MM' of the first whole minute after an ISO-8601 instant. */
function nextMinute(iso: string): string {
  const t = Date.parse(iso);
  return new Date(Math.floor(t / 60_000) * 60_000 + 60_000).toISOString().slice(0, 16);
}

/**
 * Replies charged to a budget since @since (StateStore.replyBudgetSpent):
 * the tallies of the whole minutes from @next on, and the outbox rows of
 * the part of the first minute after @since. One statement for the
 * sender's budget and the global one: it runs twice for every reply (in
 * the dispatcher, and again under the write lock), and four statements
 * each time cost a tenth of a millisecond.
 */
const SENDER_REPLIES = `(SELECT COALESCE(SUM(n), 0) FROM reply_counts WHERE budget = @key AND minute >= @next)
  + (SELECT COUNT(*) FROM outbox WHERE budget = @key AND kind = 'reply' AND created_at >= @since AND created_at < @edgeEnd)`;
const GLOBAL_REPLIES = `(SELECT COALESCE(SUM(n), 0) FROM reply_counts WHERE budget = @global AND minute >= @next)
  + (SELECT COUNT(*) FROM outbox WHERE kind = 'reply' AND created_at >= @since AND created_at < @edgeEnd)`;
const SENDER_AND_GLOBAL_REPLIES = `SELECT ${SENDER_REPLIES} AS sender, ${GLOBAL_REPLIES} AS global`;
const SENDER_ONLY_REPLIES = `SELECT ${SENDER_REPLIES} AS sender`;

/**
 * Columns added to existing tables after their first release. Each is
 * nullable and added only when missing, so the same code creates a new
 * state.db and upgrades an old one in place, whatever its schema_version
 * (no version bump: these need no data rewrite).
 */
/**
 * Columns added after a state.db may already exist: added in place when
 * missing, with the statement that fills them for old rows (if any).
 */
const ADDED_COLUMNS: { table: string; column: string; type: string; backfill?: string }[] = [
  // The declared size of an oversize message of which only the header section was fetched.
  { table: 'spool', column: 'declared_size', type: 'INTEGER' },
  // Whose reply budget a reply spent; replies made before the upgrade stay
  // charged to their recipient's address.
  { table: 'outbox', column: 'budget', type: 'TEXT',
    backfill: `UPDATE outbox SET budget = 'addr:' || (SELECT address FROM outbox_recipients WHERE outbox_id = outbox.id LIMIT 1)
      WHERE kind = 'reply'` },
  // Which sender claimed a row being sent, and when (src/store/claim.ts).
  { table: 'outbox', column: 'claimed_by', type: 'TEXT' },
  { table: 'outbox', column: 'claimed_at', type: 'TEXT' },
];

export class SqliteStore implements StateStore {
  readonly db: Database.Database;

  /**
   * Prepared statements by their SQL text. Compiling a statement costs more
   * than running most of these queries, and every message runs a dozen of
   * them; the set of SQL texts is fixed by this file, so the cache is bounded.
   * (No statement here uses pluck/raw/expand, which would change a cached
   * statement for its next user.)
   */
  private readonly statements = new Map<string, Database.Statement>();
  private tallyPrunedAt = 0;
  private checkpoints: BackgroundCheckpoints | null = null;
  private closing: Promise<void> | null = null;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  /** Open (and create or migrate) `<dataDir>/state.db`, or ':memory:'. */
  static open(file: string): SqliteStore {
    let db: Database.Database;
    try {
      if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
      db = new Database(file);
    } catch (err) {
      throw new StoreError('STORE_OPEN', `cannot open state store ${file}: ${(err as Error).message}`, { cause: err });
    }
    // WAL lets the CLI read while the worker writes. synchronous=NORMAL: in
    // WAL mode a commit survives any crash of this process (SIGKILL included)
    // because it is in the OS page cache; only a power cut can roll back the
    // last commits, and then they roll back in order (a cursor never gets
    // ahead of the spool it covers). FULL would fsync on every commit and
    // widen the window between an SMTP "250 OK" and the row marked sent.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.exec(SCHEMA);
    const row = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as { value: string } | undefined;
    if (!row) {
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
    } else if (Number(row.value) > SCHEMA_VERSION) {
      db.close();
      throw new StoreError('STORE_SCHEMA', `state store ${file} has schema ${row.value}, newer than this version (${SCHEMA_VERSION})`);
    } else if (Number(row.value) < SCHEMA_VERSION) {
      // Every change so far is additive (CREATE ... IF NOT EXISTS above, and migrate()).
      db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(String(SCHEMA_VERSION), 'schema_version');
    }
    migrate(db);
    return new SqliteStore(db);
  }

  async spool(rec: SpoolRecord): Promise<boolean> {
    return this.spoolOne(rec);
  }

  async spoolBatch(recs: readonly SpoolRecord[]): Promise<boolean[]> {
    if (recs.length === 0) return [];
    if (recs.length === 1) return [this.spoolOne(recs[0])];
    return this.db.transaction((): boolean[] => recs.map((r) => this.spoolOne(r))).immediate();
  }

  private spoolOne(rec: SpoolRecord): boolean {
    const r = this.sql(`INSERT INTO spool (key, mailbox, uid_validity, uid, message_id, raw, received_at, declared_size)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`)
      .run(rec.key, rec.mailbox, rec.uidValidity, rec.uid, rec.messageId, rec.raw, rec.receivedAt, rec.declaredSize ?? null);
    return r.changes === 1;
  }

  async spoolIgnored(recs: readonly Omit<SpoolRecord, 'raw' | 'declaredSize'>[], outcome: string): Promise<string[]> {
    const ins = this.sql(`INSERT INTO spool (key, mailbox, uid_validity, uid, message_id, raw, received_at, state, outcome, done_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'done', ?, ?) ON CONFLICT (key) DO NOTHING`);
    const empty = Buffer.alloc(0);
    return this.db.transaction((): string[] => {
      const at = now();
      return recs.filter((r) => ins.run(r.key, r.mailbox, r.uidValidity, r.uid, r.messageId, empty, r.receivedAt, outcome, at).changes === 1).map((r) => r.key);
    }).immediate();
  }

  async getSpooled(key: string): Promise<SpoolRow | undefined> {
    const r = this.sql('SELECT * FROM spool WHERE key = ?').get(key) as SpoolDbRow | undefined;
    if (!r) return undefined;
    return {
      key: r.key, mailbox: r.mailbox, uidValidity: r.uid_validity, uid: r.uid, messageId: r.message_id,
      raw: r.raw, receivedAt: r.received_at, state: r.state, outcome: r.outcome, declaredSize: r.declared_size,
    };
  }

  async spoolStates(keys: readonly string[]): Promise<Map<string, SpoolRow['state']>> {
    if (!keys.length) return new Map();
    // One statement for the batch; the key list goes in as one JSON
    // parameter (no statement text built from input, no variable limit).
    const rows = this.sql('SELECT key, state FROM spool WHERE key IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(keys)) as { key: string; state: SpoolRow['state'] }[];
    return new Map(rows.map((r) => [r.key, r.state]));
  }

  async pendingSpool(): Promise<string[]> {
    return (this.sql("SELECT key FROM spool WHERE state = 'queued' ORDER BY received_at, key").all() as { key: string }[])
      .map((r) => r.key);
  }

  async isProcessed(messageKey: string): Promise<boolean> {
    return this.sql('SELECT 1 FROM processed WHERE message_key = ?').get(messageKey) !== undefined;
  }

  async isSignatureUsed(signatureId: string): Promise<boolean> {
    return this.sql('SELECT 1 FROM signatures WHERE signature_id = ?').get(signatureId) !== undefined;
  }

  private insertOutbox(rows: OutboxRecord[], at: string): void {
    const ins = this.sql(`INSERT INTO outbox (id, spool_key, kind, envelope_from, recipients, message_id, raw, created_at, budget)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`);
    const rcpt = this.sql('INSERT INTO outbox_recipients (outbox_id, address, created_at) VALUES (?, ?, ?)');
    for (const o of rows) {
      const r = ins.run(o.id, o.spoolKey, o.kind, o.envelopeFrom, JSON.stringify(o.recipients), o.messageId, o.raw, at, o.budget ?? null);
      if (r.changes !== 1) continue;
      for (const a of o.recipients) rcpt.run(o.id, a.toLowerCase(), at);
      if (o.kind === 'reply') this.tallyReply(o.budget ?? null, at);
    }
  }

  async complete(c: Completion): Promise<CompletionResult> {
    const tx = this.db.transaction((): CompletionResult => {
      const at = now();
      const s = this.sql('SELECT state FROM spool WHERE key = ?').get(c.spoolKey) as { state: string } | undefined;
      if (s && s.state === 'done') return { applied: false, reason: 'already-done', outboxIds: [] };
      // A duplicate needs the same Message-ID AND the same content (the
      // keys carry both): either key seen before makes one.
      const keys = [c.messageKey, ...(c.contentKey ? [c.contentKey] : [])];
      const seen = this.sql('SELECT 1 FROM processed WHERE message_key = ?');
      const markDone = this.sql(`UPDATE spool SET state = 'done', outcome = ?, sender = ?, command = ?, verdict = ?, done_at = ? WHERE key = ?`);
      if (keys.some((k) => seen.get(k) !== undefined)) {
        markDone.run('duplicate', c.sender, c.command, c.verdict, at, c.spoolKey);
        return { applied: false, reason: 'duplicate-message', outboxIds: [] };
      }
      const processed = this.sql('INSERT INTO processed (message_key, spool_key, at) VALUES (?, ?, ?) ON CONFLICT (message_key) DO NOTHING');
      for (const k of keys) processed.run(k, c.spoolKey, at);
      // The budget is checked again here, under the write lock: messages
      // processed at the same time cannot all take the last reply.
      let outbox = c.outbox;
      let outcome = c.outcome;
      const spent = c.replyBudget && outbox.some((o) => o.budget) ? this.budgetSpent(c.replyBudget) : null;
      if (spent) {
        outbox = outbox.filter((o) => !o.budget);
        outcome = limitedOutcome(spent, outcome);
      }
      const sig = this.sql('INSERT INTO signatures (signature_id, signer, command, spool_key, used_at) VALUES (?, ?, ?, ?, ?)');
      for (const u of c.signatures) {
        try {
          sig.run(u.signatureId, u.signer, u.command, u.spoolKey, at);
        } catch (err) {
          throw new StoreError('STORE_CONFLICT', `signature ${u.signatureId} was already used`, { cause: err });
        }
      }
      const changeIds = this.runEffects(c.effects ?? [], at);
      this.insertOutbox(outbox, at);
      markDone.run(outcome, c.sender, c.command, c.verdict, at, c.spoolKey);
      return { applied: true, outboxIds: outbox.map((o) => o.id), changeIds, ...(spent ? { rateLimited: spent } : {}) };
    });
    return tx.immediate();
  }

  async getCursor(mailbox: string): Promise<Cursor | undefined> {
    const r = this.sql('SELECT uid_validity, last_uid FROM cursors WHERE mailbox = ?').get(mailbox) as
      { uid_validity: number; last_uid: number } | undefined;
    return r ? { uidValidity: r.uid_validity, lastUid: r.last_uid } : undefined;
  }

  async setCursor(mailbox: string, cursor: Cursor): Promise<void> {
    this.sql(`INSERT INTO cursors (mailbox, uid_validity, last_uid) VALUES (?, ?, ?)
      ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid`)
      .run(mailbox, cursor.uidValidity, cursor.lastUid);
  }

  async addOutbox(rows: OutboxRecord[]): Promise<void> {
    this.db.transaction(() => this.insertOutbox(rows, now()))();
  }

  async getOutbox(id: string): Promise<OutboxRow | undefined> {
    const r = this.sql('SELECT * FROM outbox WHERE id = ?').get(id) as OutboxDbRow | undefined;
    return r ? toOutboxRow(r) : undefined;
  }

  async claimSending(id: string, sender: string): Promise<SendClaim> {
    const claim = (only: string) => this.sql(`UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_by = ?, claimed_at = ?
      WHERE id = ?${only} RETURNING *`).get(sender, now(), id) as OutboxDbRow | undefined;
    // A pending row, the usual case: one statement, atomic on its own.
    const claimed = claim(" AND status = 'pending'");
    if (claimed) return { row: toOutboxRow(claimed) };
    // Any other: IMMEDIATE, so the write lock is taken before the row is
    // read, and a second process's claim waits for this one and then sees it.
    return this.db.transaction((): SendClaim => {
      const r = this.sql('SELECT status, claimed_by, claimed_at FROM outbox WHERE id = ?').get(id) as Pick<OutboxDbRow, 'status' | 'claimed_by' | 'claimed_at'> | undefined;
      if (!r) return { refused: 'missing' };
      if (r.status === 'sent' || r.status === 'dead') return { refused: r.status };
      if (r.status === 'sending' && claimHeldByOther(r.claimed_by, r.claimed_at, sender, Date.now())) return { refused: 'held', by: r.claimed_by! };
      return { row: toOutboxRow(claim('')!) };
    }).immediate();
  }

  async markSent(id: string): Promise<void> {
    this.sql(`UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?`).run(now(), id);
  }

  async markFailed(id: string, error: string, dead: boolean): Promise<void> {
    this.sql(`UPDATE outbox SET status = ?, last_error = ? WHERE id = ? AND status <> 'sent'`)
      .run(dead ? 'dead' : 'pending', error.slice(0, 1000), id);
  }

  async pendingOutbox(spoolKey?: string): Promise<string[]> {
    const rows = spoolKey === undefined
      ? this.sql("SELECT id FROM outbox WHERE status IN ('pending', 'sending') ORDER BY created_at, id").all()
      : this.sql("SELECT id FROM outbox WHERE spool_key = ? AND status IN ('pending', 'sending') ORDER BY created_at, id").all(spoolKey);
    return (rows as { id: string }[]).map((r) => r.id);
  }

  async countRepliesTo(address: string, sinceIso: string): Promise<number> {
    // Only direct replies count: digests and notices a maintainer receives
    // must not use up the replies to that maintainer's own requests.
    const r = this.sql(`SELECT COUNT(*) AS n FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox_id
      WHERE r.address = ? AND r.created_at >= ? AND o.kind = 'reply'`)
      .get(address.toLowerCase(), sinceIso) as { n: number };
    return r.n;
  }

  async replyBudgetSpent(b: ReplyBudget): Promise<BudgetSpent | null> {
    return this.budgetSpent(b);
  }

  /**
   * Replies charged since `b.since`, counted without walking them: whole
   * minutes from the per-minute tallies (reply_counts, kept by insertOutbox
   * in the same transaction as the rows), and the part of the first minute
   * after `since` from the outbox rows themselves, so the count is exact.
   * A plain COUNT over the hour walked every reply of the hour for every
   * message: quadratic in a backlog of thousands of signed requests.
   */
  private budgetSpent(b: ReplyBudget): BudgetSpent | null {
    const next = nextMinute(b.since);
    const span = { key: b.key, since: b.since, next, edgeEnd: `${next}:00.000Z` };
    if (b.globalPerHour === null) {
      return (this.sql(SENDER_ONLY_REPLIES).get(span) as { sender: number }).sender >= b.perHour ? 'sender' : null;
    }
    const n = this.sql(SENDER_AND_GLOBAL_REPLIES).get({ ...span, global: GLOBAL_TALLY }) as { sender: number; global: number };
    if (n.sender >= b.perHour) return 'sender';
    return n.global >= b.globalPerHour ? 'global' : null;
  }

  /** Add an inserted reply to the tallies; tallies older than two hours are dropped now and then. */
  private tallyReply(budget: string | null, at: string): void {
    const up = this.sql('INSERT INTO reply_counts (budget, minute, n) VALUES (?, ?, 1) ON CONFLICT (budget, minute) DO UPDATE SET n = n + 1');
    const minute = at.slice(0, 16);
    up.run(GLOBAL_TALLY, minute);
    if (budget) up.run(budget, minute);
    const t = Date.parse(at);
    if (t - this.tallyPrunedAt > 600_000) {
      this.sql('DELETE FROM reply_counts WHERE minute < ?').run(new Date(t - 2 * 3600_000).toISOString().slice(0, 16));
      this.tallyPrunedAt = t;
    }
  }

  async listOutbox(): Promise<OutboxRow[]> {
    return (this.sql('SELECT * FROM outbox ORDER BY created_at, id').all() as OutboxDbRow[]).map(toOutboxRow);
  }

  // ------------------------------------------------------------ tickets and changes

  /** Runs inside a transaction; throws STORE_CONFLICT to abort it. Returns the ids of created changes. */
  private runEffects(effects: StoreEffect[], at: string): string[] {
    const created: string[] = [];
    for (const e of effects) {
      switch (e.kind) {
        case 'ticket-create': {
          const t = e.ticket;
          const r = this.sql(`INSERT INTO tickets (id, kind, subject, submitter, requester, parent_message_id, source_digest,
              content, digest, payload, state, version, created_at, expires_at, updated_at, closed_reason, spool_key)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, NULL, ?) ON CONFLICT (id) DO NOTHING`)
            .run(t.id, t.kind, t.subject, t.submitter, t.requester, t.parentMessageId, t.sourceDigest, t.content, t.digest, t.payload,
              t.createdAt, t.expiresAt, at, t.spoolKey);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `ticket ${t.id} already exists`);
          break;
        }
        case 'ticket-update': {
          // Compare-and-set on the version and state the machine decided on
          // (tickets/ticket.ts transition()): two approvals processed at once
          // cannot both miss the threshold, and a stale decision writes nothing.
          const r = this.sql(`UPDATE tickets SET version = version + 1, updated_at = ?,
              state = COALESCE(?, state), closed_reason = COALESCE(?, closed_reason)
            WHERE id = ? AND version = ? AND state = ?`)
            .run(at, e.state ?? null, e.closedReason ?? null, e.ticketId, e.expectVersion, e.from);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `ticket ${e.ticketId} changed since version ${e.expectVersion} (${e.from})`);
          if (e.vote) {
            const v = e.vote;
            if (v.ticketId !== e.ticketId) throw new StoreError('STORE_CONFLICT', `vote for ${v.ticketId} inside an update of ${e.ticketId}`);
            this.sql(`INSERT INTO votes (ticket_id, voter, vote, digest, reason, spool_key, at, seq)
                VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM votes))
              ON CONFLICT (ticket_id, voter) DO UPDATE SET vote = excluded.vote, digest = excluded.digest, reason = excluded.reason,
                spool_key = excluded.spool_key, at = excluded.at, seq = excluded.seq`)
              .run(v.ticketId, v.voter, v.vote, v.digest, v.reason, v.spoolKey, v.at);
          }
          break;
        }
        case 'change-create': {
          const c = e.change;
          const r = this.sql(`INSERT INTO changes (id, kind, ticket_id, subject, payload, state, requester, parent_message_id,
              source_digest, signers, approvers, created_at, updated_at, seq)
            VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes))
            ON CONFLICT (id) DO NOTHING`)
            .run(c.id, c.kind, c.ticketId, c.subject, c.payload, c.requester, c.parentMessageId, c.sourceDigest,
              JSON.stringify(c.signers), JSON.stringify(c.approvers), c.createdAt, at);
          if (r.changes === 1) created.push(c.id);
          break;
        }
        case 'change-finish': {
          const r = this.sql(`UPDATE changes SET state = ?, commit_id = ?, log_index = COALESCE(?, log_index), error = ?, updated_at = ?
            WHERE id = ? AND state = 'queued'`)
            .run(e.state, e.commit, e.logIndex, e.error, at, e.changeId);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `change ${e.changeId} is not queued`);
          break;
        }
        case 'root-draft': {
          const d = e.draft;
          // One pending draft per version: a new one (another proposal) supersedes it, and its approvals no longer count.
          this.sql(`UPDATE root_drafts SET state = 'superseded', updated_at = ? WHERE version = ? AND state = 'pending' AND digest <> ?`)
            .run(at, d.version, d.digest);
          const r = this.sql(`INSERT INTO root_drafts (version, digest, text, proposer, state, created_at, updated_at)
            VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (version, digest) DO NOTHING`)
            .run(d.version, d.digest, d.text, d.proposer, d.createdAt, at);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `root draft ${d.version} ${d.digest} already exists`);
          break;
        }
        case 'root-approval': {
          const a = e.approval;
          const pending = this.sql(`SELECT 1 FROM root_drafts WHERE version = ? AND digest = ? AND state = 'pending'`).get(a.version, a.digest);
          if (!pending) throw new StoreError('STORE_CONFLICT', `root draft ${a.version} ${a.digest} is not pending`);
          // Compare-and-set on the approvals the handler counted (see the effect's type).
          const others = (this.sql('SELECT fingerprint FROM root_approvals WHERE version = ? AND digest = ?').all(a.version, a.digest) as { fingerprint: string }[])
            .map((r) => r.fingerprint).filter((f) => f !== a.fingerprint).sort();
          if (others.join(',') !== [...e.others].sort().join(',')) {
            throw new StoreError('STORE_CONFLICT', `the approvals of root draft ${a.version} changed while this one was decided`);
          }
          this.sql(`INSERT INTO root_approvals (version, digest, fingerprint, cleartext, data, signature, key, spool_key, at, seq)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM root_approvals))
            ON CONFLICT (version, digest, fingerprint) DO UPDATE SET cleartext = excluded.cleartext, data = excluded.data,
              signature = excluded.signature, key = excluded.key, spool_key = excluded.spool_key, at = excluded.at, seq = excluded.seq`)
            .run(a.version, a.digest, a.fingerprint, a.cleartext, a.data, a.signature, a.key, a.spoolKey, a.at);
          break;
        }
        case 'root-draft-state': {
          const r = this.sql(`UPDATE root_drafts SET state = ?, updated_at = ? WHERE version = ? AND digest = ? AND state = ?`)
            .run(e.to, at, e.version, e.digest, e.from);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `root draft ${e.version} is not ${e.from}`);
          break;
        }
        case 'watch': {
          const x = e.watcher;
          this.sql(`INSERT INTO watchers (fingerprint, address, since, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (fingerprint, address) DO NOTHING`)
            .run(x.fingerprint.toUpperCase(), x.address.toLowerCase(), x.since, x.createdAt);
          break;
        }
        case 'unwatch':
          this.sql('DELETE FROM watchers WHERE fingerprint = ? AND address = ?').run(e.fingerprint.toUpperCase(), e.address.toLowerCase());
          break;
        case 'subscription-token': {
          const t = e.token;
          const r = this.sql(`INSERT INTO subscription_tokens (token_hash, address, action, created_at, expires_at, used_at, spool_key)
            VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (token_hash) DO NOTHING`)
            .run(t.tokenHash, t.address.toLowerCase(), t.action, t.createdAt, t.expiresAt, t.spoolKey);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', 'subscription token already recorded');
          break;
        }
        case 'subscription-confirm': {
          // Single use, decided here under the transaction: two CONFIRMs of
          // one token processed at once cannot both succeed.
          const r = this.sql(`UPDATE subscription_tokens SET used_at = ?
            WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`).run(e.at, e.tokenHash, e.at);
          if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', 'subscription token unknown, used or expired');
          const t = this.sql('SELECT address, action FROM subscription_tokens WHERE token_hash = ?').get(e.tokenHash) as
            { address: string; action: string };
          this.sql('UPDATE subscription_tokens SET used_at = ? WHERE address = ? AND used_at IS NULL').run(e.at, t.address);
          if (t.action === 'subscribe') {
            this.sql('INSERT INTO subscribers (address, subscribed_at) VALUES (?, ?) ON CONFLICT (address) DO NOTHING').run(t.address, e.at);
          } else {
            this.sql('DELETE FROM subscribers WHERE address = ?').run(t.address);
          }
          break;
        }
      }
    }
    return created;
  }

  async commitEffects(effects: StoreEffect[], outbox: OutboxRecord[]): Promise<EffectsResult> {
    const tx = this.db.transaction((): EffectsResult => {
      const at = now();
      const changeIds = this.runEffects(effects, at);
      this.insertOutbox(outbox, at);
      return { changeIds, outboxIds: outbox.map((o) => o.id) };
    });
    return tx.immediate();
  }

  async nextTicketNumber(): Promise<number> {
    const r = this.sql(`INSERT INTO counters (name, value) VALUES ('ticket', 1)
      ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`).get() as { value: number };
    return r.value;
  }

  async getTicket(id: string): Promise<TicketRow | undefined> {
    const r = this.sql('SELECT * FROM tickets WHERE id = ?').get(id) as TicketDbRow | undefined;
    return r ? toTicketRow(r) : undefined;
  }

  async listTickets(opts: { states?: TicketState[] } = {}): Promise<TicketRow[]> {
    const rows = this.sql('SELECT * FROM tickets ORDER BY created_at DESC, id DESC').all() as TicketDbRow[];
    const states = opts.states ? new Set(opts.states) : null;
    return rows.filter((r) => !states || states.has(r.state)).map(toTicketRow);
  }

  async openTicketsFor(subject: string): Promise<TicketRow[]> {
    return (this.sql("SELECT * FROM tickets WHERE subject = ? AND state IN ('pending', 'approved') ORDER BY created_at, id")
      .all(subject) as TicketDbRow[]).map(toTicketRow);
  }

  async getVotes(ticketId: string): Promise<VoteRecord[]> {
    return (this.sql('SELECT * FROM votes WHERE ticket_id = ? ORDER BY seq').all(ticketId) as VoteDbRow[]).map((v) => ({
      ticketId: v.ticket_id, voter: v.voter, vote: v.vote, digest: v.digest, reason: v.reason, spoolKey: v.spool_key, at: v.at,
    }));
  }

  async getChange(id: string): Promise<ChangeRow | undefined> {
    const r = this.sql('SELECT * FROM changes WHERE id = ?').get(id) as ChangeDbRow | undefined;
    return r ? toChangeRow(r) : undefined;
  }

  async listChanges(opts: { ticketId?: string; states?: ChangeState[] } = {}): Promise<ChangeRow[]> {
    const rows = (opts.ticketId !== undefined
      ? this.sql('SELECT * FROM changes WHERE ticket_id = ? ORDER BY seq').all(opts.ticketId)
      : this.sql('SELECT * FROM changes ORDER BY seq').all()) as ChangeDbRow[];
    const states = opts.states ? new Set(opts.states) : null;
    return rows.filter((r) => !states || states.has(r.state)).map(toChangeRow);
  }

  async pendingChanges(): Promise<string[]> {
    return (this.sql("SELECT id FROM changes WHERE state = 'queued' ORDER BY seq").all() as { id: string }[]).map((r) => r.id);
  }

  async setChangeLogIndex(id: string, logIndex: number): Promise<void> {
    this.sql("UPDATE changes SET log_index = ?, updated_at = ? WHERE id = ? AND state = 'queued'").run(logIndex, now(), id);
  }

  // ------------------------------------------------------------ transparency log index

  async beginLogAppend(rec: Omit<LogAppendRecord, 'state' | 'createdAt'>): Promise<void> {
    const r = this.sql(`INSERT INTO log_appends (key, from_index, count, entries_digest, state, created_at)
      VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (key) DO NOTHING`)
      .run(rec.key, rec.fromIndex, rec.count, rec.entriesDigest, now());
    if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `log append ${rec.key} is already recorded`);
  }

  async finishLogAppend(key: string, done: LogIndexRows & { checkpoint: { size: number; note: string } }): Promise<void> {
    const tx = this.db.transaction(() => {
      const at = now();
      const r = this.sql(`UPDATE log_appends SET state = 'done', done_at = ? WHERE key = ? AND state = 'pending'`).run(at, key);
      if (r.changes !== 1) throw new StoreError('STORE_CONFLICT', `log append ${key} is not pending`);
      const ins = this.sql(`INSERT INTO attestations (log_index, digest, name, signer, source, time) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (log_index) DO NOTHING`);
      for (const a of done.attestations) ins.run(a.logIndex, a.digest, a.name, a.signer, a.source, a.time);
      const vouch = this.sql(`INSERT INTO source_vouches (log_index, release, release_lc, package, fingerprint, voucher, ticket, time, type)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (log_index, release_lc) DO NOTHING`);
      for (const v of done.sourceVouches ?? []) {
        vouch.run(v.logIndex, v.release, v.release.toLowerCase(), v.package, v.fingerprint, v.voucher, v.ticket, v.time, v.type);
      }
      this.sql('INSERT INTO checkpoints (size, note, recorded_at) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING')
        .run(done.checkpoint.size, done.checkpoint.note, at);
    });
    tx.immediate();
  }

  async abandonLogAppend(key: string): Promise<void> {
    this.sql(`DELETE FROM log_appends WHERE key = ? AND state = 'pending'`).run(key);
  }

  async getLogAppend(key: string): Promise<LogAppendRecord | undefined> {
    const r = this.sql('SELECT * FROM log_appends WHERE key = ?').get(key) as LogAppendDbRow | undefined;
    return r ? toLogAppend(r) : undefined;
  }

  async pendingLogAppends(): Promise<LogAppendRecord[]> {
    return (this.sql(`SELECT * FROM log_appends WHERE state = 'pending' ORDER BY from_index, created_at`).all() as LogAppendDbRow[])
      .map(toLogAppend);
  }

  async findAttestations(digest: string): Promise<AttestationRecord[]> {
    return (this.sql('SELECT * FROM attestations WHERE digest = ? ORDER BY log_index').all(digest) as AttestationDbRow[]).map((r) => ({
      logIndex: r.log_index, digest: r.digest, name: r.name, signer: r.signer, source: r.source, time: r.time,
    }));
  }

  async findSourceVouches(q: { release?: string; fingerprint?: string }): Promise<SourceVouchRecord[]> {
    const rows = (q.release !== undefined
      ? this.sql('SELECT * FROM source_vouches WHERE release_lc = ? ORDER BY log_index').all(q.release.toLowerCase())
      : q.fingerprint !== undefined
        ? this.sql('SELECT * FROM source_vouches WHERE fingerprint = ? ORDER BY log_index, release_lc').all(q.fingerprint.toUpperCase())
        : this.sql('SELECT * FROM source_vouches ORDER BY log_index, release_lc').all()) as SourceVouchDbRow[];
    return rows.map((r) => ({
      logIndex: r.log_index, release: r.release, package: r.package, fingerprint: r.fingerprint, voucher: r.voucher,
      ticket: r.ticket, time: r.time, type: r.type,
    }));
  }

  async getRootDraft(version: number, digest?: string): Promise<RootDraftRow | undefined> {
    const r = (digest === undefined
      ? this.sql('SELECT * FROM root_drafts WHERE version = ? ORDER BY created_at DESC, updated_at DESC LIMIT 1').get(version)
      : this.sql('SELECT * FROM root_drafts WHERE version = ? AND digest = ?').get(version, digest)) as RootDraftDbRow | undefined;
    return r ? toRootDraft(r) : undefined;
  }

  async listRootDrafts(states?: RootDraftState[]): Promise<RootDraftRow[]> {
    const rows = this.sql('SELECT * FROM root_drafts ORDER BY version DESC, created_at DESC').all() as RootDraftDbRow[];
    return rows.map(toRootDraft).filter((d) => !states || states.includes(d.state));
  }

  async getRootApprovals(version: number, digest: string): Promise<RootApprovalRecord[]> {
    return (this.sql('SELECT * FROM root_approvals WHERE version = ? AND digest = ? ORDER BY seq').all(version, digest) as RootApprovalDbRow[])
      .map((r) => ({
        version: r.version, digest: r.digest, fingerprint: r.fingerprint, cleartext: r.cleartext, data: r.data, signature: r.signature,
        key: r.key, spoolKey: r.spool_key, at: r.at,
      }));
  }

  async listWatchers(): Promise<WatcherRow[]> {
    return (this.sql('SELECT * FROM watchers ORDER BY fingerprint, address').all() as { fingerprint: string; address: string; since: number; created_at: string }[])
      .map((r) => ({ fingerprint: r.fingerprint, address: r.address, since: r.since, createdAt: r.created_at }));
  }

  async recordCheckpoint(size: number, note: string): Promise<void> {
    this.sql('INSERT INTO checkpoints (size, note, recorded_at) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING').run(size, note, now());
  }

  async getCheckpoint(size: number): Promise<string | undefined> {
    return (this.sql('SELECT note FROM checkpoints WHERE size = ?').get(size) as { note: string } | undefined)?.note;
  }

  async checkpointSizes(): Promise<number[]> {
    return (this.sql('SELECT size FROM checkpoints ORDER BY size').all() as { size: number }[]).map((r) => r.size);
  }

  // ------------------------------------------------------------ subscriptions

  async getSubscriptionToken(tokenHash: string): Promise<SubscriptionTokenRow | undefined> {
    const r = this.sql('SELECT * FROM subscription_tokens WHERE token_hash = ?').get(tokenHash) as
      { token_hash: string; address: string; action: SubscriptionTokenRow['action']; created_at: string; expires_at: string;
        used_at: string | null; spool_key: string | null } | undefined;
    return r ? {
      tokenHash: r.token_hash, address: r.address, action: r.action, createdAt: r.created_at, expiresAt: r.expires_at,
      usedAt: r.used_at, spoolKey: r.spool_key,
    } : undefined;
  }

  async getSubscriber(address: string): Promise<SubscriberRow | undefined> {
    const r = this.sql('SELECT address, subscribed_at FROM subscribers WHERE address = ?').get(address.toLowerCase()) as
      { address: string; subscribed_at: string } | undefined;
    return r ? { address: r.address, subscribedAt: r.subscribed_at } : undefined;
  }

  async listSubscribers(): Promise<SubscriberRow[]> {
    return (this.sql('SELECT address, subscribed_at FROM subscribers ORDER BY address').all() as { address: string; subscribed_at: string }[])
      .map((r) => ({ address: r.address, subscribedAt: r.subscribed_at }));
  }

  async getMeta(key: string): Promise<string | undefined> {
    const r = this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** See StateStore.checkpointInBackground and src/store/checkpoints.ts. */
  checkpointInBackground(onFailure: (reason: string) => void): void {
    if (this.checkpoints || this.closing || !this.db.open || this.db.memory) return;
    const own = this.db.pragma('wal_autocheckpoint', { simple: true }) as number;
    // Back to this connection's own rule, SQLite's 1,000 pages, when the thread stops.
    const fallBack = (reason: string): void => {
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${own}`);
      onFailure(reason);
    };
    this.db.pragma(`wal_autocheckpoint = ${STORE_BOUNDS.walBackstopPages}`);
    this.db.pragma(`journal_size_limit = ${STORE_BOUNDS.walKeepBytes}`);
    try {
      this.checkpoints = BackgroundCheckpoints.start(this.db.name, fallBack);
    } catch (err) {
      fallBack(`the checkpoint thread did not start: ${(err as Error).message}`);
    }
  }

  close(): Promise<void> {
    // One close, however many callers: a second caller waits for the first.
    if (!this.closing) {
      const checkpoints = this.checkpoints;
      this.checkpoints = null;
      const closeDb = (): void => { if (this.db.open) this.db.close(); };
      // The thread first, and waited for: when close() returns no other
      // connection of this store is open (the next open, a copy of the
      // files, may follow at once). Without a thread the database is closed
      // before close() returns, as it always was.
      this.closing = checkpoints ? checkpoints.stop().then(closeDb) : new Promise<void>((resolve) => resolve(closeDb()));
    }
    return this.closing;
  }
}

interface LogAppendDbRow {
  key: string; from_index: number; count: number; entries_digest: string; state: LogAppendRecord['state']; created_at: string;
}
interface AttestationDbRow { log_index: number; digest: string; name: string; signer: string; source: string; time: string }

function toLogAppend(r: LogAppendDbRow): LogAppendRecord {
  return { key: r.key, fromIndex: r.from_index, count: r.count, entriesDigest: r.entries_digest, state: r.state, createdAt: r.created_at };
}

function toTicketRow(r: TicketDbRow): TicketRow {
  return {
    id: r.id, kind: r.kind, subject: r.subject, submitter: r.submitter, requester: r.requester, parentMessageId: r.parent_message_id,
    sourceDigest: r.source_digest, content: r.content, digest: r.digest, payload: r.payload, state: r.state, version: r.version,
    createdAt: r.created_at, expiresAt: r.expires_at, updatedAt: r.updated_at, closedReason: r.closed_reason, spoolKey: r.spool_key,
  };
}

function toChangeRow(r: ChangeDbRow): ChangeRow {
  return {
    id: r.id, kind: r.kind, ticketId: r.ticket_id, subject: r.subject, payload: r.payload, state: r.state, requester: r.requester,
    parentMessageId: r.parent_message_id, sourceDigest: r.source_digest, signers: JSON.parse(r.signers) as string[],
    approvers: JSON.parse(r.approvers) as string[], createdAt: r.created_at, updatedAt: r.updated_at, commit: r.commit_id,
    logIndex: r.log_index, error: r.error,
  };
}

/**
 * In-place upgrades of an existing state.db, each run once (a meta flag, so
 * the order of schema versions merged from other branches does not matter).
 */
function migrate(db: Database.Database): void {
  const done = (flag: string): boolean => db.prepare('SELECT 1 FROM meta WHERE key = ?').get(flag) !== undefined;
  const mark = (flag: string): void => { db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(flag, now()); };
  db.transaction(() => {
    for (const c of ADDED_COLUMNS) {
      const have = (db.prepare(`PRAGMA table_info(${c.table})`).all() as { name: string }[]).some((r) => r.name === c.column);
      if (have) continue;
      db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.column} ${c.type}`);
      if (c.backfill) db.exec(c.backfill);
    }
    db.exec('CREATE INDEX IF NOT EXISTS outbox_budget ON outbox(budget, created_at)');
    db.exec('CREATE INDEX IF NOT EXISTS outbox_kind ON outbox(kind, created_at)');
    db.exec('CREATE INDEX IF NOT EXISTS outbox_spool ON outbox(spool_key)');
    if (!done('migrated:reply-counts')) {
      // Replies recorded before the tallies existed: tally the last two
      // hours (the budgets look back one), in the same minutes.
      db.prepare(`INSERT INTO reply_counts (budget, minute, n)
        SELECT '', substr(created_at, 1, 16), COUNT(*) FROM outbox WHERE kind = 'reply' AND created_at >= ? GROUP BY 2
        UNION ALL
        SELECT budget, substr(created_at, 1, 16), COUNT(*) FROM outbox WHERE kind = 'reply' AND budget IS NOT NULL AND created_at >= ? GROUP BY 1, 2`).run(...Array<string>(2).fill(new Date(Date.now() - 2 * 3600_000).toISOString()));
      mark('migrated:reply-counts');
    }
    if (!done('migrated:processed-content-keys')) {
      // Keys were `mid:<Message-ID>` alone; they now carry the SHA-256 of the
      // raw message, taken from the spool row the key was recorded for, so
      // a message processed before the upgrade is still a duplicate when it
      // is fetched again (a UIDVALIDITY change) after it.
      // Keys first, then one message at a time: the raw bytes of a whole
      // spool never have to fit in memory together.
      const old = db.prepare(`SELECT message_key AS k, spool_key AS spool FROM processed
        WHERE message_key LIKE 'mid:%' AND message_key NOT LIKE '%#raw:%'`).all() as { k: string; spool: string }[];
      const raw = db.prepare('SELECT raw FROM spool WHERE key = ?');
      const upd = db.prepare('UPDATE processed SET message_key = ? WHERE message_key = ?');
      for (const r of old) {
        const row = raw.get(r.spool) as { raw: Buffer } | undefined;
        // Without its spool row a key cannot be bound to content; it is left
        // as it was and never matches a new key (the spool key still guards).
        if (row) upd.run(`${r.k}#raw:${createHash('sha256').update(row.raw).digest('hex')}`, r.k);
      }
      mark('migrated:processed-content-keys');
    }
  }).immediate();
}

function toOutboxRow(r: OutboxDbRow): OutboxRow {
  return {
    id: r.id, spoolKey: r.spool_key, kind: r.kind, envelopeFrom: r.envelope_from,
    recipients: JSON.parse(r.recipients) as string[], messageId: r.message_id, raw: r.raw,
    status: r.status, attempts: r.attempts, lastError: r.last_error, createdAt: r.created_at, sentAt: r.sent_at, budget: r.budget,
  };
}
