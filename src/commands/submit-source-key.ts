/**
 * SUBMIT SOURCE KEY <package-release> [<package-release>...]: a collection
 * member vouches that an upstream project's key signs these releases
 * (DESIGN.md, "Source-signing keys"). The mail is signed by the MEMBER's
 * key; it carries the upstream key, armoured below the command and its To:
 * line or attached, and may say where the member checked the fingerprint on
 * a line of its own:
 *
 *   SUBMIT SOURCE KEY openssh-9.8p1 openssh-9.9p1
 *   To: <the bot's address>
 *   Checked: https://www.openssh.com/ (fingerprint on the release page)
 *
 *   -----BEGIN PGP PUBLIC KEY BLOCK-----
 *
 * Admission (src/pgp/admission.ts admitSourceKey): the crypto policy as for
 * members, certifications by keys outside the collection stripped
 * (flooding defence), no community certification needed: the member's
 * vouch and k of n maintainers are what this key's place rests on. The
 * result is a ticket; the apply step writes the key file, the list rows,
 * one commit and one `source-key-added` log entry naming the member.
 */
import { primaryIdentity } from '../collection/collection.js';
import { sourceKeyFileName } from '../collection/naming.js';
import { admitSourceKey } from '../pgp/admission.js';
import { reservedAddresses } from '../pgp/addresses.js';
import { fingerprintOf, keyIdOf } from '../pgp/inspect.js';
import { sameKeyContent } from '../pgp/merge.js';
import { COMMAND_BOUNDS } from '../limits.js';
import { clause } from '../templates.js';
import { admittedKeySummary, oneSubmittedKey, strippedLines } from './submitted-key.js';
import { ARMOR_CONFIG, describeKey, readCollection, refused } from './common.js';
import { notAMember, packWords, pendingSourceTicket, readReleases, rowLines, sourceFolder, unlisted } from './source-common.js';
import { openTicket, ticketOpenedReply } from './ticketing.js';
import type { CommandResult, Handler } from './types.js';
import { line } from '../outbound/wording.js';

const CMD = 'SUBMIT SOURCE KEY';

/**
 * The `Checked:` line in the signed text under the command (before any
 * armour): the member's words, or null when there is none or it is empty.
 */
export function checkedNote(following: string): { ok: true; note: string | null } | { ok: false; result: CommandResult } {
  for (const raw of following.split('\n')) {
    const l = raw.trim();
    if (l.startsWith('-----BEGIN ')) break;
    const m = /^checked:(.*)$/i.exec(l);
    if (!m) continue;
    const note = m[1].trim();
    if (note.length > COMMAND_BOUNDS.checkedNoteChars) {
      return {
        ok: false,
        result: refused(CMD, 'limit-checked-note', line('reason-limit-checked-note', { chars: note.length, limit: COMMAND_BOUNDS.checkedNoteChars }),
          line('fix-limit-checked-note', { limit: COMMAND_BOUNDS.checkedNoteChars })),
      };
    }
    return { ok: true, note: note === '' ? null : note };
  }
  return { ok: true, note: null };
}

export const submitSourceKeyHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const member = await notAMember(CMD, req, ctx);
  if (member) return member;
  const named = readReleases(CMD, req.command.args);
  if (!named.ok) return named.result;
  const { releases } = named;
  const checked = checkedNote(req.command.following);
  if (!checked.ok) return checked.result;

  const read = await oneSubmittedKey(CMD, req, ctx, { exportFix: 'fix-submit-source-key-export', oneKeyFix: 'fix-one-key-submit-source-key' });
  if (!read.ok) return read.result;
  const key = read.key;
  const fpr = fingerprintOf(key);
  const keyId = keyIdOf(key);

  const adm = await admitSourceKey(key, {
    collection: ctx.keyring, policy: ctx.policy, limits: cfg.limits, now: req.now, reservedAddresses: reservedAddresses(cfg),
  });
  if (!adm.ok) return refused(CMD, adm.rule, adm.reason, adm.fix);

  // What the folder holds for this key now: the same vouch again is refused;
  // a different copy of a key already there is the group's and stays, so
  // new releases for it go through ADD SOURCE (the apply step refuses a
  // second copy too: reason-apply-source-key-other).
  const folder = await sourceFolder(await readCollection(cfg));
  const stored = folder.keys.find((k) => k.fingerprint === fpr);
  const fresh = unlisted(folder, keyId, releases);
  if (stored && fresh.length === 0) {
    return refused(CMD, 'already-vouched', line('reason-already-vouched', { fingerprint: fpr, file: stored.file, releases: releases.join(' ') }),
      line('fix-already-vouched', { keyId }));
  }
  if (stored && !sameKeyContent(stored.key, adm.key)) {
    return refused(CMD, 'source-key-present', line('reason-apply-source-key-other', { fingerprint: fpr, file: stored.file }),
      line('fix-source-key-present', { keyId, releases: fresh.join(' ') }));
  }
  const pending = await pendingSourceTicket(CMD, fpr, ctx);
  if (pending) return pending;

  const signer = req.signer!;
  const armored = adm.key.armor(ARMOR_CONFIG);
  // The file the apply step will write (src/changes/apply.ts: the same name from the same key).
  const fileName = stored ? stored.file.split('/').pop()! : sourceKeyFileName(keyId, await primaryIdentity(adm.key));
  const who = await describeKey(adm.key, ctx.policy, req.now);
  const summary = admittedKeySummary(adm);
  for (const v of packWords('Releases', releases.join(' '))) summary.push(['Releases', v]);
  summary.push(['Vouched-By', signer]);
  for (const v of packWords('Checked', checked.note ?? '')) summary.push(['Checked', v]);
  for (const s of adm.stripped) summary.push(['Stripped', `${s.issuerKeyId} (${s.why})`]);
  // A member's key vouched as an upstream key is allowed (an upstream
  // maintainer may be a member), and so is an address a member key holds;
  // the maintainers see both, as SUBMIT KEY shows a shared address.
  const asMember = ctx.keyring.findByFingerprint(fpr);
  const alsoMember = asMember !== undefined && fingerprintOf(asMember) === fpr;
  if (alsoMember) summary.push(['Also-Member-Key', 'yes']);
  for (const a of adm.sharedAddresses) summary.push(['Address-Already-On', `${a.address} 0x${a.holderKeyId}`]);

  const what = clause('what-source-key', { key: who, releases: releases.join(' ') });
  const t = await openTicket(req, ctx, {
    kind: 'add-source-key',
    subject: fpr,
    what,
    summary,
    // The rows the list will gain, then the exact armour of the key file (written unless the folder holds this very copy already).
    data: fresh.length ? `${rowLines(fileName, fresh)}\n\n${armored}` : armored,
    payload: { kind: 'add-source-key', fingerprint: fpr, armored, releases, checked: checked.note },
    why: line('ticket-notify-source', { checked: checked.note !== null, member: alsoMember, shared: adm.sharedAddresses.length > 0 }),
  });
  const details = [`Fingerprint: ${fpr}`, line('detail-source-vouch', { releases: releases.join(' ') })];
  if (checked.note !== null) details.push(line('detail-source-checked', { checked: packWords('Checked', checked.note).join(' ') }));
  return ticketOpenedReply(CMD, t, ctx, { what, details, stripped: strippedLines(adm), warnings: adm.warnings });
};
