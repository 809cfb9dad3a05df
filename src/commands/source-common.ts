/**
 * What SUBMIT SOURCE KEY and ADD SOURCE share: the vouching member, the
 * releases named on the command line, and what pgp/for-source/ holds now.
 *
 * A source-signing key is trusted because a member vouched for it (and k
 * of n maintainers approved), not because the community certified it. So
 * the one who vouches must be a member today: a key of pgp/all/ that is
 * neither revoked nor expired and can sign. The dispatcher already refused
 * a signature by a key outside the collection (its keyring holds the
 * member keys only, never pgp/for-source/); this check also covers a member
 * key that lapsed since.
 */
import { fileSuffixOf } from '../collection/artifact-name.js';
import type { Collection, SourceKey } from '../collection/collection.js';
import { parseRelease } from '../collection/naming.js';
import { formatRow, sourceRows, type SourceRow } from '../collection/source-list.js';
import { attestRefusal } from '../ledger/standing.js';
import { NAME_BOUNDS } from '../limits.js';
import { line } from '../outbound/wording.js';
import type { TicketRow } from '../store/types.js';
import { MAX_LINE } from '../tickets/ticket.js';
import { contentValue, MAX_VALUE_COLUMNS } from '../text/value.js';
import { refused } from './common.js';
import type { CommandRequest, CommandResult, HandlerContext } from './types.js';

/** The ticket kinds that change pgp/for-source/. */
const SOURCE_KINDS: readonly TicketRow['kind'][] = ['add-source-key', 'add-source-release'];

/** A refusal when the signer is not a member key valid today, else null. */
export async function notAMember(cmd: string, req: CommandRequest, ctx: HandlerContext): Promise<CommandResult | null> {
  const why = await attestRefusal(req.signer, ctx.keyring, { policy: ctx.policy, now: req.now });
  if (!why) return null;
  return refused(cmd, 'signer-not-member', line('reason-signer-not-member', { signer: req.signer, why }),
    line('fix-signer-not-member-source', {}));
}

export type Releases = { ok: true; releases: string[] } | { ok: false; result: CommandResult };

/**
 * The releases named on the command line, as written, in order; the same
 * release named twice (any case) counts once. At least one, at most
 * NAME_BOUNDS.releasesPerRequest, each a release name (naming.ts parseRelease).
 */
export function readReleases(cmd: string, words: readonly string[]): Releases {
  const fix = line('fix-release-name', { chars: NAME_BOUNDS.releaseChars });
  if (words.length === 0) {
    return { ok: false, result: refused(cmd, 'no-release', line('reason-no-release', { example: `${cmd} openssh-9.8p1` }), fix) };
  }
  const out = new Map<string, string>();
  for (const w of words) {
    if (!parseRelease(w)) {
      return { ok: false, result: refused(cmd, 'release-name', line('reason-release-name', { release: `"${contentValue(w, 60)}"` }), fix) };
    }
    const suffix = fileSuffixOf(w);
    if (suffix !== null) {
      const release = w.slice(0, w.length - suffix.length);
      return {
        ok: false,
        result: refused(cmd, 'release-file-name', line('reason-release-file-name', { release: `"${contentValue(w, 60)}"`, suffix }),
          line('fix-release-file-name', { example: `${cmd} ${contentValue(release, 60)}` })),
      };
    }
    if (!out.has(w.toLowerCase())) out.set(w.toLowerCase(), w);
  }
  if (out.size > NAME_BOUNDS.releasesPerRequest) {
    return {
      ok: false,
      result: refused(cmd, 'limit-releases', line('reason-limit-releases', { count: out.size, limit: NAME_BOUNDS.releasesPerRequest }),
        line('fix-limit-releases', { limit: NAME_BOUNDS.releasesPerRequest })),
    };
  }
  return { ok: true, releases: [...out.values()] };
}

/** What pgp/for-source/ holds now (nothing before the first import). */
export interface SourceFolder {
  keys: SourceKey[];
  rows: SourceRow[];
}

export async function sourceFolder(col: Collection | null): Promise<SourceFolder> {
  if (!col) return { keys: [], rows: [] };
  return { keys: await col.sourceKeys(), rows: sourceRows(await col.sourceList()) };
}

/** Of `releases`, those key-and-source.md does not list yet for this key id (case-insensitive, as the list compares). */
export function unlisted(folder: SourceFolder, keyId: string, releases: readonly string[]): string[] {
  const id = keyId.toLowerCase();
  return releases.filter((r) => !folder.rows.some((row) => row.keyId === id && row.release.toLowerCase() === r.toLowerCase()));
}

/** A refusal when a ticket that changes pgp/for-source/ is open for this key, else null. */
export async function pendingSourceTicket(cmd: string, fingerprint: string, ctx: HandlerContext): Promise<CommandResult | null> {
  const open = (await ctx.store.openTicketsFor(fingerprint)).filter((t) => SOURCE_KINDS.includes(t.kind));
  if (open.length === 0) return null;
  return refused(cmd, 'already-pending', line('reason-already-pending-source', { fingerprint, ticket: open[0].id, state: open[0].state }),
    line('fix-already-pending-source', { ticket: open[0].id }));
}

/**
 * Words packed into values of the ticket content field `field`, each of
 * which fits on the field's own line (src/tickets/ticket.ts canonicalContent;
 * made safe by contentValue, which would shorten a longer one): the
 * Releases list and the Checked note are shown whole, over as many lines
 * as they need. A word too long for one line is cut.
 */
export function packWords(field: string, text: string): string[] {
  const width = Math.min(MAX_VALUE_COLUMNS, MAX_LINE - field.length - 2);
  const fits = (s: string): boolean => contentValue(s, Infinity).length <= width;
  const out: string[] = [];
  let cur = '';
  for (let word of text.split(/\s+/).filter((w) => w !== '')) {
    while (!fits(word)) {
      let n = word.length;
      while (n > 1 && !fits(word.slice(0, n))) n--;
      if (cur) out.push(cur);
      out.push(word.slice(0, n));
      cur = '';
      word = word.slice(n);
    }
    if (!cur) cur = word;
    else if (fits(`${cur} ${word}`)) cur = `${cur} ${word}`;
    else {
      out.push(cur);
      cur = word;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** The rows key-and-source.md will gain (key file, release), one a line as the group's file shows them: the start of a source ticket's data. */
export function rowLines(fileName: string, releases: readonly string[]): string {
  return releases.map((release) => formatRow({ key: fileName, release }, { indent: '    ', column: 4 + fileName.length + 2 })).join('\n');
}
