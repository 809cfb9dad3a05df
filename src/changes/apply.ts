/**
 * The apply step: the ONLY writer of the collection (and of the log, through
 * the `logAppend` seam). queue/apply.ts runs it with concurrency 1; this
 * module is the domain part and needs no Redis.
 *
 * For one change request:
 *   1. done already? (store state, then the git trailer `Ztrust-Change`, for
 *      a crash between the commit and the store update): never twice;
 *   2. re-check the change against the collection as it is NOW (a key may
 *      have been added or a certifier revoked since the ticket was opened):
 *      a change that no longer fits fails with the reason, and nothing is
 *      written. The ticket's approvals are counted again with the rule the
 *      votes were counted by (src/tickets/approvals.ts countApprovals): when the
 *      apply queue stalled and an approver's key expired, was revoked or
 *      left the collection meanwhile, and the valid approvals no longer
 *      reach the threshold, nothing is written; the change and the ticket
 *      fail (a failed change cannot be queued again under the same id, so
 *      the ticket is not reopened) and the submitter and the maintainers get
 *      a signed notice saying which approvals lapsed and how to go on;
 *   3. log entry (index remembered in the store before the commit);
 *   4. Collection.apply: files, bundles, signed SHA256SUMS, one git commit
 *      with trailers (Ztrust-Change, Ztrust-Ticket, Ztrust-Approved-By,
 *      Ztrust-Log-Index);
 *   5. in ONE store transaction: the change finished, the ticket applied (or
 *      failed), and the signed notice to the submitter in the outbox.
 * Infrastructure errors (git, disk) throw: the queue retries, and step 1
 * makes the retry safe.
 */
import * as openpgp from 'openpgp';
import { ARMOR_CONFIG, Collection, PATHS, primaryIdentity, type StoredKey } from '../collection/collection.js';
import { parseKeyFileName, sourceKeyFileName } from '../collection/naming.js';
import { sourceRows } from '../collection/source-list.js';
import { StoreError } from '../errors.js';
import { admitNewKey, admitSourceKey, checkRevocation, planUpdate } from '../pgp/admission.js';
import { reservedAddresses } from '../pgp/addresses.js';
import { fingerprintOf, inspectKey, keyIdOf, readKeysAny } from '../pgp/inspect.js';
import type { Keyring } from '../pgp/keyring.js';
import { sameKeyContent } from '../pgp/merge.js';
import { checkSubmittedCert } from '../pki/x509.js';
import { approvalCheck, attestRefusal } from '../ledger/standing.js';
import { composeNotice } from '../outbound/notice.js';
import { maintainerContacts } from '../outbound/recipients.js';
import { line } from '../outbound/wording.js';
import type { ChangeRow, StoreEffect, TicketRow } from '../store/types.js';
import { assertConsistent } from '../state/consistency.js';
import { StateError } from '../state/errors.js';
import { clause, render } from '../templates.js';
import { countApprovals } from '../tickets/approvals.js';
import { describeTicket, isoSeconds, nextState, transition } from '../tickets/ticket.js';
import type { LogEntry, LogEntryType } from '../tlog/entry.js';
import { parsePayload, type ApplyDeps, type ApplyOutcome, type ChangePayload } from './types.js';
import { collectionOf, findAppliedCommit } from './commits.js';
import { applyRootChange } from './root-apply.js';
import { currentRootOf } from '../root/draft.js';

export type { ApplyDeps, ApplyOutcome } from './types.js';

interface Plan {
  /** The collection already holds it: nothing to write, nothing to log. */
  noop: boolean;
  message: string;
  entry: Omit<LogEntry, 'signers' | 'time' | 'source' | 'ticket' | 'approvers'>;
  write: (c: Collection) => Promise<unknown>;
}
type Planned = { ok: true; plan: Plan } | { ok: false; reason: string };

export { collectionOf, findAppliedCommit } from './commits.js';

