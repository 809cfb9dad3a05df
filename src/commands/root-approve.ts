/**
 * APPROVE ROOT-<version> <digest>: a maintainer approves a draft of the
 * trust root (src/root/). Who may approve: the maintainers of the current
 * root and of the draft (a new maintainer's key signs too, TUF's rule);
 * version 1 is approved by its own maintainers. An approval names the SHA-256
 * of the draft's bytes, so it cannot be moved to another draft.
 *
 * The approval is kept as signed (the cleartext block, or the PGP/MIME
 * signed part and its signature) with the approver's public key, so the
 * published root can be checked with GnuPG alone. When the approvals meet
 * the rule (src/root/chain.ts approvalProblems) the draft goes to the apply
 * step as a change of kind `root`, which checks every signature again
 * before it writes (src/changes/root-apply.ts).
 */
import { ARMOR_CONFIG } from '../collection/collection.js';
import { dataLayout } from '../datadir.js';
import { line } from '../outbound/wording.js';
import { approvalProblems, rootDeciders } from '../root/chain.js';
import { parseRoot } from '../root/document.js';
import { currentRootOf } from '../root/draft.js';
import type { RootApprovalRecord, StoreEffect } from '../store/types.js';
import { render } from '../templates.js';
import { refused } from './common.js';
import type { CommandResult, Handler } from './types.js';
import { normaliseDigest } from '../tickets/ticket.js';

const CMD = 'APPROVE';

/** `ROOT-<n>` (any case), or null. */
export function rootVersionArg(word: string | undefined): number | null {
  const m = /^ROOT-([1-9][0-9]{0,8})$/i.exec(word ?? '');
  return m ? Number(m[1]) : null;
}

export const rootApproveHandler: Handler = async (req, ctx): Promise<CommandResult> => {
  const cfg = ctx.config;
  const version = rootVersionArg(req.command.args[0])!;
  // The digest after ROOT-<n>, or alone on the next line (as the notice shows it, within 72 columns).
  const digestText = req.command.args[1] ?? req.command.following.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? null;
  const v = { digestText, digest: normaliseDigest(digestText ?? undefined) };
  const usage = line('fix-root-no-draft', {});
  if (!v.digest) {
    return refused(CMD, 'usage', v.digestText ? line('reason-usage-bad-digest', { digest: v.digestText.slice(0, 80) }) : line('reason-usage-no-digest', {}), usage);
  }
  const draft = await ctx.store.getRootDraft(version, v.digest);
  if (!draft) {
    const pending = (await ctx.store.listRootDrafts(['pending'])).find((d) => d.version === version);
    if (pending) {
      return refused(CMD, 'wrong-digest', line('reason-root-wrong-digest', { version, digest: pending.digest }), line('fix-root-wrong-digest', { version }));
    }
    return { ...refused(CMD, 'no-such-root-draft', line('reason-root-no-draft', { version }), usage), status: 'not-found' };
  }
  if (draft.state !== 'pending') {
    return refused(CMD, 'root-draft-closed', line('reason-root-draft-closed', { version, state: draft.state }), line('fix-root-draft-closed', {}));
  }
  const doc = parseRoot(draft.text);
  const current = currentRootOf(dataLayout(cfg.dataDir).collection);
  if ((current?.doc.version ?? 0) !== version - 1) {
    return refused(CMD, 'root-out-of-order', line('reason-root-out-of-order', { version, expected: version - 1, current: current?.doc.version ?? 'none' }),
      line('fix-root-out-of-order', {}));
  }
  // Identity is the key that signed (verified against the collection), never the From: address.
  const deciders = rootDeciders(current?.doc ?? null, doc);
  const signer = req.signer?.toUpperCase() ?? '';
  if (!deciders.includes(signer)) {
    return refused(CMD, 'not-a-decider', line('reason-root-not-a-decider', { signer: req.signer, version }), line('fix-root-not-a-decider', {}));
  }
  const evidence = req.verification.signedEvidence;
  const key = ctx.keyring.findByFingerprint(signer);
  if (!evidence || !key) return refused(CMD, 'root-no-evidence', line('reason-root-no-evidence', {}), line('fix-root-no-evidence', {}));
  const record: RootApprovalRecord = {
    version, digest: draft.digest, fingerprint: signer,
    cleartext: 'cleartext' in evidence ? evidence.cleartext : null,
    data: 'data' in evidence ? evidence.data : null,
    signature: 'signature' in evidence ? evidence.signature : null,
    key: key.armor(ARMOR_CONFIG), spoolKey: req.spoolKey, at: req.now.toISOString(),
  };
  // What completes the draft is decided on the approvals read here; the
  // store refuses the record if they change before it commits (two
  // approvals at once), and the message is processed again.
  const others = (await ctx.store.getRootApprovals(version, draft.digest)).map((a) => a.fingerprint).filter((f) => f !== signer);
  const approvers = new Set([...others, signer]);
  const missing = approvalProblems(current?.doc ?? null, doc, approvers);
  const effects: StoreEffect[] = [{ kind: 'root-approval', approval: record, others }];
  const fields = { Root: `ROOT-${version}`, 'Root-Digest': draft.digest };
  const who = [...approvers].sort().join(', ');
  if (missing.length) {
    return {
      status: 'pending', fields, effects,
      body: render('root-approval-recorded', { version, digest: draft.digest, approvers: who, missing }),
      outcome: `${CMD}:root-recorded:${version}`,
    };
  }
  effects.push(
    { kind: 'root-draft-state', version, digest: draft.digest, from: 'pending', to: 'approved' },
    {
      kind: 'change-create',
      change: {
        id: `c-root-${version}-${draft.digest.slice(0, 16)}`, kind: 'root', ticketId: null, subject: draft.digest,
        payload: JSON.stringify({ kind: 'root', version, digest: draft.digest }),
        requester: null, parentMessageId: null, sourceDigest: req.sourceDigest,
        signers: [], approvers: [...approvers].sort(), createdAt: req.now.toISOString(),
      },
    },
  );
  return {
    status: 'approved', fields, effects,
    body: render('root-approved', { version, digest: draft.digest, approvers: who }),
    outcome: `${CMD}:root-approved:${version}`,
  };
};
