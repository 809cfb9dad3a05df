/**
 * The store, the collection and the log checked against each other, at the
 * start of the worker and before each apply. The log is the authority: it
 * is signed, append-only and published, and every applied change and every
 * logged attestation is in it. So:
 *
 *   - state.db must know every log entry (its log_appends rows cover the
 *     log), every ticket the log names, and a ticket counter past them: a
 *     deleted or rolled-back state.db would forget used signatures (a
 *     replayed ATTEST or APPROVE would count again) and reissue ticket ids;
 *   - neither state.db nor the collection may know entries the log lacks
 *     (the log was rolled back);
 *   - every collection change in the log has its commit (trailer
 *     Ztrust-Log-Index), unless its apply is still queued and will finish;
 *   - the collection's keys and certificates are what the log's entries
 *     say, in order: a key the log revoked must be revoked in its file;
 *   - the repository is readable, has no stale git lock, and its work tree
 *     is its last commit (the next commit would publish anything else).
 *
 * Any disagreement is a finding with the file and the repair; the worker
 * refuses to start, and an apply refuses to run, until it is repaired. The
 * bot never repairs by guessing: which side is right is the operator's call.
 */
import type Database from 'better-sqlite3';
import path from 'node:path';
import { Collection } from '../collection/collection.js';
import type { Logger } from '../logger.js';
import { SqliteStore } from '../store/sqlite.js';
import type { StateStore } from '../store/types.js';
import type { LogEntry } from '../tlog/index.js';
import { readCollection, type CollectionView } from './collection-view.js';
import { describeFinding, StateError, type StateFinding } from './errors.js';
import { readLog } from './log-view.js';
import { readStoreFile, RESTORE_STORE, viewOfDb, type StoreView } from './store-view.js';
import { dataLayout } from '../datadir.js';

export interface CheckOptions {
  dataDir: string;
  /** Full integrity checks too (log fsck, git fsck, SQLite quick_check): at start. */
  deep: boolean;
  /** The apply step's open store; otherwise <data>/state.db is opened read-only. */
  store?: StateStore;
}

/** Index ranges as text: `3`, `3..7`. */
function range(a: number, b: number): string {
  return a === b ? String(a) : `${a}..${b}`;
}

function firstGap(flags: Uint8Array): { from: number; to: number; count: number } | null {
  let count = 0;
  let from = -1;
  let to = -1;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i]) continue;
    count++;
    if (from < 0) from = i;
    if (to < 0 || to === i - 1) to = i;
  }
  return count ? { from, to, count } : null;
}

function rootOf(note: string): string | null {
  // Checkpoint body: origin, size, base64 root (C2SP); the signature lines follow a blank line.
  return note.split('\n')[2] ?? null;
}

