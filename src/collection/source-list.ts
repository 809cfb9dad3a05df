/**
 * pgp/for-source/key-and-source.md: the working group's list that matches
 * each upstream release-signing key file to the releases it signs, one row
 * a release (DESIGN.md, "Source-signing keys"):
 *
 *     0x2a3f414e736060ba-djm@mindrot.org-signing.asc                  openssh-9.8p1
 *     0x528897b826403ada                                              gnupg-2.4.3
 *
 * A row is an indented line of two words: the key file name (or a bare
 * `0x<keyid>` whose file is not in the folder yet), padded to a column, then
 * the release. Everything else (the group's headings, prose, the question at
 * the bottom) is the group's text and is kept byte for byte.
 *
 * The file is the group's, so the bot edits it the way a person would: rows
 * it adds are spliced in, every other byte stays. A list that nothing changed
 * is written back identical (byte-stable); a new row goes before the first
 * row that sorts after it (package, then version in natural order, then key)
 * when the list is sorted that way, so it stays sorted; in a list the group
 * keeps in its own order, after the package's last row (or the last row), so
 * that order is kept.
 */
import { parseRelease, parseSourceKeyName } from './naming.js';

/** One row: a release and the key that signs it. */
export interface SourceRow {
  /** As written: a key file name in pgp/for-source/, or `0x<16 hex>`. */
  key: string;
  /** Lower-case 16-hex key id taken from `key`. */
  keyId: string;
  /** As written, e.g. `openssh-9.8p1`. */
  release: string;
}

type Line =
  | { kind: 'text'; raw: string }
  | { kind: 'row'; raw: string; row: SourceRow };

/** An indented line that looks meant as a row but cannot be read as one (the audit reports it). */
export interface SourceListProblem {
  /** 1-based line number. */
  line: number;
  text: string;
  why: string;
}

export interface SourceList {
  lines: Line[];
  /** The text ended with a line feed (kept as found). */
  finalNewline: boolean;
  problems: SourceListProblem[];
}

export const SOURCE_LIST_HEADER = [
  '# Release-signing keys of upstream projects',
  '',
  'One row a release: the key file in this folder that signs it, then the',
  'release. A member vouched for each row and maintainers approved it; the',
  "bot's transparency log holds who and when.",
  '',
];

/** Where the release column starts when the list has no row to copy it from (the group's files use this). */
const DEFAULT_INDENT = '    ';
const DEFAULT_COLUMN = 68;

const ROW = /^([ \t]+)(0x[0-9a-fA-F]{16}\S*)([ \t]+)(\S+)[ \t]*$/;

export function parseSourceList(text: string): SourceList {
  const finalNewline = text.endsWith('\n');
  const body = finalNewline ? text.slice(0, -1) : text;
  const lines: Line[] = [];
  const problems: SourceListProblem[] = [];
  if (text.length === 0) return { lines, finalNewline: true, problems };
  body.split('\n').forEach((raw, i) => {
    const m = ROW.exec(raw.replace(/\r$/, ''));
    if (!m) {
      // An indented 0x... line that is not two words is a row gone wrong, not prose.
      if (/^[ \t]+0x[0-9a-fA-F]/.test(raw)) problems.push({ line: i + 1, text: raw, why: 'an indented key line that is not "<key file> <release>"' });
      lines.push({ kind: 'text', raw });
      return;
    }
    const name = parseSourceKeyName(m[2]);
    const release = parseRelease(m[4]);
    if (!name || !release) {
      problems.push({ line: i + 1, text: raw, why: !name ? `"${m[2]}" is not a key file name of this folder` : `"${m[4]}" is not a release name` });
      lines.push({ kind: 'text', raw });
      return;
    }
    lines.push({ kind: 'row', raw, row: { key: m[2], keyId: name.keyId, release: m[4] } });
  });
  return { lines, finalNewline, problems };
}

export function formatSourceList(list: SourceList): string {
  if (list.lines.length === 0) return '';
  return list.lines.map((l) => l.raw).join('\n') + (list.finalNewline ? '\n' : '');
}

export function sourceRows(list: SourceList): SourceRow[] {
  return list.lines.flatMap((l) => (l.kind === 'row' ? [l.row] : []));
}

/** Natural order: digit runs compare as numbers (`9.10` after `9.9`). */
function natural(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return ta.length - tb.length;
}