/** Where a stored key stays: its current file name when that is one the bot could have written. */
function keepName(stored: StoredKey): { fileName?: string; identity?: string } {
  const base = stored.file.split('/').pop()!;
  const p = parseKeyFileName(base);
  return p && p.keyId === stored.keyId && p.role === stored.role ? { fileName: base } : { identity: stored.identity || undefined };
}

async function oneKey(armored: string): Promise<openpgp.Key> {
  const keys = await readKeysAny(armored);
  if (keys.length !== 1) throw new Error(`the change carries ${keys.length} keys`);
  return keys[0];
}

async function findStored(col: Collection, fpr: string): Promise<StoredKey | null> {
  return (await col.findKeys(fpr)).find((k) => k.fingerprint === fpr) ?? null;
}

async function planChange(col: Collection, ring: Keyring, p: ChangePayload, row: ChangeRow, deps: ApplyDeps, now: Date): Promise<Planned> {
  const cfg = deps.config;
  const ctx = { collection: ring, policy: deps.policy, limits: cfg.limits, now, reservedAddresses: reservedAddresses(cfg) };
  switch (p.kind) {
    case 'add-key': {
      const key = await oneKey(p.armored);
      const fpr = fingerprintOf(key);
      const stored = await findStored(col, fpr);
      if (stored) {
        if (sameKeyContent(stored.key, key)) return { ok: true, plan: { noop: true, message: '', entry: { type: 'key-added', subject: fpr }, write: () => Promise.resolve() } };
        return { ok: false, reason: line('reason-apply-key-entered', { fingerprint: fpr }) };
      }
      const adm = await admitNewKey(key, ctx);
      if (!adm.ok) return { ok: false, reason: line('reason-apply-not-admissible', { rule: adm.rule, reason: adm.reason }) };
      const identity = await primaryIdentity(key);
      return {
        ok: true,
        plan: {
          noop: false,
          message: `Add key 0x${keyIdOf(key)} (${identity})`,
          entry: { type: 'key-added', subject: fpr, name: identity },
          // The exact armour the maintainers approved, byte for byte.
          write: (c) => c.putKey(key, 'public', { identity, armored: p.armored }),
        },
      };
    }
    case 'update-key':
    case 'revoke-key': {
      // The payload names the key, not the folder: the key may be a member's
      // (pgp/all), an upstream source-signing key (pgp/for-source/) or both
      // (a member who also signs releases upstream), and it is re-checked
      // against the collection as it is now (a copy may have come or gone
      // while the change waited). Every copy held gets the change, in one
      // commit; a key held in neither folder has gone.
      const stored = await findStored(col, p.fingerprint);
      const source = (await col.sourceKeys()).find((k) => k.fingerprint === p.fingerprint) ?? null;
      if (!stored && !source) return { ok: false, reason: line('reason-apply-key-gone', { fingerprint: p.fingerprint }) };
      let merged: openpgp.PublicKey | null = null;
      let sourceMerged: openpgp.PublicKey | null = null;
      if (p.kind === 'update-key') {
        const incoming = await oneKey(p.armored);
        if (stored) {
          const plan = await planUpdate(stored.key, incoming, ctx);
          if (!plan.ok) return { ok: false, reason: `${plan.rule}: ${plan.reason}` };
          if (!plan.onlyAdditive && row.ticketId === null) return { ok: false, reason: line('reason-apply-needs-approval', {}) };
          merged = plan.merged;
        }
        if (source) {
          const plan = await planUpdate(source.key, incoming, ctx);
          if (!plan.ok) return { ok: false, reason: `${plan.rule}: ${plan.reason}` };
          // A source key takes only what restates or narrows what a member
          // vouched for (expiry, revocations, collection certifications): new
          // key material or a new user ID needs a new vouch. Beside a member
          // copy, the maintainers' ticket approves the member key only, so
          // the source copy keeps what it had.
          if (plan.onlyAdditive) sourceMerged = plan.merged;
          else if (!stored) return { ok: false, reason: line('reason-apply-source-update-not-additive', { fingerprint: p.fingerprint }) };
        }
      } else {
        for (const copy of [stored, source]) {
          if (!copy) continue;
          const r = await checkRevocation(copy.key, p.revocation, { policy: deps.policy, now });
          if (!r.ok) return { ok: false, reason: `${r.rule}: ${r.reason}` };
          if (copy === stored) merged = r.revokedKey;
          else sourceMerged = r.revokedKey;
        }
      }
      const keyId = (stored ?? source)!.keyId;
      const identity = stored?.identity || (source ? await primaryIdentity(source.key) : '') || keyId;
      const type: LogEntryType = p.kind === 'update-key' ? 'key-updated' : 'key-revoked';
      const entry = { type, subject: p.fingerprint, name: identity };
      const memberChanged = stored !== null && merged !== null && !sameKeyContent(stored.key, merged);
      const sourceChanged = source !== null && sourceMerged !== null && !sameKeyContent(source.key, sourceMerged);
      if (!memberChanged && !sourceChanged) return { ok: true, plan: { noop: true, message: '', entry, write: () => Promise.resolve() } };
      const what = source && !stored ? 'source-signing key' : 'key';
      const where = memberChanged && sourceChanged ? ` in ${PATHS.pgpAll} and ${PATHS.forSource}` : '';
      return {
        ok: true,
        plan: {
          noop: false,
          message: `${p.kind === 'update-key' ? 'Update' : 'Revoke'} ${what} 0x${keyId} (${identity})${where}`,
          entry,
          write: async (c) => {
            if (memberChanged) await c.putKey(merged!, stored.role, keepName(stored));
            // Back under the name the file has: the group's name, whatever it is, and the list's rows point at it.
            if (sourceChanged) await c.putSourceFile(source.file.split('/').pop()!, Buffer.from(sourceMerged!.armor(ARMOR_CONFIG), 'utf8'));
          },
        },
      };
    }
    case 'add-cert': {
      const pem = Buffer.from(p.pemBase64, 'base64');
      const certs = await col.certs();
      const same = certs.find((c) => c.name === p.name);
      if (same) {
        if (same.pem.equals(pem)) return { ok: true, plan: { noop: true, message: '', entry: { type: 'cert-added', subject: p.name, name: p.name }, write: () => Promise.resolve() } };
        return { ok: false, reason: line('reason-apply-cert-name-taken', { name: p.name }) };
      }
      const r = await checkSubmittedCert(pem, p.signature, {
        collectionKeys: ring, collectionCerts: certs.map((c) => ({ name: c.name, pem: c.pem })), policy: deps.policy, now, limits: cfg.limits,
      });
      if (!r.ok) return { ok: false, reason: line('reason-apply-cert-not-admissible', { reasons: r.reasons.join('; ') }) };
      return {
        ok: true,
        plan: {
          noop: false,
          message: `Add certificate ${p.name}`,
          entry: { type: 'cert-added', subject: r.check.sha256, name: p.name },
          write: (c) => c.putCert(p.name, pem, p.signature),
        },
      };
    }
    case 'add-source-key': {
      const lapsed = await voucherLapsed(row, ring, deps, now);
      if (lapsed) return { ok: false, reason: lapsed };
      const key = await oneKey(p.armored);
      const fpr = fingerprintOf(key);
      const entry: { type: 'source-key-added'; subject: string; name: string } = { type: 'source-key-added', subject: fpr, name: p.releases.join(' ') };
      const stored = (await col.sourceKeys()).find((k) => k.fingerprint === fpr);
      if (stored && !sameKeyContent(stored.key, key)) {
        return { ok: false, reason: line('reason-apply-source-key-other', { fingerprint: fpr, file: stored.file }) };
      }
      const adm = await admitSourceKey(key, ctx);
      if (!adm.ok) return { ok: false, reason: line('reason-apply-not-admissible', { rule: adm.rule, reason: adm.reason }) };
      const file = stored?.file ?? null;
      const identity = await primaryIdentity(key);
      const fileName = file ? file.split('/').pop()! : sourceKeyFileName(keyIdOf(key), identity);
      // A file of that name the group keeps (several keys in one file, or
      // another key under a misleading name) is never overwritten: nothing
      // found in the folder is dropped, and its rows keep pointing at it.
      if (!stored && (await col.scanSourceFolder()).some((f) => f.file === `${PATHS.forSource}/${fileName}`)) {
        return { ok: false, reason: line('reason-apply-source-file-taken', { file: `${PATHS.forSource}/${fileName}`, fingerprint: fpr }) };
      }
      if (stored && await sourceRowsHeld(col, stored.keyId, p.releases)) return { ok: true, plan: { noop: true, message: '', entry, write: () => Promise.resolve() } };
      // The log names the releases this change vouches for: with the key already in the folder, only those not listed yet.
      if (stored) {
        const rows = sourceRows(await col.sourceList());
        entry.name = p.releases.filter((r) => !rows.some((x) => x.keyId === stored.keyId && x.release.toLowerCase() === r.toLowerCase())).join(' ');
      }
      return {
        ok: true,
        plan: {
          noop: false,
          message: `Add source-signing key 0x${keyIdOf(key)} (${identity}) for ${p.releases.join(', ')}`,
          entry,
          write: async (c) => {
            // The exact armour the maintainers approved, byte for byte; a copy already there is left as the group named it.
            if (!stored) await c.putSourceKey(key, { fileName, armored: p.armored });
            await c.addSourceRows(p.releases.map((release) => ({ key: fileName, release })));
          },
        },
      };
    }
    case 'root':
      // Published by src/changes/root-apply.ts before planning (applyChange); never planned here.
      throw new Error(`change ${row.id}: root changes are applied by src/changes/root-apply.ts`);
    case 'add-source-release': {
      const lapsed = await voucherLapsed(row, ring, deps, now);
      if (lapsed) return { ok: false, reason: lapsed };
      const stored = (await col.sourceKeys()).find((k) => k.fingerprint === p.fingerprint);
      if (!stored) return { ok: false, reason: line('reason-apply-source-key-gone', { fingerprint: p.fingerprint }) };
      // A revoked or expired key signs no new release: the vouch would point people at it.
      const report = await inspectKey(stored.key, { collection: ring, policy: deps.policy, now });
      if (report.revoked || report.expired) {
        return { ok: false, reason: line('reason-apply-source-key-unusable', { fingerprint: p.fingerprint, state: report.revoked ? 'revoked' : 'expired' }) };
      }
      const list = sourceRows(await col.sourceList());
      const fresh = p.releases.filter((r) => !list.some((row) => row.keyId === stored.keyId && row.release.toLowerCase() === r.toLowerCase()));
      const entry = { type: 'source-release-added' as const, subject: p.fingerprint, name: (fresh.length ? fresh : p.releases).join(' ') };
      if (fresh.length === 0) return { ok: true, plan: { noop: true, message: '', entry, write: () => Promise.resolve() } };
      const fileName = stored.file.split('/').pop()!;
      return {
        ok: true,
        plan: {
          noop: false,
          message: `Add ${fresh.join(', ')} to source-signing key 0x${stored.keyId}`,
          entry,
          write: (c) => c.addSourceRows(fresh.map((release) => ({ key: fileName, release }))),
        },
      };
    }
  }
}

