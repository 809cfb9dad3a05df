/**
 * Linear-time scanners for untrusted text, in a folder of their own so that
 * mail/, pgp/ and commands/ can all use them without importing each other.
 *
 * Armoured blocks (`-----BEGIN X-----` ... `-----END X-----`) in untrusted
 * text, found in linear time. The usual regex, /BEGIN[\s\S]*?END/, is
 * retried from every BEGIN and scans to the end of the text each time when
 * the END is missing: a megabyte of BEGIN lines held the single thread for
 * 35 to 55 s (a key block in SUBMIT KEY, a revocation in REVOKE KEY).
 *
 * The result is the regex's: the leftmost BEGIN that has an END of its kind
 * after it, up to the first such END, then the next block after that one.
 * A BEGIN with no END after it means no later BEGIN of its kind has one
 * either, so that kind is done: nothing is scanned twice.
 */

/** One kind of block: any of `begin`, then the first of any of `end`. */
export interface BlockKind {
  begin: readonly string[];
  end: readonly string[];
}

interface Marker { text: string; at: number }

/** Blocks of the given kinds, in order, at most `max` of them. */
export function armouredBlocks(text: string, kinds: readonly BlockKind[], max = Infinity): string[] {
  // Each marker's next position at or after a point that only moves
  // forward: -2 not looked up yet, -1 none left.
  const markers = (list: readonly string[]): Marker[] => list.map((m) => ({ text: m, at: -2 }));
  const next = (list: Marker[], from: number): { at: number; len: number } => {
    let best = { at: -1, len: 0 };
    for (const m of list) {
      if (m.at !== -1 && m.at < from) m.at = text.indexOf(m.text, from);
      if (m.at >= 0 && (best.at < 0 || m.at < best.at)) best = { at: m.at, len: m.text.length };
    }
    return best;
  };
  const live = kinds.map((k) => ({ begin: markers(k.begin), end: markers(k.end), done: false }));
  const out: string[] = [];
  let pos = 0;
  while (out.length < max) {
    let kind: (typeof live)[number] | null = null;
    let b = { at: -1, len: 0 };
    for (const k of live) {
      if (k.done) continue;
      const n = next(k.begin, pos);
      if (n.at < 0) k.done = true;
      else if (b.at < 0 || n.at < b.at) {
        b = n;
        kind = k;
      }
    }
    if (!kind) break;
    const e = next(kind.end, b.at + b.len);
    if (e.at < 0) {
      kind.done = true;
      continue;
    }
    out.push(text.slice(b.at, e.at + e.len));
    pos = e.at + e.len;
  }
  return out;
}

/** A block kind with one BEGIN and END label, e.g. `PGP SIGNATURE`. */
export function blockKind(...labels: string[]): BlockKind {
  return { begin: labels.map((l) => `-----BEGIN ${l}-----`), end: labels.map((l) => `-----END ${l}-----`) };
}

/**
 * `s` without its trailing spaces and tabs. The regex /[ \t]+$/ is retried
 * from every blank of a run and scans the whole run each time when a
 * non-blank follows: 64K spaces and a letter took 27 s. This walks back once.
 */
export function trimBlanksEnd(s: string): string {
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Every line of `s` (split on LF only, unlike the m flag: CR is not a line end here) without its trailing spaces and tabs, in linear time. */
export function trimLinesBlanksEnd(s: string): string {
  return s.split('\n').map(trimBlanksEnd).join('\n');
}

/** `s` without its trailing line feeds: /\n+$/ in linear time. */
export function trimNewlinesEnd(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x0a) end--;
  return s.slice(0, end);
}

/**
 * The first `-----BEGIN PGP SIGNATURE-----` ... END block whose BEGIN starts
 * a line, or null: /(?:^|\n)(BEGIN[\s\S]*?END)/ in linear time.
 */
export function lineAnchoredBlock(text: string, kind: BlockKind): string | null {
  const anchored: BlockKind = { begin: kind.begin.map((b) => `\n${b}`), end: kind.end };
  const found = armouredBlocks(`\n${text}`, [anchored], 1)[0];
  return found === undefined ? null : found.slice(1);
}
