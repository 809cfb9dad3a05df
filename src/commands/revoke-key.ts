/**
 * REVOKE KEY: a key revocation certificate (gpg --gen-revoke output, or a
 * whole revoked copy of the key). The revocation signature is its own
 * authority: whoever holds it may publish it, so the mail need not be
 * signed (parse.ts marks the command unsignedOk). It must verify against the
 * collection's copy of the key; then it is applied at once.
 *
 * Replay: the revocation's signature id is recorded like a mail signature,
 * so the same certificate sent again is answered, not applied twice.
 *
 * The key may be a member key (pgp/all), an upstream source-signing key
 * (pgp/for-source/), or both (a member who also signs releases upstream):
 * a compromised upstream key must be revocable by its holder as fast as a
 * member's, or VERIFY and verify-source keep vouching for it. The
 * certificate is checked against every copy the collection holds and the
 * apply step revokes them all in one commit.
 */
import * as openpgp from 'openpgp';
import { checkRevocation, readRevocationPackets, type Refusal } from '../pgp/admission.js';
import { fingerprintOf } from '../pgp/inspect.js';
import { verifyConfig } from '../policy/index.js';
import { signatureId } from '../pgp/merge.js';
import { clause, render } from '../templates.js';
import { contentValue } from '../text/value.js';
import { describeKey, readCollection, refused } from './common.js';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import type { Handler } from './types.js';
import { line } from '../outbound/wording.js';
import { armouredKeyTooLarge } from '../limits.js';

const CMD = 'REVOKE KEY';
// Found by a linear scan (src/text/blocks.ts), never a lazy regex over untrusted text.
const BLOCKS = [blockKind('PGP PUBLIC KEY BLOCK'), blockKind('PGP SIGNATURE')];


/** Key ids (16 hex) named by the key revocations in a block, and the fingerprint when it is a whole key. */
export async function revocationIssuers(block: string): Promise<{ keyIds: string[]; fingerprints: string[] }> {
  const list = await readRevocationPackets(block, verifyConfig());
  const keyIds = new Set<string>();
  const fingerprints = new Set<string>();
  for (const p of list) {
    if (p instanceof openpgp.SignaturePacket && p.signatureType === openpgp.enums.signature.keyRevocation) keyIds.add(p.issuerKeyID.toHex().toLowerCase());
    if (p instanceof openpgp.PublicKeyPacket && !(p instanceof openpgp.PublicSubkeyPacket)) fingerprints.add(p.getFingerprint().toUpperCase());
  }
  return { keyIds: [...keyIds], fingerprints: [...fingerprints] };
}

export const revokeKeyHandler: Handler = async (req, ctx) => {
  // Signed text or plain text, and any attachment: the certificate authenticates itself.
  const sources = [req.command.following, ...(await req.body()).attachments.map((a) => a.content.toString('latin1'))];
  const block = sources.map((s) => armouredBlocks(s, BLOCKS, 1)[0]).find((b): b is string => !!b);
  const fix = line('fix-revoke-key-export', {});
  if (!block) return refused(CMD, 'revocation-unreadable', line('reason-revocation-unreadable-no-block', {}), fix);
  if (armouredKeyTooLarge(block.length, ctx.config.limits)) {
    return refused(CMD, 'limit-key-size', line('reason-limit-key-size-revocation', { bytes: block.length }), fix);
  }
  let issuers: { keyIds: string[]; fingerprints: string[] };
  try {
    issuers = await revocationIssuers(block);
  } catch (err) {
    return refused(CMD, 'revocation-unreadable', line('reason-revocation-unreadable', { error: contentValue((err as Error).message, 200) }), fix);
  }
  // Only primary keys can be revoked this way (the revocation names the primary key).
  const isNamed = (k: openpgp.PublicKey): boolean =>
    issuers.fingerprints.includes(fingerprintOf(k)) || issuers.keyIds.includes(k.getKeyID().toHex().toLowerCase());
  // Every copy by fingerprint: the member copy, the source copy, or both.
  const found = new Map<string, openpgp.PublicKey[]>();
  const add = (k: openpgp.PublicKey): void => {
    if (isNamed(k)) found.set(fingerprintOf(k), [...(found.get(fingerprintOf(k)) ?? []), k]);
  };
  for (const f of issuers.fingerprints) {
    const k = ctx.keyring.findByFingerprint(f);
    if (k && fingerprintOf(k) === f) add(k);
  }
  for (const id of issuers.keyIds) {
    for (const k of ctx.keyring.findAllByKeyId(id)) if (!found.has(fingerprintOf(k))) add(k);
  }
  const col = await readCollection(ctx.config);
  for (const s of col ? await col.sourceKeys() : []) add(s.key);
  const candidates = [...found.values()];
  if (candidates.length === 0) {
    const named = [...issuers.fingerprints, ...issuers.keyIds.map((k) => `0x${k}`)].join(', ') || 'no key';
    return refused(CMD, 'not-in-collection', line('reason-not-in-collection-revoke-key', { named }),
      line('fix-not-in-collection-revoke-key', {}));
  }
  let last: Refusal | null = null;
  for (const copies of candidates) {
    // The copies share the primary key, so the check is the same against each;
    // what is new is what any copy lacks (one folder may hold it already).
    const existing = copies[0];
    const r = await checkRevocation(existing, block, { policy: ctx.policy, now: req.now });
    if (!r.ok) {
      last = r;
      continue;
    }
    const held = (s: openpgp.SignaturePacket): boolean => copies.every((c) => c.revocationSignatures.some((h) => signatureId(h) === signatureId(s)));
    const added = r.revokedKey.revocationSignatures.filter((s) => !held(s));
    const who = await describeKey(existing, ctx.policy, req.now);
    if (added.length === 0) {
      return refused(CMD, 'already-revoked', line('reason-already-revoked', { fingerprint: r.fingerprint }), line('fix-already-revoked', {}));
    }
    const sigIds = added.map((s) => `rev:${signatureId(s)}`);
    for (const id of sigIds) {
      if (await ctx.store.isSignatureUsed(id)) {
        return refused(CMD, 'replay', line('reason-replay-revocation', { fingerprint: r.fingerprint }), line('fix-replay-revocation', {}));
      }
    }
    return {
      status: 'accepted',
      fields: {},
      body: render('change-accepted', {
        command: CMD, what: clause('what-revocation-of-key', { key: who }),
        details: [`Fingerprint: ${r.fingerprint}`, ...(r.reason ? [`reason given: ${contentValue(r.reason, 200)}`] : [])],
        stripped: [], dropped: [], warnings: r.warnings,
      }),
      effects: [{
        kind: 'change-create',
        change: {
          id: `c-${req.spoolKey}`, kind: 'revoke-key', ticketId: null, subject: r.fingerprint,
          payload: JSON.stringify({ kind: 'revoke-key', fingerprint: r.fingerprint, revocation: block }),
          requester: req.sender, parentMessageId: req.mail.messageId ?? null, sourceDigest: req.sourceDigest,
          // The revocation is signed by the revoked key itself.
          signers: [r.fingerprint], approvers: [], createdAt: req.now.toISOString(),
        },
      }],
      signatures: sigIds.map((signatureId) => ({ signatureId, signer: r.fingerprint, command: CMD, spoolKey: req.spoolKey })),
      outcome: `${CMD}:accepted`,
    };
  }
  return refused(CMD, last!.rule, last!.reason, last!.fix);
};
