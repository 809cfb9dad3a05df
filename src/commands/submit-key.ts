/**
 * SUBMIT KEY: a volunteer sends their public key, signed with that key
 * (proof of possession). The admission policy (src/pgp/admission.ts)
 * decides; an admitted key, stripped of certifications by keys outside the
 * collection, becomes a ticket for the maintainers.
 *
 * Addresses: a key naming the bot's or a list's address is refused. A key
 * naming an address another collection key holds is not refused: one person
 * may keep two keys (the group keeps signing and mail keys apart), and only
 * people can tell. The ticket carries an Address-Already-On line for each,
 * the submitter's reply a warning, and the maintainers decide. GET KEY and
 * the WKD export then name both keys for that address instead of choosing.
 */
import { admitNewKey, isSignedByKey } from '../pgp/admission.js';
import { reservedAddresses } from '../pgp/addresses.js';
import { fingerprintOf } from '../pgp/inspect.js';
import { clause } from '../templates.js';
import { admittedKeySummary, oneSubmittedKey, strippedLines } from './submitted-key.js';
import { ARMOR_CONFIG, describeKey, refused } from './common.js';
import { openTicket, ticketOpenedReply } from './ticketing.js';
import type { Handler } from './types.js';
import { line } from '../outbound/wording.js';

const CMD = 'SUBMIT KEY';

export const submitKeyHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const read = await oneSubmittedKey(CMD, req, ctx, { exportFix: 'fix-submit-key-export', oneKeyFix: 'fix-one-key-submit-key' });
  if (!read.ok) return read.result;
  const key = read.key;
  const fpr = fingerprintOf(key);

  // Proof of possession: only the holder of the key may submit it, so
  // nobody can put someone else's key (or a key they only found) up for approval.
  if (!req.signer || !(await isSignedByKey(req.signer, key, { policy: ctx.policy, now: req.now }))) {
    return refused(CMD, 'proof-of-possession',
      line('reason-proof-of-possession', { signer: req.signer, fingerprint: fpr }),
      line('fix-proof-of-possession', { fingerprint: fpr }));
  }
  const open = await ctx.store.openTicketsFor(fpr);
  if (open.length > 0) {
    return refused(CMD, 'already-pending', line('reason-already-pending-submit-key', { fingerprint: fpr, ticket: open[0].id, state: open[0].state }),
      line('fix-already-pending-submit-key', { ticket: open[0].id }));
  }

  const adm = await admitNewKey(key, {
    collection: ctx.keyring, policy: ctx.policy, limits: cfg.limits, now: req.now,
    reservedAddresses: reservedAddresses(cfg),
  });
  if (!adm.ok) return refused(CMD, adm.rule, adm.reason, adm.fix);

  const armored = adm.key.armor(ARMOR_CONFIG);
  const who = await describeKey(adm.key, ctx.policy, req.now);
  const issuerName = async (fp: string | null): Promise<string> => {
    const k = fp ? ctx.keyring.findByFingerprint(fp) : undefined;
    return k ? describeKey(k, ctx.policy, req.now) : fp ?? 'unknown';
  };
  const summary = admittedKeySummary(adm);
  for (const f of adm.counted) summary.push(['Certified-By', await issuerName(f)]);
  for (const s of adm.stripped) summary.push(['Stripped', `${s.issuerKeyId} (${s.why})`]);
  // The warning line in every maintainer's notice: this address already
  // belongs to another collection key (the same person's other key, or not).
  for (const a of adm.sharedAddresses) summary.push(['Address-Already-On', `${a.address} 0x${a.holderKeyId}`]);

  const t = await openTicket(req, ctx, {
    kind: 'add-key',
    subject: fpr,
    what: clause('what-new-key', { key: who }),
    summary,
    data: armored,
    payload: { kind: 'add-key', fingerprint: fpr, armored },
  });
  const details = [`Fingerprint: ${fpr}`];
  for (const f of adm.counted) details.push(clause('detail-certified-by', { issuer: await issuerName(f), min: cfg.policy.minCertifications }));
  return ticketOpenedReply(CMD, t, ctx, { what: `new key ${who}`, details, stripped: strippedLines(adm), warnings: adm.warnings });
};
