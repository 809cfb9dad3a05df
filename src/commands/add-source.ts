/**
 * ADD SOURCE <keyid|fingerprint> <package-release> [<package-release>...]:
 * a collection member vouches that a key already in pgp/for-source/ signs
 * more releases. Signed by the member's key, bound to the bot by the To:
 * line, and through a ticket like SUBMIT SOURCE KEY: the maintainers approve
 * each vouch. Releases the list already names for the key are left out; when
 * that leaves none, nothing is asked of anyone.
 *
 * The apply step checks again that the key is still there and neither
 * revoked nor expired, writes the rows, one commit and one
 * `source-release-added` log entry naming the member.
 */
import { inspectKey } from '../pgp/inspect.js';
import { clause, render } from '../templates.js';
import { describeKey, readCollection, refused } from './common.js';
import { notAMember, packWords, pendingSourceTicket, readReleases, rowLines, sourceFolder, unlisted } from './source-common.js';
import { openTicket, ticketOpenedReply } from './ticketing.js';
import type { Handler } from './types.js';
import { line } from '../outbound/wording.js';

const CMD = 'ADD SOURCE';

/** A key as the command names it: 16 hex digits (0x optional) or a 40-hex-digit fingerprint, upper-case; null when neither. */
export function keyRef(word: string | undefined): { keyId: string | null; fingerprint: string | null } | null {
  if (!word) return null;
  const w = word.replace(/^0x/i, '');
  if (/^[0-9a-fA-F]{16}$/.test(w)) return { keyId: w.toLowerCase(), fingerprint: null };
  if (/^[0-9a-fA-F]{40}$/.test(w)) return { keyId: null, fingerprint: w.toUpperCase() };
  return null;
}

export const addSourceHandler: Handler = async (req, ctx) => {
  const member = await notAMember(CMD, req, ctx);
  if (member) return member;
  const [first, ...rest] = req.command.args;
  const ref = keyRef(first);
  if (!ref) {
    return refused(CMD, 'key-ref', line('reason-source-key-ref', { given: first ? `"${first.slice(0, 60).replace(/[^\x21-\x7e]/g, '?')}"` : null }),
      line('fix-source-key-ref', {}));
  }
  const named = readReleases(CMD, rest);
  if (!named.ok) return named.result;

  const folder = await sourceFolder(await readCollection(ctx.config));
  const matches = folder.keys.filter((k) => (ref.fingerprint ? k.fingerprint === ref.fingerprint : k.keyId === ref.keyId));
  const shown = ref.fingerprint ?? `0x${ref.keyId}`;
  if (matches.length === 0) {
    return refused(CMD, 'not-in-source-folder', line('reason-not-in-source-folder', { key: shown, fingerprint: ref.fingerprint !== null }),
      line('fix-not-in-source-folder', {}));
  }
  if (matches.length > 1) {
    return refused(CMD, 'ambiguous-key-id', line('reason-ambiguous-key-id', { key: shown, count: matches.length }), line('fix-ambiguous-key-id', {}));
  }
  const stored = matches[0];
  // A revoked or expired key signs no new release (the apply step checks it again).
  const report = await inspectKey(stored.key, { collection: ctx.keyring, policy: ctx.policy, now: req.now });
  if (report.revoked || report.expired) {
    return refused(CMD, 'source-key-unusable',
      line('reason-apply-source-key-unusable', { fingerprint: stored.fingerprint, state: report.revoked ? 'revoked' : 'expired' }),
      line('fix-source-key-unusable', {}));
  }
  const fresh = unlisted(folder, stored.keyId, named.releases);
  const who = await describeKey(stored.key, ctx.policy, req.now);
  if (fresh.length === 0) {
    return {
      status: 'found',
      body: render('add-source-nothing', { key: who, keyId: stored.keyId, releases: named.releases.join(' ') }),
      outcome: `${CMD}:nothing`,
    };
  }
  const pending = await pendingSourceTicket(CMD, stored.fingerprint, ctx);
  if (pending) return pending;

  const fileName = stored.file.split('/').pop()!;
  const summary: [string, string][] = [];
  for (const u of report.userIds.filter((x) => x.selfSigned && !x.attribute)) summary.push(['User-ID', u.userId]);
  summary.push(['Key-File', stored.file]);
  for (const v of packWords('Releases', fresh.join(' '))) summary.push(['Releases', v]);
  summary.push(['Vouched-By', req.signer!]);
  const what = clause('what-source-release', { key: who, releases: fresh.join(' ') });
  const t = await openTicket(req, ctx, {
    kind: 'add-source-release',
    subject: stored.fingerprint,
    what,
    summary,
    data: rowLines(fileName, fresh),
    payload: { kind: 'add-source-release', fingerprint: stored.fingerprint, releases: fresh },
    why: line('ticket-notify-source', { checked: false }),
  });
  const details = [`Fingerprint: ${stored.fingerprint}`, line('detail-source-vouch', { releases: fresh.join(' ') })];
  return ticketOpenedReply(CMD, t, ctx, { what, details, stripped: [], warnings: [] });
};