/** The order rows are kept in: package (case-insensitive), version (natural), then key. */
export function compareRows(a: SourceRow, b: SourceRow): number {
  const ra = parseRelease(a.release) ?? { package: a.release, version: '' };
  const rb = parseRelease(b.release) ?? { package: b.release, version: '' };
  const p = ra.package.toLowerCase() < rb.package.toLowerCase() ? -1 : ra.package.toLowerCase() > rb.package.toLowerCase() ? 1 : 0;
  if (p !== 0) return p;
  const v = natural(ra.version, rb.version);
  if (v !== 0) return v;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** The same row: the same release for the same key id (case-insensitive release). */
export function sameRow(a: SourceRow, b: SourceRow): boolean {
  return a.keyId === b.keyId && a.release.toLowerCase() === b.release.toLowerCase();
}

/** The indent and release column most rows use, so added rows line up with the group's. */
function layoutOf(list: SourceList): { indent: string; column: number } {
  const seen = new Map<string, number>();
  for (const l of list.lines) {
    if (l.kind !== 'row') continue;
    const m = ROW.exec(l.raw.replace(/\r$/, ''))!;
    const k = `${m[1]}\u0000${m[1].length + m[2].length + m[3].length}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  let best: [string, number] | null = null;
  for (const e of seen) if (!best || e[1] > best[1]) best = e;
  if (!best) return { indent: DEFAULT_INDENT, column: DEFAULT_COLUMN };
  const [indent, column] = best[0].split('\u0000');
  return { indent, column: Number(column) };
}

export function formatRow(row: Pick<SourceRow, 'key' | 'release'>, layout: { indent: string; column: number }): string {
  const pad = Math.max(2, layout.column - layout.indent.length - row.key.length);
  return `${layout.indent}${row.key}${' '.repeat(pad)}${row.release}`;
}

/**
 * The list uses CRLF line ends: most lines followed by a line feed end in
 * CR. A row the bot adds then ends in CR as well, so the file does not mix.
 */
function usesCrlf(lines: readonly Line[], finalNewline: boolean): boolean {
  const ended = finalNewline ? lines : lines.slice(0, -1);
  return ended.length > 0 && ended.filter((l) => l.raw.endsWith('\r')).length * 2 > ended.length;
}

/**
 * The list with `add` spliced in (rows it already holds are skipped). Returns
 * the same object when nothing is added, so the file is not rewritten. Every
 * line that was there stays as it was, line end and final newline included.
 */
export function withRows(list: SourceList, add: readonly Pick<SourceRow, 'key' | 'release'>[]): SourceList {
  const layout = layoutOf(list);
  const crlf = usesCrlf(list.lines, list.finalNewline);
  let lines = list.lines.slice();
  let changed = false;
  /** Put `block` in at `at`, each line with the list's line end (the file's last line has none of its own when the file has no final newline). */
  const insert = (at: number, block: Line[]): void => {
    const atEnd = at === lines.length;
    if (crlf) {
      block.forEach((l, k) => {
        if (!atEnd || k < block.length - 1 || list.finalNewline) l.raw += '\r';
      });
      // The old last line gains a line feed after it: it gets the CR that goes with it.
      if (atEnd && !list.finalNewline && at > 0 && !lines[at - 1].raw.endsWith('\r')) lines[at - 1] = { ...lines[at - 1], raw: `${lines[at - 1].raw}\r` };
    }
    lines = [...lines.slice(0, at), ...block, ...lines.slice(at)];
  };
  for (const a of add) {
    const keyName = parseSourceKeyName(a.key);
    if (!keyName || !parseRelease(a.release)) throw new Error(`not a source list row: ${JSON.stringify(a)}`);
    const row: SourceRow = { key: a.key, keyId: keyName.keyId, release: a.release };
    if (lines.some((l) => l.kind === 'row' && sameRow(l.row, row))) continue;
    const line: Line = { kind: 'row', raw: formatRow(row, layout), row };
    const rowIdx = lines.flatMap((l, i) => (l.kind === 'row' ? [i] : []));
    if (rowIdx.length === 0) {
      // The first row: a block of its own at the end, after a blank line.
      const tail = lines.length === 0 ? SOURCE_LIST_HEADER : lines[lines.length - 1].raw.trim() === '' ? [] : [''];
      insert(lines.length, [...tail.map((raw): Line => ({ kind: 'text', raw })), line]);
    } else {
      const rowAt = (i: number): SourceRow => (lines[i] as { row: SourceRow }).row;
      const sorted = rowIdx.every((i, k) => k === 0 || compareRows(rowAt(rowIdx[k - 1]), rowAt(i)) <= 0);
      let at: number;
      if (sorted) {
        // Before the first row that sorts after it; else right after the last row (not after the group's closing text).
        at = rowIdx.find((i) => compareRows(rowAt(i), row) > 0) ?? rowIdx[rowIdx.length - 1] + 1;
      } else {
        // The group's own order: beside the package's other rows, else after the last row.
        const pkg = (parseRelease(row.release)?.package ?? row.release).toLowerCase();
        const same = rowIdx.filter((i) => (parseRelease(rowAt(i).release)?.package ?? '').toLowerCase() === pkg);
        at = (same.length ? same[same.length - 1] : rowIdx[rowIdx.length - 1]) + 1;
      }
      insert(at, [line]);
    }
    changed = true;
  }
  if (!changed) return list;
  // Read back, so the problems' line numbers are those of the new text.
  return parseSourceList(formatSourceList({ lines, finalNewline: list.finalNewline, problems: [] }));
}

/** The row names a bare `0x<keyid>`, not a file name. */
export function isBareKeyId(key: string): boolean {
  return /^0x[0-9a-fA-F]{16}$/.test(key);
}

/**
 * Which key each row points at, given the folder's keys (files holding one
 * readable key). A row names a file: that file's key. A row naming a bare
 * `0x<keyid>` with no file of that name means the key with that id, when
 * exactly one file of the folder holds it (the group names rows that way
 * before, and sometimes after, the key's file is added). A row naming a
 * file that is absent points at nothing, even when the key is in the folder
 * under another name: the row and the folder disagree, and the audit says so.
 * `fileExists`: some file of the folder has the row's name (it may hold no
 * single key, or none that can be read).
 */
export function resolveRows<K extends { file: string; keyId: string }>(
  rows: readonly SourceRow[], keys: readonly K[], fileNames: ReadonlySet<string>,
): { row: SourceRow; key: K | null; fileExists: boolean }[] {
  const base = (f: string) => f.slice(f.lastIndexOf('/') + 1);
  const byName = new Map(keys.map((k) => [base(k.file), k] as const));
  return rows.map((row) => {
    const fileExists = fileNames.has(row.key);
    let key = byName.get(row.key) ?? null;
    if (!key && !fileExists && isBareKeyId(row.key)) {
      const holders = keys.filter((k) => k.keyId === row.keyId);
      if (holders.length === 1) key = holders[0];
    }
    return { row, key, fileExists };
  });
}
