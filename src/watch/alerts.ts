/**
 * Alerts for watched keys (WATCH, src/commands/watch.ts): every log entry
 * that touches a watched key brings its owner a signed notice with the
 * entry and its C2SP proof (checkable offline with verify-proof). An entry
 * touches a key when the key is its subject (added, updated, revoked,
 * vouched for as a source key) or among its signers or approvers (an
 * attestation, a vouch, an approval made with it).
 *
 * The scan goes from a cursor kept in the store (meta `watch.cursor`) to the
 * log's size, a bounded number of entries a run; the cursor moves only
 * after the notices are recorded, and each notice's id names the entry, the
 * key and the address, so a crash in between sends nothing twice. Run after
 * every apply (queue/apply.ts: the change is told at once) and by the
 * periodic sweep.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { dataLayout } from '../datadir.js';
import { LogReader } from '../ledger/reader.js';
import { FRAME_ENTRY, FRAME_PROOF, framed } from '../ledger/replies.js';
import { WATCH_BOUNDS } from '../limits.js';
import type { Logger } from '../logger.js';
import { composeNotice, type BotSigner } from '../outbound/notice.js';
import { line } from '../outbound/wording.js';
import type { StateStore } from '../store/types.js';
import { render } from '../templates.js';
import { parseEntry, type LogEntry } from '../tlog/index.js';

export const WATCH_CURSOR = 'watch.cursor';

export interface WatchDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  logger?: Logger;
}

/** The key fingerprints an entry touches (upper case). */
export function touchedKeys(e: LogEntry): Set<string> {
  const out = new Set<string>();
  const fpr = (v: string): void => {
    const hex = v.toUpperCase();
    if (/^(?:[0-9A-F]{40}|[0-9A-F]{64})$/.test(hex)) out.add(hex);
  };
  fpr(e.subject);
  for (const s of e.signers) fpr(s);
  for (const a of e.approvers ?? []) fpr(a);
  return out;
}

/** Record the alerts due for new log entries; returns their outbox ids (to enqueue). */
export async function watchAlerts(deps: WatchDeps): Promise<string[]> {
  const logDir = dataLayout(deps.config.dataDir).log;
  if (!existsSync(path.join(logDir, 'checkpoint'))) return [];
  const watchers = await deps.store.listWatchers();
  const reader = await LogReader.open(logDir);
  const size = reader.size;
  const stored = await deps.store.getMeta(WATCH_CURSOR);
  // No watcher yet: nothing to tell, and no history to owe anyone (a watch starts at the size it was asked at).
  if (watchers.length === 0) {
    if (stored !== String(size)) await deps.store.setMeta(WATCH_CURSOR, String(size));
    return [];
  }
  const from = Math.min(stored !== undefined ? Number(stored) : Math.min(...watchers.map((w) => w.since)), size);
  const to = Math.min(size, from + WATCH_BOUNDS.entriesPerScan);
  const rows = [];
  for (let i = from; i < to; i++) {
    const due = watchers.filter((w) => i >= w.since);
    if (!due.length) continue;
    const { block, entry: bytes } = await reader.client.proveEntry(i, reader.vkey);
    const entry = parseEntry(bytes);
    const touched = touchedKeys(entry);
    for (const w of due.filter((x) => touched.has(x.fingerprint))) {
      const id = `watch:${i}:${w.fingerprint.slice(-16)}:${createHash('sha256').update(w.address).digest('hex').slice(0, 12)}`;
      if (await deps.store.getOutbox(id)) continue;
      const role = entry.subject.toUpperCase() === w.fingerprint ? 'subject'
        : entry.signers.map((s) => s.toUpperCase()).includes(w.fingerprint) ? 'signer' : 'approver';
      rows.push(...(await composeNotice(deps.config, deps.signer, {
        id, to: [w.address], status: 'found',
        subject: line('subject-watch-alert', { keyId: `0x${w.fingerprint.slice(-16).toLowerCase()}`, type: entry.type }),
        fields: { 'Watched-Key': w.fingerprint, 'Log-Index': String(i) },
        prose: render('notice-watch-alert', {
          fingerprint: w.fingerprint, index: i, type: entry.type, time: entry.time, ticket: entry.ticket ?? null,
          subject: role === 'subject', signer: role === 'signer', approver: role === 'approver', origin: reader.checkpoint.origin,
          entry: framed(FRAME_ENTRY, bytes.toString('utf8')).trimEnd(), proof: framed(FRAME_PROOF, block).trimEnd(),
        }),
      }, deps.logger)).rows);
    }
  }
  if (rows.length) await deps.store.commitEffects([], rows);
  await deps.store.setMeta(WATCH_CURSOR, String(to));
  if (rows.length) deps.logger?.info({ alerts: rows.length, from, to }, 'watch alerts queued');
  return rows.map((r) => r.id);
}
