/**
 * UPDATE KEY: a newer copy of a collection key, signed by any key the bot
 * can check (a collection key, or the key carried in the message). The
 * merge policy (planUpdate) takes new certifications by collection keys,
 * new self-signed user IDs, new expiry and revocations, and drops the rest
 * (listed in the reply). Certifications, a new expiry and revocations
 * change nothing the collection's trust rests on, so they are applied at
 * once; a new subkey (new key material) or a new user ID (a new claim to an
 * address) becomes a ticket for the maintainers. A new user ID naming the
 * bot's, a list's or another collection key's address is refused outright.
 *
 * An upstream source-signing key (pgp/for-source/) is updated the same way,
 * by anyone, but takes only what restates or narrows what a member vouched
 * for: a new expiry, revocations, certifications by collection keys. A new
 * user ID or subkey is refused: the vouch was for the key as it was, so new
 * material needs a member to vouch again. A key in both folders follows the
 * member rules; its source copy takes the additive part (src/changes/apply.ts).
 */
import { describeCert, planUpdate } from '../pgp/admission.js';
import { reservedAddresses } from '../pgp/addresses.js';
import { fingerprintOf } from '../pgp/inspect.js';
import { clause, render } from '../templates.js';
import { contentValue } from '../text/value.js';
import { isoSeconds } from '../tickets/ticket.js';
import { oneSubmittedKey } from './submitted-key.js';
import { ARMOR_CONFIG, describeKey, readCollection, refused } from './common.js';
import { openTicket } from './ticketing.js';
import type { Handler } from './types.js';
import { line } from '../outbound/wording.js';

const CMD = 'UPDATE KEY';