function crossStore(v: StoreView, size: number, absent: boolean, root: string | null, entries: LogEntry[], file: string): StateFinding[] {
  const out: StateFinding[] = [];
  const covered = new Uint8Array(size);
  let beyond = 0;
  for (const a of v.appends) {
    for (let i = a.from; i < Math.min(a.from + a.count, size); i++) covered[i] = 1;
    if (a.done && a.from + a.count > size) beyond = Math.max(beyond, a.from + a.count);
  }
  const gap = firstGap(covered);
  if (gap) {
    out.push({
      code: gap.count === size ? 'STATE_STORE_MISSING' : 'STATE_STORE_BEHIND', file,
      message: gap.count === size
        ? `state.db knows none of the log's ${size} entries (a new, emptied or replaced state.db)`
        : `state.db does not know ${gap.count} of the log's ${size} entries (first ${range(gap.from, gap.to)}): an old copy`,
      repair: RESTORE_STORE,
    });
  }
  const cpSizes = [...v.checkpoints.keys()];
  const maxCp = cpSizes.length ? Math.max(...cpSizes) : 0;
  if (beyond > size || maxCp > size) {
    out.push({
      code: 'STATE_LOG_BEHIND', file,
      message: `state.db recorded a log of ${Math.max(beyond, maxCp)} entries, but the log holds ${size}: the log was rolled back or replaced`,
      repair: 'restore the log directory from a backup or the published copy that has every entry; never start the bot on a shorter log',
    });
  }
  const cpAtSize = v.checkpoints.get(size);
  if (cpAtSize !== undefined && root !== null && rootOf(cpAtSize) !== root) {
    out.push({
      code: 'STATE_LOG_DAMAGED', file,
      message: `the log's checkpoint at size ${size} has another root than the one state.db recorded: the log was replaced`,
      repair: 'restore the log directory from the published copy; `ztrust-bot log consistency` shows whether two checkpoints agree',
    });
  }
  let maxTicket: { id: string; n: number } | null = null;
  const unknown: string[] = [];
  entries.forEach((e) => {
    if (!e.ticket || e.ticket === 'import') return;
    if (!v.tickets.has(e.ticket) && !unknown.includes(e.ticket)) unknown.push(e.ticket);
    const n = Number(/(\d+)$/.exec(e.ticket)?.[1] ?? NaN);
    if (Number.isSafeInteger(n) && (!maxTicket || n > maxTicket.n)) maxTicket = { id: e.ticket, n };
  });
  if (unknown.length) {
    out.push({
      code: 'STATE_TICKET_MISSING', file,
      message: `the log names ticket${unknown.length === 1 ? '' : 's'} ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ' ...' : ''} that state.db does not know`,
      repair: RESTORE_STORE,
    });
  }
  const top = maxTicket as { id: string; n: number } | null;
  if (top && v.ticketCounter < top.n) {
    out.push({
      code: 'STATE_TICKET_MISSING', file,
      message: `state.db's ticket counter is at ${v.ticketCounter}, but the log already has ticket ${top.id}: new tickets would reuse its id`,
      repair: RESTORE_STORE,
    });
  }
  const late = absent ? [] : v.changes.filter((c) => c.state === 'applied' && c.logIndex !== null && c.logIndex >= size);
  if (late.length) {
    out.push({
      code: 'STATE_LOG_BEHIND', file,
      message: `state.db says change ${late[0].id} was logged at index ${late[0].logIndex}, but the log holds ${size} entries`,
      repair: 'restore the log directory from a backup or the published copy that has every entry',
    });
  }
  return out;
}

function isCollectionEntry(e: LogEntry): boolean {
  return e.type !== 'attestation';
}

/** Log indexes whose commit may still be missing: their change is queued, and the apply step finishes it. */
function inFlight(v: StoreView | null): Set<number> {
  const out = new Set<number>();
  if (!v) return out;
  const queued = new Set(v.changes.filter((c) => c.state === 'queued').map((c) => c.id));
  for (const c of v.changes) if (queued.has(c.id) && c.logIndex !== null) out.add(c.logIndex);
  for (const a of v.appends) {
    if (a.key.startsWith('change:') && queued.has(a.key.slice('change:'.length))) for (let i = 0; i < a.count; i++) out.add(a.from + i);
  }
  return out;
}

function crossCollection(c: CollectionView, size: number, absent: boolean, entries: LogEntry[], store: StoreView | null): StateFinding[] {
  const out: StateFinding[] = [];
  const dir = c.col.dir;
  // Without a log directory (never in a data directory `init` made) commit trailers have nothing to be checked against.
  const ahead = absent ? [] : [...c.logIndexes.keys()].filter((i) => i >= size).sort((a, b) => a - b);
  if (ahead.length) {
    out.push({
      code: 'STATE_LOG_BEHIND', file: dir,
      message: `commit ${c.logIndexes.get(ahead[0])!.slice(0, 12)} records log entry ${ahead[0]}, but the log holds ${size} entries: the log was rolled back`,
      repair: 'restore the log directory from a backup or the published copy that has every entry',
    });
  }
  for (const ch of store?.changes ?? []) {
    if (ch.commit && !c.commits.has(ch.commit)) {
      out.push({
        code: 'STATE_COLLECTION_BEHIND', file: dir,
        message: `state.db says change ${ch.id} was committed as ${ch.commit.slice(0, 12)}, but the collection's history lacks that commit`,
        repair: `restore ${dir} from its published copy (it must contain commit ${ch.commit}); never reset the collection's branch`,
      });
      break;
    }
  }
  const pending = inFlight(store);
  const missing = entries.map((e, i) => ({ e, i })).filter(({ e, i }) => isCollectionEntry(e) && e.ticket !== 'import' && !c.logIndexes.has(i) && !pending.has(i));
  if (missing.length) {
    const { e, i } = missing[0];
    out.push({
      code: 'STATE_COLLECTION_BEHIND', file: dir,
      message: `log entry ${i} (${e.type} ${e.subject}) has no commit in the collection${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`,
      repair: `restore ${dir} from its published copy, which has the commit with trailer "Ztrust-Log-Index: ${i}"; `
        + 'if the change was never committed, apply it by hand with that trailer (the log cannot be undone)',
    });
  }
  if (c.keys) out.push(...crossContent(c, entries, pending));
  return out;
}

