/**
 * Publishing an approved trust-root draft: the apply step's part for changes
 * of kind `root` (src/changes/apply.ts hands them here; it stays the single
 * writer of the collection and the log).
 *
 *   1. done already? (the git trailer `Ztrust-Change`): never twice;
 *   2. every approval checked again from its signed bytes, as `root verify`
 *      will (src/root/chain.ts checkVersionApprovals): the rule must still
 *      hold with the collection's keys as they are now, and the draft must
 *      still follow the current root; otherwise nothing is written;
 *   3. one log entry (type `root`), then one commit with root/<n>.txt, the
 *      approvals that counted (each with its key) and root/current;
 *   4. in one store transaction: the change finished, the draft published,
 *      and a signed notice to the maintainers of both versions.
 */
import { composeNotice } from '../outbound/notice.js';
import { maintainerContacts } from '../outbound/recipients.js';
import { line } from '../outbound/wording.js';
import { Keyring } from '../pgp/keyring.js';
import { readKeysAny } from '../pgp/inspect.js';
import { checkVersionApprovals, rootDeciders } from '../root/chain.js';
import { parseRoot } from '../root/document.js';
import { currentRootOf } from '../root/draft.js';
import { RootError } from '../root/errors.js';
import { rootVersionFiles, type KeptApproval } from '../root/files.js';
import type { ChangeRow, StoreEffect } from '../store/types.js';
import { render } from '../templates.js';
import { isoSeconds } from '../tickets/ticket.js';
import type { ApplyDeps, ApplyOutcome } from './types.js';
import { collectionOf, findAppliedCommit } from './commits.js';

export async function applyRootChange(row: ChangeRow, deps: ApplyDeps): Promise<ApplyOutcome> {
  const { store, config: cfg } = deps;
  const now = deps.now?.() ?? new Date();
  const log = deps.logger.child({ change: row.id });
  const p = JSON.parse(row.payload) as { kind: 'root'; version: number; digest: string };
  const draft = await store.getRootDraft(p.version, p.digest);
  const col = await collectionOf(cfg);

  const finish = async (state: 'applied' | 'failed', commit: string | null, logIndex: number | null, error: string | null, approvers: string[]): Promise<ApplyOutcome> => {
    const effects: StoreEffect[] = [{ kind: 'change-finish', changeId: row.id, state, commit, logIndex, error }];
    if (draft?.state === 'approved') {
      effects.push({ kind: 'root-draft-state', version: p.version, digest: p.digest, from: 'approved', to: state === 'applied' ? 'published' : 'superseded' });
    }
    const outbox = [];
    const doc = draft ? parseRoot(draft.text) : null;
    if (doc) {
      const prev = currentRootOf(col.dir);
      const deciders = rootDeciders(prev && prev.doc.version < doc.version ? prev.doc : null, doc);
      const contacts = await maintainerContacts({ ...cfg, maintainers: deciders }, await col.keyring(), deps.policy, now);
      const to = [...new Set(contacts.map((c) => c.address).filter((a): a is string => a !== null))];
      if (to.length) {
        outbox.push(...(await composeNotice(cfg, deps.signer, {
          id: `${state}:${row.id}`, to, status: state === 'applied' ? 'applied' : 'error',
          subject: line(state === 'applied' ? 'subject-root-published' : 'subject-root-not-published', { version: p.version }),
          fields: { Root: `ROOT-${p.version}`, 'Root-Digest': p.digest, ...(logIndex !== null ? { 'Log-Index': String(logIndex) } : {}) },
          prose: state === 'applied'
            ? render('notice-root-published', { version: p.version, digest: p.digest, approvers: approvers.join(', '), commit, logIndex,
              expires: isoSeconds(doc.expires), threshold: doc.threshold, maintainers: doc.maintainers })
            : render('notice-root-not-published', { version: p.version, digest: p.digest, reason: error }),
        }, log)).rows);
      }
    }
    const r = await store.commitEffects(effects, outbox);
    log.info({ state, commit, logIndex, error, version: p.version }, `root change ${state}`);
    return { state, outboxIds: r.outboxIds, commit, logIndex, ...(error ? { detail: error } : {}) };
  };

  const done = await findAppliedCommit(col, row.id);
  if (done) return finish('applied', done.commit, done.logIndex ?? row.logIndex, null, row.approvers);
  if (!draft || draft.state !== 'approved') return finish('failed', null, null, line('reason-root-draft-closed', { version: p.version, state: draft?.state ?? 'gone' }), []);

  // 2. The rule, checked again from the signed bytes, against the root that is current now.
  const doc = parseRoot(draft.text);
  const current = currentRootOf(col.dir);
  if ((current?.doc.version ?? 0) !== doc.version - 1 || (doc.version > 1 && doc.previous !== current?.digest)) {
    return finish('failed', null, null, line('reason-root-out-of-order', { version: doc.version, expected: doc.version - 1, current: current?.doc.version ?? 'none' }), []);
  }
  const approvals = await store.getRootApprovals(p.version, p.digest);
  const kept: KeptApproval[] = approvals.map((a) => ({
    fingerprint: a.fingerprint, key: a.key,
    ...(a.cleartext !== null ? { cleartext: a.cleartext } : { data: a.data ?? Buffer.alloc(0), signature: a.signature ?? Buffer.alloc(0) }),
  }));
  const approverKeys = (await Promise.all(approvals.map((a) => readKeysAny(a.key).catch(() => [])))).flat();
  const keys = Keyring.fromKeys([...(await col.keyring()).all(), ...approverKeys.map((k) => (k.isPrivate() ? k.toPublic() : k))]);
  let approvedBy: string[];
  try {
    const step = await checkVersionApprovals(current?.doc ?? null, doc, p.digest,
      kept.map((k) => ({ name: k.fingerprint, ...(k.cleartext !== undefined ? { cleartext: k.cleartext } : { data: k.data, signature: k.signature }) })),
      keys, deps.policy);
    approvedBy = step.approvedBy;
  } catch (err) {
    if (err instanceof RootError) return finish('failed', null, null, err.message, []);
    throw err;
  }

  // 3. Log, then commit (the index goes into the trailer).
  let logIndex = row.logIndex;
  if (logIndex === null && deps.logAppend) {
    logIndex = await deps.logAppend({
      type: 'root', subject: p.digest, name: `ROOT-${p.version}`, signers: approvedBy, time: isoSeconds(now), source: row.sourceDigest,
    }, row.id);
    if (logIndex !== null) await store.setChangeLogIndex(row.id, logIndex);
  }
  const files = rootVersionFiles(doc.version, draft.text, p.digest, kept.filter((k) => approvedBy.includes(k.fingerprint)));
  const trailers: Record<string, string | string[]> = { 'Ztrust-Change': row.id, 'Ztrust-Approved-By': approvedBy };
  if (logIndex !== null) trailers['Ztrust-Log-Index'] = String(logIndex);
  const { commit } = await col.apply((c) => c.putRootFiles(files), {
    message: `Root version ${doc.version}`,
    trailers,
    signer: async (data) => (await deps.signer.signDetached(data)).armored,
    date: now,
  });
  return finish('applied', commit, logIndex, null, approvedBy);
}