export const updateKeyHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const read = await oneSubmittedKey(CMD, req, ctx, { exportFix: 'fix-update-key-export', oneKeyFix: 'fix-one-key-update-key' });
  if (!read.ok) return read.result;
  const incoming = read.key;
  const fpr = fingerprintOf(incoming);
  const member = ctx.keyring.findByFingerprint(fpr);
  const memberCopy = member && fingerprintOf(member) === fpr ? member : undefined;
  const col = memberCopy ? null : await readCollection(cfg);
  const sourceCopy = col ? (await col.sourceKeys()).find((k) => k.fingerprint === fpr) : undefined;
  const existing = memberCopy ?? sourceCopy?.key;
  if (!existing) {
    return refused(CMD, 'not-in-collection', line('reason-not-in-collection-update-key', { fingerprint: fpr }),
      line('fix-not-in-collection-update-key', {}));
  }
  const plan = await planUpdate(existing, incoming, {
    collection: ctx.keyring, policy: ctx.policy, limits: cfg.limits, now: req.now,
    reservedAddresses: reservedAddresses(cfg),
  });
  if (!plan.ok) return refused(CMD, plan.rule, plan.reason, plan.fix);
  if (!memberCopy && !plan.onlyAdditive) {
    const what = [...plan.changes.newUserIds, ...plan.changes.restoredUserIds].map((u) => contentValue(u, 100));
    return refused(CMD, 'source-key-new-material', line('reason-source-key-new-material', {
      fingerprint: fpr, file: sourceCopy!.file, userIds: what.join(', '), subkeys: plan.changes.newSubkeys.join(', '),
    }), line('fix-source-key-new-material', { file: sourceCopy!.file }));
  }

  const stripped = plan.droppedOutsideCerts.map((s) => contentValue(`${describeCert(s)}: ${s.why}`, 300));
  const dropped = plan.dropped.map((d) => contentValue(`${d.what}: ${d.why}`, 300));
  if (plan.empty) {
    return {
      status: 'found',
      body: render('update-key-nothing', { fingerprint: fpr, stripped, dropped }),
      outcome: `${CMD}:nothing`,
    };
  }

  const who = await describeKey(existing, ctx.policy, req.now);
  const issuerName = async (fp: string | null, keyId: string): Promise<string> => {
    const k = fp ? ctx.keyring.findByFingerprint(fp) : undefined;
    return k ? describeKey(k, ctx.policy, req.now) : `0x${keyId}`;
  };
  const ch = plan.changes;
  const details: string[] = [];
  const summary: [string, string][] = [];
  for (const c of ch.newCerts) {
    const name = await issuerName(c.issuerFingerprint, c.issuerKeyId);
    details.push(contentValue(clause('detail-new-certification', { issuer: name, userId: c.userId }), 300));
    summary.push(['New-Certification', name]);
  }
  for (const u of ch.newUserIds) {
    details.push(contentValue(clause('detail-new-user-id', { userId: u }), 300));
    summary.push(['New-User-ID', u]);
  }
  for (const u of ch.restoredUserIds) {
    details.push(contentValue(clause('detail-restored-user-id', { userId: u }), 300));
    summary.push(['Restored-User-ID', u]);
  }
  if (ch.newExpiry) {
    const when = (d: Date | null) => (d ? isoSeconds(d) : clause('expiry-never', {}));
    details.push(clause('detail-new-expiry', { before: when(ch.newExpiry.before), after: when(ch.newExpiry.after) }));
    summary.push(['New-Expiry', when(ch.newExpiry.after)]);
  }
  if (ch.newSelfSignatures > 0) details.push(clause('detail-new-self-signatures', { count: ch.newSelfSignatures, one: ch.newSelfSignatures === 1 }));
  for (const s of ch.newSubkeys) {
    details.push(clause('detail-new-subkey', { subkey: s }));
    summary.push(['New-Subkey', s]);
  }
  if (ch.revocation) {
    details.push(clause('detail-key-revoked', { reason: ch.revocation.reason ? contentValue(ch.revocation.reason, 200) : null }));
    summary.push(['Revocation', ch.revocation.reason ?? clause('revocation-no-reason', {})]);
  }
  for (const u of ch.revokedUserIds) details.push(contentValue(clause('detail-user-id-revoked', { userId: u }), 300));
  for (const s of ch.revokedSubkeys) details.push(clause('detail-subkey-revoked', { subkey: s }));

  const armored = plan.merged.armor(ARMOR_CONFIG);
  const what = clause('what-update-of-key', { key: who });
  if (plan.onlyAdditive) {
    return {
      status: 'accepted',
      fields: {},
      body: render('change-accepted', { command: CMD, what, details, stripped, dropped, warnings: [] }),
      effects: [{
        kind: 'change-create',
        change: {
          id: `c-${req.spoolKey}`, kind: 'update-key', ticketId: null, subject: fpr,
          payload: JSON.stringify({ kind: 'update-key', fingerprint: fpr, armored }),
          requester: req.sender, parentMessageId: req.mail.messageId ?? null, sourceDigest: req.sourceDigest,
          signers: req.signer ? [req.signer] : [], approvers: [], createdAt: req.now.toISOString(),
        },
      }],
      outcome: `${CMD}:accepted`,
    };
  }

  const open = (await ctx.store.openTicketsFor(fpr)).filter((t) => t.kind === 'update-key');
  if (open.length > 0) {
    return refused(CMD, 'already-pending', line('reason-already-pending-update-key', { fingerprint: fpr, ticket: open[0].id }),
      line('fix-already-pending-update-key', { ticket: open[0].id }));
  }
  const t = await openTicket(req, ctx, {
    kind: 'update-key', subject: fpr, what, summary, data: armored,
    payload: { kind: 'update-key', fingerprint: fpr, armored },
  });
  return {
    status: 'pending',
    fields: { Ticket: t.id, 'Ticket-Digest': t.digest },
    body: render('ticket-opened', {
      command: CMD, ticket: t.id, what, threshold: cfg.threshold, expires: isoSeconds(t.expires),
      details: [...whyTicket(ch.newSubkeys.length > 0, ch.newUserIds.length + ch.restoredUserIds.length > 0), ...details],
      stripped: [...stripped, ...dropped], warnings: [], notes: t.notes,
    }),
    extra: t.notices,
    effects: [t.effect],
    outcome: `${CMD}:pending:${t.id}`,
  };
};

/** Why the maintainers must see this update, one sentence a reason. */
function whyTicket(subkey: boolean, userId: boolean): string[] {
  return render('update-key-ticket-why', { subkey, userId }).split('\n').filter((l) => l.trim() !== '');
}