/**
 * Why the member who vouched (the change's signer) can no longer vouch, or
 * null: checked again when the change is applied, as ATTEST checks its
 * signer, so a member key revoked, expired or removed while the ticket
 * waited puts no key into pgp/for-source/.
 */
async function voucherLapsed(row: ChangeRow, ring: Keyring, deps: ApplyDeps, now: Date): Promise<string | null> {
  const why = await attestRefusal(row.signers[0] ?? null, ring, { policy: deps.policy, now });
  return why === null ? null : line('reason-apply-voucher-lapsed', { why });
}

/** key-and-source.md already names every one of `releases` for this key id. */
async function sourceRowsHeld(col: Collection, keyId: string, releases: readonly string[]): Promise<boolean> {
  const rows = sourceRows(await col.sourceList());
  return releases.every((r) => rows.some((row) => row.keyId === keyId && row.release.toLowerCase() === r.toLowerCase()));
}

function whatOf(row: ChangeRow, ticket: Pick<TicketRow, 'kind' | 'subject' | 'content'> | undefined): string {
  if (ticket) return describeTicket(ticket);
  switch (row.kind) {
    case 'add-key': return clause('what-new-key', { key: row.subject });
    case 'update-key': return clause('what-update-of-key', { key: row.subject });
    case 'revoke-key': return clause('what-revocation-of-key', { key: row.subject });
    case 'add-cert': return clause('what-certificate', { name: row.subject });
    case 'attest': return clause('what-attestation', { subject: row.subject });
    case 'add-source-key': return clause('what-source-key', { key: row.subject, releases: '' });
    case 'add-source-release': return clause('what-source-release', { key: row.subject, releases: '' });
    case 'root': return clause('what-root', { digest: row.subject });
  }
}

