/**
 * SQLite backend of the state store (better-sqlite3, WAL). SQL is kept
 * portable (ON CONFLICT DO NOTHING, ISO-8601 text times, no SQLite-only
 * functions) so a PostgreSQL backend can share the schema.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { StoreError } from '../errors.js';
import type {
  Completion, CompletionResult, Cursor, OutboxRecord, OutboxRow, SpoolRecord, SpoolRow, StateStore,
} from './types.js';

const SCHEMA_VERSION = 1;

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
  last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status);
CREATE TABLE IF NOT EXISTS outbox_recipients (outbox_id TEXT NOT NULL, address TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_recipients_addr ON outbox_recipients(address, created_at);
`;

interface SpoolDbRow {
  key: string; mailbox: string; uid_validity: number; uid: string; message_id: string | null; raw: Buffer;
  received_at: string; state: 'queued' | 'done'; outcome: string | null;
}
interface OutboxDbRow {
  id: string; spool_key: string | null; kind: OutboxRecord['kind']; envelope_from: string; recipients: string;
  message_id: string; raw: Buffer; status: OutboxRow['status']; attempts: number; last_error: string | null;
  created_at: string; sent_at: string | null;
}

const now = (): string => new Date().toISOString();

export class SqliteStore implements StateStore {
  readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
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
    }
    return new SqliteStore(db);
  }

  async spool(rec: SpoolRecord): Promise<boolean> {
    const r = this.db.prepare(`INSERT INTO spool (key, mailbox, uid_validity, uid, message_id, raw, received_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`)
      .run(rec.key, rec.mailbox, rec.uidValidity, rec.uid, rec.messageId, rec.raw, rec.receivedAt);
    return r.changes === 1;
  }

  async getSpooled(key: string): Promise<SpoolRow | undefined> {
    const r = this.db.prepare('SELECT * FROM spool WHERE key = ?').get(key) as SpoolDbRow | undefined;
    if (!r) return undefined;
    return {
      key: r.key, mailbox: r.mailbox, uidValidity: r.uid_validity, uid: r.uid, messageId: r.message_id,
      raw: r.raw, receivedAt: r.received_at, state: r.state, outcome: r.outcome,
    };
  }

  async pendingSpool(): Promise<string[]> {
    return (this.db.prepare("SELECT key FROM spool WHERE state = 'queued' ORDER BY received_at, key").all() as { key: string }[])
      .map((r) => r.key);
  }

  async isProcessed(messageKey: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM processed WHERE message_key = ?').get(messageKey) !== undefined;
  }

  async isSignatureUsed(signatureId: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM signatures WHERE signature_id = ?').get(signatureId) !== undefined;
  }

  private insertOutbox(rows: OutboxRecord[], at: string): void {
    const ins = this.db.prepare(`INSERT INTO outbox (id, spool_key, kind, envelope_from, recipients, message_id, raw, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`);
    const rcpt = this.db.prepare('INSERT INTO outbox_recipients (outbox_id, address, created_at) VALUES (?, ?, ?)');
    for (const o of rows) {
      const r = ins.run(o.id, o.spoolKey, o.kind, o.envelopeFrom, JSON.stringify(o.recipients), o.messageId, o.raw, at);
      if (r.changes === 1) for (const a of o.recipients) rcpt.run(o.id, a.toLowerCase(), at);
    }
  }

  async complete(c: Completion): Promise<CompletionResult> {
    const tx = this.db.transaction((): CompletionResult => {
      const at = now();
      const s = this.db.prepare('SELECT state FROM spool WHERE key = ?').get(c.spoolKey) as { state: string } | undefined;
      if (s && s.state === 'done') return { applied: false, reason: 'already-done', outboxIds: [] };
      const dup = this.db.prepare('INSERT INTO processed (message_key, spool_key, at) VALUES (?, ?, ?) ON CONFLICT (message_key) DO NOTHING')
        .run(c.messageKey, c.spoolKey, at);
      const markDone = this.db.prepare(`UPDATE spool SET state = 'done', outcome = ?, sender = ?, command = ?, verdict = ?, done_at = ? WHERE key = ?`);
      if (dup.changes === 0) {
        markDone.run('duplicate', c.sender, c.command, c.verdict, at, c.spoolKey);
        return { applied: false, reason: 'duplicate-message', outboxIds: [] };
      }
      const sig = this.db.prepare('INSERT INTO signatures (signature_id, signer, command, spool_key, used_at) VALUES (?, ?, ?, ?, ?)');
      for (const u of c.signatures) {
        try {
          sig.run(u.signatureId, u.signer, u.command, u.spoolKey, at);
        } catch (err) {
          throw new StoreError('STORE_CONFLICT', `signature ${u.signatureId} was already used`, { cause: err });
        }
      }
      this.insertOutbox(c.outbox, at);
      markDone.run(c.outcome, c.sender, c.command, c.verdict, at, c.spoolKey);
      return { applied: true, outboxIds: c.outbox.map((o) => o.id) };
    });
    return tx.immediate();
  }

  async getCursor(mailbox: string): Promise<Cursor | undefined> {
    const r = this.db.prepare('SELECT uid_validity, last_uid FROM cursors WHERE mailbox = ?').get(mailbox) as
      { uid_validity: number; last_uid: number } | undefined;
    return r ? { uidValidity: r.uid_validity, lastUid: r.last_uid } : undefined;
  }

  async setCursor(mailbox: string, cursor: Cursor): Promise<void> {
    this.db.prepare(`INSERT INTO cursors (mailbox, uid_validity, last_uid) VALUES (?, ?, ?)
      ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid`)
      .run(mailbox, cursor.uidValidity, cursor.lastUid);
  }

  async addOutbox(rows: OutboxRecord[]): Promise<void> {
    this.db.transaction(() => this.insertOutbox(rows, now()))();
  }

  async getOutbox(id: string): Promise<OutboxRow | undefined> {
    const r = this.db.prepare('SELECT * FROM outbox WHERE id = ?').get(id) as OutboxDbRow | undefined;
    return r ? toOutboxRow(r) : undefined;
  }

  async markSending(id: string): Promise<void> {
    this.db.prepare(`UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ? AND status IN ('pending', 'sending')`).run(id);
  }

  async markSent(id: string): Promise<void> {
    this.db.prepare(`UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?`).run(now(), id);
  }

  async markFailed(id: string, error: string, dead: boolean): Promise<void> {
    this.db.prepare(`UPDATE outbox SET status = ?, last_error = ? WHERE id = ? AND status <> 'sent'`)
      .run(dead ? 'dead' : 'pending', error.slice(0, 1000), id);
  }

  async pendingOutbox(): Promise<string[]> {
    return (this.db.prepare("SELECT id FROM outbox WHERE status IN ('pending', 'sending') ORDER BY created_at, id").all() as { id: string }[])
      .map((r) => r.id);
  }

  async countRepliesTo(address: string, sinceIso: string): Promise<number> {
    const r = this.db.prepare('SELECT COUNT(*) AS n FROM outbox_recipients WHERE address = ? AND created_at >= ?')
      .get(address.toLowerCase(), sinceIso) as { n: number };
    return r.n;
  }

  async listOutbox(): Promise<OutboxRow[]> {
    return (this.db.prepare('SELECT * FROM outbox ORDER BY created_at, id').all() as OutboxDbRow[]).map(toOutboxRow);
  }

  async getMeta(key: string): Promise<string | undefined> {
    const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toOutboxRow(r: OutboxDbRow): OutboxRow {
  return {
    id: r.id, spoolKey: r.spool_key, kind: r.kind, envelopeFrom: r.envelope_from,
    recipients: JSON.parse(r.recipients) as string[], messageId: r.message_id, raw: r.raw,
    status: r.status, attempts: r.attempts, lastError: r.last_error, createdAt: r.created_at, sentAt: r.sent_at,
  };
}
