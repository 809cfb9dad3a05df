/**
 * Seeding the collection with `import` is a collection change like any
 * other, so it is logged: one `key-added` (or `key-updated`) entry per key
 * file the import added (or changed), one `cert-added` per certificate, and
 * one `source-key-added` per source-signing key rows of key-and-source.md
 * point at (`source-release-added` when rows pointed at it before and the
 * import brought new ones), naming the releases, with no signer: the
 * import, not a member, vouched (the store's index of vouches then shows
 * voucher ''). Files already there byte for byte are not logged again. The
 * entries come after the import's git commit (the log records what was
 * applied) and are keyed by that commit, so running the logging twice for
 * one import appends nothing new.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImportResult } from '../collection/import.js';
import type { LogEntry } from '../tlog/index.js';
import { NAME_BOUNDS } from '../limits.js';

/** RFC 3339, whole seconds, UTC. */
function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export function importEntries(r: ImportResult, source: string, now: Date): LogEntry[] {
  const time = rfc3339(now);
  return [
    ...r.added.keys.map((k): LogEntry => ({ type: k.added ? 'key-added' : 'key-updated', subject: k.fingerprint, name: k.identity, signers: [], ticket: 'import', time, source })),
    ...r.added.certs.map((c): LogEntry => ({ type: 'cert-added', subject: `sha256:${c.sha256}`, name: c.name, signers: [], ticket: 'import', time, source })),
    ...r.added.sourceKeys.flatMap((k) => chunks(k.releases, NAME_BOUNDS.releasesPerRequest).map((releases, i): LogEntry => ({
      type: k.added && i === 0 ? 'source-key-added' : 'source-release-added',
      subject: k.fingerprint, name: releases.join(' '), signers: [], ticket: 'import', time, source,
    }))),
  ];
}

/**
 * A key the group lists for very many releases is logged in entries of at
 * most as many releases as one request may name, so no entry outgrows the
 * log's entry limit (the first is the key's, the rest add releases to it).
 */
function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
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
