/**
 * What state.db says about the log and the collection, read without
 * changing it. SqliteStore.open would create a missing file and run the
 * schema over a damaged one, which is exactly what must not happen before
 * the check: a deleted state.db would come back empty and the bot would
 * reuse ticket ids and forget every used signature. So the file is opened
 * here read-only (or the apply step's open handle is read), and a file that
 * is not SQLite, or fails SQLite's own check, is a finding.
 */
import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import type { StateFinding } from './errors.js';

export interface StoreView {
  /** Every log append the store recorded (done or pending). */
  appends: { key: string; from: number; count: number; done: boolean }[];
  /** Signed checkpoints kept, by tree size. */
  checkpoints: Map<number, string>;
  tickets: Map<string, string>;
  /** The last ticket number issued (0: none). */
  ticketCounter: number;
  changes: { id: string; kind: string; state: string; commit: string | null; logIndex: number | null }[];
}

export type StoreRead = { ok: true; view: StoreView } | { ok: false; missing: boolean; findings: StateFinding[] };

const RESTORE = 'stop the bot, restore state.db from the last backup (with its -wal file), then start it again; '
  + 'never start with an empty state.db beside a log that has entries (used signatures and ticket numbers would be forgotten)';

function query(db: Database.Database): StoreView {
  const appends = (db.prepare('SELECT key, from_index, count, state FROM log_appends').all() as
    { key: string; from_index: number; count: number; state: string }[])
    .map((r) => ({ key: r.key, from: r.from_index, count: r.count, done: r.state === 'done' }));
  const checkpoints = new Map((db.prepare('SELECT size, note FROM checkpoints').all() as { size: number; note: string }[]).map((r) => [r.size, r.note]));
  const tickets = new Map((db.prepare('SELECT id, state FROM tickets').all() as { id: string; state: string }[]).map((r) => [r.id, r.state]));
  const counter = db.prepare("SELECT value FROM counters WHERE name = 'ticket'").get() as { value: number } | undefined;
  const changes = (db.prepare('SELECT id, kind, state, commit_id, log_index FROM changes').all() as
    { id: string; kind: string; state: string; commit_id: string | null; log_index: number | null }[])
    .map((r) => ({ id: r.id, kind: r.kind, state: r.state, commit: r.commit_id, logIndex: r.log_index }));
  return { appends, checkpoints, tickets, ticketCounter: counter?.value ?? 0, changes };
}

/** Reads an open store handle (the apply step's). */
export function viewOfDb(db: Database.Database): StoreView {
  return query(db);
}

/**
 * Reads `<data>/state.db` read-only. `deep` runs SQLite's quick_check
 * (every page and index), for the start of the worker.
 */
export function readStoreFile(file: string, deep: boolean): StoreRead {
  if (!existsSync(file) || statSync(file).size === 0) {
    return { ok: false, missing: true, findings: [] };
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    if (deep) {
      const rows = db.pragma('quick_check') as { quick_check: string }[];
      const bad = rows.map((r) => r.quick_check).filter((s) => s !== 'ok');
      if (bad.length) throw new Error(bad.slice(0, 3).join('; '));
    }
    return { ok: true, view: query(db) };
  } catch (err) {
    return {
      ok: false, missing: false,
      findings: [{
        code: 'STATE_STORE_CORRUPT', file,
        message: `state.db cannot be read: ${(err as Error).message}`,
        repair: RESTORE,
      }],
    };
  } finally {
    db?.close();
  }
}

export { RESTORE as RESTORE_STORE };
