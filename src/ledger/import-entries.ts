/**
 * Seeding the collection with `import` is a collection change like any
 * other, so it is logged: one `key-added` (or `key-updated`) entry per key
 * file the import added (or changed) and one `cert-added` per certificate;
 * files already there byte for byte are not logged again. The entries come after the import's git
 * commit (the log records what was applied) and are keyed by that commit,
 * so running the logging twice for one import appends nothing new.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImportResult } from '../collection/import.js';
import type { LogEntry } from '../tlog/index.js';

/** RFC 3339, whole seconds, UTC. */
function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export function importEntries(r: ImportResult, source: string, now: Date): LogEntry[] {
  const time = rfc3339(now);
  return [
    ...r.added.keys.map((k): LogEntry => ({ type: k.added ? 'key-added' : 'key-updated', subject: k.fingerprint, name: k.identity, signers: [], ticket: 'import', time, source })),
    ...r.added.certs.map((c): LogEntry => ({ type: 'cert-added', subject: `sha256:${c.sha256}`, name: c.name, signers: [], ticket: 'import', time, source })),
  ];
}

/**
 * The source of import entries: the SHA-256 of the collection's signed
 * manifest (SHA256SUMS) right after the import, which names every file.
 */
export async function importSource(collectionDir: string): Promise<string> {
  return createHash('sha256').update(await readFile(path.join(collectionDir, 'SHA256SUMS'))).digest('hex');
}

export interface LogAppender {
  appendEntries(entries: readonly LogEntry[], opts?: { key?: string }): Promise<{ firstIndex: number }>;
}

/** Append the entries of one import; null when it changed nothing. */
export async function logImport(log: LogAppender, r: ImportResult, collectionDir: string, now = new Date()): Promise<{ firstIndex: number; count: number } | null> {
  if (!r.commit) return null;
  const entries = importEntries(r, await importSource(collectionDir), now);
  if (!entries.length) return null;
  const { firstIndex } = await log.appendEntries(entries, { key: `import:${r.commit}` });
  return { firstIndex, count: entries.length };
}
