/**
 * The log entries that vouch for a source-signing key (`source-key-added`,
 * `source-release-added`: subject the key's fingerprint, name the releases
 * one space apart, signers the member who vouched, DESIGN.md "Source-signing
 * keys"), read from the log itself.
 *
 * The store's index (findSourceVouches) only says where to look; what is
 * mailed or accepted offline is the entry the log holds at that index, with
 * its inclusion proof checked against the signed checkpoint. Offline there
 * is no index at all: the published entries are scanned.
 */
import { parseEntry, TILE_WIDTH, tileWidth, type LogEntry, type TileClient } from '../tlog/index.js';

export const VOUCH_TYPES: readonly LogEntry['type'][] = ['source-key-added', 'source-release-added'];

/** The releases a vouching entry names (empty for any other entry). */
export function vouchedReleases(e: LogEntry): string[] {
  if (!VOUCH_TYPES.includes(e.type)) return [];
  return (e.name ?? '').split(' ').filter((r) => r !== '');
}

/** The entry vouches that the key with this fingerprint signs this release (release compared case-insensitively, as the index does). */
export function entryVouches(e: LogEntry, fingerprint: string, release: string): boolean {
  return e.subject.toUpperCase() === fingerprint.toUpperCase() && vouchedReleases(e).some((r) => r.toLowerCase() === release.toLowerCase());
}

export interface ProvenVouch {
  index: number;
  /** The entry's exact bytes, as the log holds them. */
  bytes: Buffer;
  entry: LogEntry;
  /** A c2sp.org/tlog-proof block, checked against the signed checkpoint before it is returned. */
  block: string;
  size: number;
}

/**
 * The vouching entry at `index` with its inclusion proof, or null when the
 * log's entry there is not a vouch for this key and release (the index
 * disagrees with the log). Throws when the log cannot be read or the proof
 * does not hold (TileClient.proveEntry checks it).
 */
export async function proveVouch(client: TileClient, vkey: string, index: number, fingerprint: string, release: string): Promise<ProvenVouch | null> {
  const { block, entry: bytes, checkpoint } = await client.proveEntry(index, vkey);
  const entry = parseEntry(bytes);
  if (!entryVouches(entry, fingerprint, release)) return null;
  return { index, bytes, entry, block, size: checkpoint.size };
}

/**
 * Every entry of the log (tree of `size`) that vouches for this key and
 * release, oldest first, by reading each entry bundle once. An entry that
 * does not parse is skipped (fsck reports damage; here it simply vouches
 * for nothing).
 */
export async function scanVouches(client: TileClient, size: number, fingerprint: string, release: string): Promise<number[]> {
  const found: number[] = [];
  for (let n = 0; n * TILE_WIDTH < size; n++) {
    const bundle = await client.fetchEntryBundle(n, tileWidth(0, n, size));
    bundle.forEach((bytes, i) => {
      let e: LogEntry;
      try {
        e = parseEntry(bytes);
      } catch {
        return;
      }
      if (entryVouches(e, fingerprint, release)) found.push(n * TILE_WIDTH + i);
    });
  }
  return found;
}
