/**
 * The log as the authority: its signed checkpoint (verified with log.vkey)
 * and every entry, read through the same lock-free reader `ztrust-bot log
 * fsck` uses (src/ledger/reader.ts), so the checks are the same ones. At the
 * start of the worker the full fsck runs (every tile and bundle against the
 * checkpoint); before each apply only the entries are read (the start
 * already checked the bytes, and full bundles are cached: they never change).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LogReader } from '../ledger/reader.js';
import { entriesPath, formatTileIndex, parseEntry, tileWidth, TILE_WIDTH, type LogEntry } from '../tlog/index.js';
import type { StateFinding } from './errors.js';

export interface LogView {
  size: number;
  /** The verified checkpoint's root hash (base64), null for an empty log. */
  root: string | null;
  entries: LogEntry[];
  /** No log directory at all: a data directory without a log (tests, tools); `init` always makes one. */
  absent: boolean;
}

export type LogRead = { ok: true; view: LogView } | { ok: false; findings: StateFinding[] };

const REPAIR = (dir: string): string => `run \`ztrust-bot log fsck\` to list the damage, then restore ${dir} from a backup `
  + 'or from the published copy (the log is append-only: never edit its files)';

/** Full bundles are immutable once a checkpoint covers them: parsed once per process. */
const bundleCache = new Map<string, LogEntry[]>();

export async function readLog(dir: string, deep: boolean): Promise<LogRead> {
  const checkpoint = path.join(dir, 'checkpoint');
  if (!existsSync(checkpoint)) {
    // `init` writes log.vkey only; the first append writes the rest. Tiles
    // without a checkpoint mean the checkpoint was lost.
    if (existsSync(path.join(dir, 'tile'))) {
      return { ok: false, findings: [{ code: 'STATE_LOG_DAMAGED', file: checkpoint, message: 'the log has tiles but no checkpoint', repair: REPAIR(dir) }] };
    }
    return { ok: true, view: { size: 0, root: null, entries: [], absent: !existsSync(dir) } };
  }
  let reader: LogReader;
  try {
    reader = await LogReader.open(dir);
  } catch (err) {
    return { ok: false, findings: [{ code: 'STATE_LOG_DAMAGED', file: checkpoint, message: `the checkpoint does not verify: ${(err as Error).message}`, repair: REPAIR(dir) }] };
  }
  const findings: StateFinding[] = [];
  if (deep) {
    const r = await reader.fsck();
    for (const p of r.problems.slice(0, 10)) {
      // "entry N: its leaf hash is not the one in tile 0/K": either file may be the changed one.
      const both = /^entry (\d+): .* tile 0\/(\d+)$/.exec(p);
      const also = both ? ` (${path.join(dir, 'tile', '0', formatTileIndex(Number(both[2])))} or this entry bundle was changed)` : '';
      findings.push({ code: 'STATE_LOG_DAMAGED', file: fileOfProblem(dir, p), message: `log fsck: ${p}${also}`, repair: REPAIR(dir) });
    }
    if (findings.length) return { ok: false, findings };
  }
  const size = reader.size;
  const entries: LogEntry[] = [];
  for (let n = 0; n * TILE_WIDTH < size; n++) {
    const w = tileWidth(0, n, size);
    const key = `${path.resolve(dir)}#${n}`;
    let parsed = w === TILE_WIDTH ? bundleCache.get(key) : undefined;
    if (!parsed) {
      try {
        parsed = (await reader.client.fetchEntryBundle(n, w)).map((b) => parseEntry(b));
      } catch (err) {
        return { ok: false, findings: [{ code: 'STATE_LOG_DAMAGED', file: path.join(dir, entriesPath(n, w)), message: `entry bundle ${n}: ${(err as Error).message}`, repair: REPAIR(dir) }] };
      }
      if (w === TILE_WIDTH) bundleCache.set(key, parsed);
    }
    entries.push(...parsed);
  }
  return { ok: true, view: { size, root: reader.checkpoint.root.toString('base64'), entries, absent: false } };
}

/** The file an fsck problem is about, where it names one (`tile 0/0 ...`, `entry bundle 0 ...`). */
function fileOfProblem(dir: string, problem: string): string {
  const tile = /^tile (\d+)\/(\d+)/.exec(problem);
  if (tile) return path.join(dir, 'tile', tile[1], formatTileIndex(Number(tile[2])));
  const bundle = /^entry bundle (\d+)|^entry (\d+):/.exec(problem);
  if (bundle) return path.join(dir, entriesPath(bundle[1] !== undefined ? Number(bundle[1]) : Math.floor(Number(bundle[2]) / TILE_WIDTH)));
  return path.join(dir, 'checkpoint');
}