/** Approvals that no longer reach the threshold when the change is applied, and whom to tell. */
interface LapsedApprovals {
  error: string;
  /** How many still count. */
  approvals: number;
  /** How many must (the config's threshold, or the current root's if higher). */
  threshold: number;
  /** One sentence per approval that lapsed. */
  notCounted: string[];
  /** The maintainers' addresses (from their collection keys). */
  maintainers: string[];
}

/**
 * The ticket's approvals counted with the votes' own rule at `now`: null
 * while they still reach the threshold, else why not and whom to tell.
 */
async function approvalsLapsed(ticketId: string, col: Collection, ring: Keyring, deps: ApplyDeps, now: Date): Promise<LapsedApprovals | null> {
  const cfg = deps.config;
  // A root published since the votes (the running worker's config may not
  // follow it yet: rule root-mismatch) decides too: only maintainers both
  // name count, and its threshold if higher. A maintainer the root removed
  // must not complete a ticket the apply queue had not written yet.
  const root = currentRootOf(col.dir)?.doc;
  const maintainers = root ? cfg.maintainers.filter((m) => root.maintainers.includes(m.toUpperCase())) : cfg.maintainers;
  const threshold = Math.max(cfg.threshold, root?.threshold ?? 0);
  const votes = await deps.store.getVotes(ticketId);
  const counted = await countApprovals(votes, approvalCheck({ keyring: ring, policy: deps.policy, maintainers, now }));
  if (counted.approvals.length >= threshold) return null;
  const unrooted = root ? [...new Set(votes.filter((v) => v.vote === 'approve').map((v) => v.voter.toUpperCase()))]
    .filter((v) => cfg.maintainers.some((m) => m.toUpperCase() === v) && !root.maintainers.includes(v)) : [];
  counted.notCounted.push(...unrooted.map((voter) => `${line('lapse-who', { voter })}: ${line('lapse-not-in-root', { version: root!.version })}`));
  const contacts = await maintainerContacts(cfg, ring, deps.policy, now);
  return {
    error: line('reason-approvals-lapsed', {
      ticket: ticketId, approvals: counted.approvals.length, threshold, notCounted: counted.notCounted.join('; '),
    }),
    approvals: counted.approvals.length,
    threshold,
    notCounted: counted.notCounted,
    maintainers: [...new Set(contacts.map((c) => c.address).filter((a): a is string => a !== null))],
  };
}