/** Replays the log's key and certificate entries and compares the result with the files. */
function crossContent(c: CollectionView, entries: LogEntry[], pending: Set<number>): StateFinding[] {
  const out: StateFinding[] = [];
  const dir = c.col.dir;
  const keys = new Map<string, { present: boolean; revoked: boolean; index: number }>();
  const certs = new Map<string, { present: boolean; index: number }>();
  // Upstream source-signing keys: REVOKE KEY and UPDATE KEY reach
  // pgp/for-source/ too (src/changes/apply.ts), with the same entry types.
  // An entry is the member key's when the log added it as one or pgp/all
  // holds it, the source key's when the log vouched for it or the folder
  // holds it (both, for a member who signs releases upstream).
  const sources = new Map<string, { revoked: boolean; index: number }>();
  const byFpr = new Map(c.keys!.map((k) => [k.fingerprint.toUpperCase(), k]));
  const sourceByFpr = new Map((c.sourceKeys ?? []).map((k) => [k.fingerprint.toUpperCase(), k]));
  entries.forEach((e, index) => {
    if (pending.has(index)) return; // its apply is queued: the files follow when it commits
    const fpr = e.subject.toUpperCase();
    const was = keys.get(fpr);
    const src = sources.get(fpr);
    const isSource = src !== undefined || sourceByFpr.has(fpr);
    const isMember = was !== undefined || byFpr.has(fpr) || !isSource;
    switch (e.type) {
      case 'key-added': keys.set(fpr, { present: true, revoked: was?.revoked ?? false, index }); break;
      case 'source-key-added': if (!src) sources.set(fpr, { revoked: false, index }); break;
      case 'key-updated':
        if (isMember) keys.set(fpr, { present: true, revoked: was?.revoked ?? false, index: was?.revoked ? was.index : index });
        if (isSource) sources.set(fpr, { revoked: src?.revoked ?? false, index: src?.revoked ? src.index : index });
        break;
      case 'key-revoked':
        if (isMember) keys.set(fpr, { present: true, revoked: true, index });
        if (isSource) sources.set(fpr, { revoked: true, index });
        break;
      case 'key-removed': keys.set(fpr, { present: false, revoked: false, index }); break;
      case 'cert-added': if (e.name) certs.set(e.name, { present: true, index }); break;
      case 'cert-removed': if (e.name) certs.set(e.name, { present: false, index }); break;
      default: break;
    }
  });
  const restoreFrom = (index: number, file: string): string =>
    `put back the copy the log recorded: the commit is \`git -C ${dir} log -1 --format=%H --grep="Ztrust-Log-Index: ${index}"\`; `
    + `\`git -C ${dir} checkout <that commit> -- ${file}\`, review, and commit it; find out who changed the file`;
  for (const [fpr, want] of keys) {
    const have = byFpr.get(fpr);
    if (want.present && !have) {
      out.push({ code: 'STATE_COLLECTION_DIVERGED', file: path.join(dir, 'pgp', 'all'), message: `log entry ${want.index} keeps key ${fpr} in the collection, but no file in pgp/all holds it`, repair: restoreFrom(want.index, 'pgp') });
    } else if (!want.present && have) {
      out.push({ code: 'STATE_COLLECTION_DIVERGED', file: path.join(dir, have.file), message: `log entry ${want.index} removed key ${fpr}, but ${have.file} still holds it`, repair: `remove ${have.file} and its role copies, review, and commit` });
    } else if (want.revoked && have && !have.revoked) {
      out.push({
        code: 'STATE_COLLECTION_DIVERGED', file: path.join(dir, have.file),
        message: `log entry ${want.index} revoked key ${fpr}, but ${have.file} is not revoked (an older copy was put back)`,
        repair: restoreFrom(want.index, have.file),
      });
    }
  }
  for (const [fpr, want] of sources) {
    const have = sourceByFpr.get(fpr);
    if (want.revoked && have && !have.revoked) {
      out.push({
        code: 'STATE_COLLECTION_DIVERGED', file: path.join(dir, have.file),
        message: `log entry ${want.index} revoked source-signing key ${fpr}, but ${have.file} is not revoked (an older copy was put back)`,
        repair: restoreFrom(want.index, have.file),
      });
    }
  }
  for (const [name, want] of certs) {
    const has = c.certNames!.has(name);
    if (want.present !== has) {
      out.push({
        code: 'STATE_COLLECTION_DIVERGED', file: path.join(dir, 'pki', 'all', `${name}.crt`),
        message: `log entry ${want.index} ${want.present ? 'added' : 'removed'} certificate ${name}, but the collection ${has ? 'still holds' : 'lacks'} it`,
        repair: restoreFrom(want.index, `pki/all/${name}.crt`),
      });
    }
  }
  return out;
}