export async function applyChange(id: string, deps: ApplyDeps): Promise<ApplyOutcome> {
  const { store, logger } = deps;
  const now = deps.now?.() ?? new Date();
  const row = await store.getChange(id);
  if (!row) return { state: 'skipped', outboxIds: [], commit: null, logIndex: null, detail: 'no such change' };
  if (row.state !== 'queued') return { state: 'skipped', outboxIds: [], commit: null, logIndex: null, detail: `already ${row.state}` };
  // Before anything is written: state.db, the collection and the log must
  // agree (src/state/consistency.ts). A StateError leaves the change queued
  // and nothing written; the start check names the repair.
  await assertConsistent({ dataDir: deps.config.dataDir, deep: false, store });
  if (row.kind === 'attest') {
    if (deps.applyAttestation) return deps.applyAttestation(row);
    const error = clause('reason-apply-no-log', {});
    await store.commitEffects([{ kind: 'change-finish', changeId: id, state: 'failed', commit: null, logIndex: null, error }], []);
    return { state: 'failed', outboxIds: [], commit: null, logIndex: null, detail: error };
  }
  // A trust-root version: its own steps (approvals re-checked from the signed bytes), same single writer.
  if (row.kind === 'root') return applyRootChange(row, deps);
  const log = logger.child({ change: id });
  const col = await collectionOf(deps.config);
  const ticket = row.ticketId ? await store.getTicket(row.ticketId) : undefined;
  const what = whatOf(row, ticket);

  /** `lapsed`: the failure is that approvals lapsed; its notice replaces notice-failed and goes to the maintainers too. */
  const finish = async (state: 'applied' | 'failed', commit: string | null, logIndex: number | null, error: string | null, nothing = false, lapsed?: LapsedApprovals): Promise<ApplyOutcome> => {
    const effects: StoreEffect[] = [{ kind: 'change-finish', changeId: id, state, commit, logIndex, error }];
    // The ticket follows the change when the machine takes the event (an
    // approved ticket); a change whose ticket is gone or closed is finished alone.
    const event = state === 'applied' ? { kind: 'apply' as const } : { kind: 'fail' as const, error };
    if (ticket && nextState(ticket.state, event.kind) !== null) effects.push(transition(ticket, event));
    const outbox = [];
    const lapsedProse = lapsed && render('notice-approvals-lapsed', {
      ticket: ticket?.id ?? row.ticketId, what, approvals: lapsed.approvals, threshold: lapsed.threshold, notCounted: lapsed.notCounted,
    });
    if (lapsed && lapsedProse && lapsed.maintainers.length) {
      outbox.push(...(await composeNotice(deps.config, deps.signer, {
        id: `lapsed:${id}`, to: lapsed.maintainers, subject: line('subject-approvals-lapsed', { what }), status: 'error',
        fields: ticket ? { Ticket: ticket.id } : {}, prose: lapsedProse,
      }, log)).rows);
    }
    if (row.requester) {
      const fields: Record<string, string> = {};
      if (ticket) fields.Ticket = ticket.id;
      if (logIndex !== null) fields['Log-Index'] = String(logIndex);
      outbox.push(...(await composeNotice(deps.config, deps.signer, {
        id: `${state}:${id}`,
        to: [row.requester],
        subject: line(state === 'applied' ? 'subject-change-applied' : 'subject-change-not-applied', { what }),
        status: state === 'applied' ? 'applied' : 'error',
        fields,
        prose: state === 'applied'
          ? render('notice-applied', { what, ticket: ticket?.id ?? null, commit, logIndex: logIndex !== null ? String(logIndex) : null,
            approvers: row.approvers.length ? row.approvers.join(', ') : null, nothing })
          : lapsedProse || render('notice-failed', { what, ticket: ticket?.id ?? null, reason: error }),
        inReplyTo: row.parentMessageId,
      }, log)).rows);
    }
    const r = await store.commitEffects(effects, outbox);
    log.info({ state, commit, logIndex, error }, `change ${state}`);
    return { state, outboxIds: r.outboxIds, commit, logIndex, ...(error ? { detail: error } : {}) };
  };

  // 1. A crash after the commit and before the store update left the commit: finish, do not apply again.
  const done = await findAppliedCommit(col, id);
  if (done) {
    log.warn({ commit: done.commit }, 'change was committed before a crash; recording it');
    return finish('applied', done.commit, done.logIndex ?? row.logIndex, null);
  }

  // 2. Re-check against the collection as it is now.
  let payload: ChangePayload;
  try {
    payload = parsePayload(row.payload);
  } catch (err) {
    return finish('failed', null, null, clause('reason-apply-damaged', { error: (err as Error).message }));
  }
  const ring = await col.keyring();

  // The approvals, counted again now. Not once the log holds the change:
  // the log is the authority and the collection must follow it.
  if (ticket && row.logIndex === null) {
    const lapsed = await approvalsLapsed(ticket.id, col, ring, deps, now);
    if (lapsed) return finish('failed', null, null, lapsed.error, false, lapsed);
  }
  const planned = await planChange(col, ring, payload, row, deps, now);
  if (!planned.ok || planned.plan.noop) {
    // The log already holds this change (an earlier attempt logged it, then
    // the commit failed): the collection must follow the log, so neither
    // "applied" without a commit nor "failed" may be told to the member.
    if (row.logIndex !== null) {
      throw new StateError([{
        code: 'STATE_COLLECTION_BEHIND', file: col.dir,
        message: `change ${id} is in the log at index ${row.logIndex} but its commit is missing, and the collection ${planned.ok ? 'already holds the change without that commit' : `refuses it now (${planned.reason})`}`,
        repair: `look at \`git -C ${col.dir} log\` and \`git -C ${col.dir} status\`; commit the change by hand with the trailer "Ztrust-Log-Index: ${row.logIndex}"`,
      }]);
    }
    if (!planned.ok) return finish('failed', null, null, planned.reason);
    return finish('applied', null, null, null, true);
  }
  const { plan } = planned;

  // 3. The log entry first, so its index can go into the commit.
  let logIndex = row.logIndex;
  if (logIndex === null && deps.logAppend) {
    const entry: LogEntry = {
      ...plan.entry,
      signers: row.signers,
      time: isoSeconds(now),
      source: row.sourceDigest,
      ...(row.ticketId ? { ticket: row.ticketId } : {}),
      ...(row.approvers.length ? { approvers: row.approvers } : {}),
    };
    logIndex = await deps.logAppend(entry, id);
    if (logIndex !== null) await store.setChangeLogIndex(id, logIndex);
  }

  // 4. The collection: one commit, with trailers.
  const trailers: Record<string, string | string[]> = { 'Ztrust-Change': id };
  if (row.ticketId) trailers['Ztrust-Ticket'] = row.ticketId;
  if (row.approvers.length) trailers['Ztrust-Approved-By'] = row.approvers;
  if (logIndex !== null) trailers['Ztrust-Log-Index'] = String(logIndex);
  const { commit } = await col.apply(plan.write, {
    message: plan.message,
    trailers,
    signer: async (data) => (await deps.signer.signDetached(data)).armored,
    date: now,
  });
  if (commit === null && logIndex !== null) {
    // A logged change that committed nothing: never "applied" to the member.
    throw new StateError([{
      code: 'STATE_COLLECTION_BEHIND', file: col.dir,
      message: `change ${id} is in the log at index ${logIndex}, but committing it changed no file`,
      repair: `look at \`git -C ${col.dir} log\`: another commit may hold the change without the trailer "Ztrust-Log-Index: ${logIndex}"`,
    }]);
  }

  // 5. Store and notice in one transaction.
  try {
    return await finish('applied', commit, logIndex, null, commit === null);
  } catch (err) {
    if (err instanceof StoreError && err.code === 'STORE_CONFLICT') {
      // Another worker finished it meanwhile (only possible with a second process).
      return { state: 'skipped', outboxIds: [], commit, logIndex, detail: 'finished elsewhere' };
    }
    throw err;
  }
}