/** Every disagreement between state.db, the collection and the log of a data directory. */
export async function checkState(o: CheckOptions): Promise<StateFinding[]> {
  const layout = dataLayout(o.dataDir);
  const storeFile = layout.stateDb;
  const logDir = layout.log;
  const colDir = layout.collection;
  const findings: StateFinding[] = [];

  const log = await readLog(logDir, o.deep);
  if (!log.ok) findings.push(...log.findings);
  const db: Database.Database | null = o.store instanceof SqliteStore ? o.store.db : null;
  const store = db ? { ok: true as const, view: viewOfDb(db) } : o.store ? null : readStoreFile(storeFile, o.deep);
  if (store && !store.ok) findings.push(...store.findings);
  const col = await readCollection(colDir, o.deep);
  findings.push(...col.findings);
  if (!log.ok) return findings; // without the authority there is nothing to compare with

  const { size, root, entries, absent } = log.view;
  if (store && !store.ok && store.missing && size > 0) {
    findings.push({ code: 'STATE_STORE_MISSING', file: storeFile, message: `state.db is missing or empty, but the log has ${size} entries`, repair: RESTORE_STORE });
  }
  const storeView = store?.ok ? store.view : null;
  if (storeView) findings.push(...crossStore(storeView, size, absent, root, entries, storeFile));
  if (col.ok && col.view) findings.push(...crossCollection(col.view, size, absent, entries, storeView));
  else if (col.ok && entries.some((e) => isCollectionEntry(e))) {
    findings.push({
      code: 'STATE_COLLECTION_BEHIND', file: colDir, message: 'the collection directory is missing or empty, but the log records changes to it',
      repair: `restore ${colDir} from its published copy (git clone)`,
    });
  }
  return findings;
}

/** Before an apply: throws StateError (nothing written) when the data directory disagrees with itself. */
export async function assertConsistent(o: CheckOptions): Promise<void> {
  const findings = await checkState(o);
  if (findings.length) throw new StateError(findings);
}

/**
 * The worker's start check: each finding as a JSON log line (for the log
 * collector) and a plain stderr line (for the operator at the terminal).
 * Returns the findings; the caller exits with status 2 when there are any.
 */
export async function startCheck(dataDir: string, logger: Logger): Promise<StateFinding[]> {
  // The one repair made without asking: the bot's own apply, killed half-way (see Collection.recoverInterrupted).
  const restored = await Collection.recoverInterrupted(dataLayout(dataDir).collection).catch(() => null);
  if (restored?.length) logger.warn({ files: restored }, 'an apply was interrupted by a crash; the collection was put back to its last commit, the change is applied again');
  const findings = await checkState({ dataDir, deep: true });
  for (const f of findings) {
    logger.error({ code: f.code, file: f.file, repair: f.repair }, f.message);
    process.stderr.write(`ztrust-bot: ${describeFinding(f)}\n`);
  }
  if (findings.length) process.stderr.write(`ztrust-bot: refusing to start: ${findings.length} disagreement${findings.length === 1 ? '' : 's'} between state.db, the collection and the log\n`);
  return findings;
}
