/**
 * The apply step for ATTEST requests (change kind `attest`): the lines the
 * handler accepted become log entries in one batch, and the requester gets
 * a signed notice (Status: applied) with each line's log index, the signed
 * checkpoint and, for up to REPLY_BOUNDS.attestProofs lines, the entry and its inclusion
 * proof. No collection file changes, so there is no git commit.
 *
 * Crash safety: the batch is appended with the idempotency key
 * `change:<id>` (src/ledger/service.ts), and the change is finished and the
 * notice recorded in one store transaction afterwards. A crash in between
 * leaves the change queued; the retried job finds the key done, reuses the
 * same indexes and sends the notice. Nothing is logged twice.
 */
import type { LoadedConfig } from '../config/load.js';
import { StoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import { composeNotice } from '../outbound/notice.js';
import { line } from '../outbound/wording.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { Keyring } from '../pgp/keyring.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { ChangeRow, StateStore } from '../store/types.js';
import { clause, render } from '../templates.js';
import type { LogEntry } from '../tlog/index.js';
import { attestationEntry, type AttestPayload } from '../ledger/attest.js';
import { FRAME_CHECKPOINT, FRAME_ENTRY, FRAME_PROOF, framed, goodLines, hanging, indexList } from '../ledger/replies.js';
import type { LogService } from '../ledger/service.js';
import { attestRefusal } from '../ledger/standing.js';
import { REPLY_BOUNDS } from '../limits.js';

/**
 * What the apply step learns (src/changes/apply.ts ApplyOutcome, which this
 * matches: the apply step calls this through its `applyAttestation` seam, so
 * the log does not import the apply step). No collection commit, ever.
 */
export interface AttestOutcome {
  state: 'applied' | 'failed' | 'skipped';
  /** Notices recorded in the outbox (to enqueue for sending). */
  outboxIds: string[];
  commit: null;
  logIndex: number | null;
  detail?: string;
}

export interface AttestApplyDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  policy: CryptoPolicy;
  logger: Logger;
  /** The log's single writer. */
  log: () => Promise<LogService>;
  /** The collection's keys as they are now. */
  keyring: () => Promise<Keyring>;
  now?: () => Date;
}

function parseAttestPayload(json: string): AttestPayload {
  const p = JSON.parse(json) as AttestPayload;
  if (!p || p.kind !== 'attest' || typeof p.signer !== 'string' || !Array.isArray(p.lines) || p.lines.length === 0) {
    throw new Error('not an ATTEST change payload');
  }
  return p;
}

export async function applyAttestation(row: ChangeRow, deps: AttestApplyDeps): Promise<AttestOutcome> {
  const { store, config: cfg } = deps;
  const now = deps.now?.() ?? new Date();
  const log = deps.logger.child({ change: row.id });

  const finish = async (state: 'applied' | 'failed', logIndex: number | null, error: string | null, notice: { prose: string; fields?: Record<string, string> } | null): Promise<AttestOutcome> => {
    const outbox = [];
    if (row.requester && notice) {
      outbox.push(...(await composeNotice(cfg, deps.signer, {
        id: `${state}:${row.id}`,
        to: [row.requester],
        subject: line(state === 'applied' ? 'subject-attest-logged' : 'subject-attest-not-logged', {}),
        status: state === 'applied' ? 'applied' : 'error',
        ...(notice.fields ? { fields: notice.fields } : {}),
        prose: notice.prose,
        inReplyTo: row.parentMessageId,
      }, log)).rows);
    }
    try {
      const r = await store.commitEffects([{ kind: 'change-finish', changeId: row.id, state, commit: null, logIndex, error }], outbox);
      log.info({ state, logIndex, error }, `attestation ${state}`);
      return { state, outboxIds: r.outboxIds, commit: null, logIndex, ...(error ? { detail: error } : {}) };
    } catch (err) {
      if (err instanceof StoreError && err.code === 'STORE_CONFLICT') return { state: 'skipped', outboxIds: [], commit: null, logIndex, detail: 'finished elsewhere' };
      throw err;
    }
  };

  let p: AttestPayload;
  try {
    p = parseAttestPayload(row.payload);
  } catch (err) {
    const reason = clause('reason-attest-damaged', { error: (err as Error).message });
    return finish('failed', null, reason, { prose: render('attest-not-applied', { reasonLines: hanging('  ', reason, '  ').join('\n'), count: 0 }) });
  }

  // The signer again, as the collection is now: a key revoked, expired or
  // removed since the request was accepted attests nothing.
  const refusal = await attestRefusal(p.signer, await deps.keyring(), { policy: deps.policy, now });
  if (refusal) return finish('failed', null, refusal, { prose: render('attest-not-applied', { reasonLines: hanging('  ', refusal, '  ').join('\n'), count: p.lines.length }) });

  const entries: LogEntry[] = p.lines.map((l) => attestationEntry(l, p.signer, now, row.sourceDigest));
  const svc = await deps.log();
  const out = await svc.appendEntries(entries, { key: `change:${row.id}` });

  // What the log holds (after a reuse, the entries of the first run).
  const stored = await Promise.all(out.indexes.map((i) => svc.entry(i)));
  stored.forEach((s, i) => {
    if (s.entry.subject !== p.lines[i].subject) throw new Error(`log entry ${s.index} is not the attestation of line ${p.lines[i].line}`);
  });
  const shownProofs = Math.min(REPLY_BOUNDS.attestProofs, stored.length);
  const proofs: string[] = [];
  for (const s of stored.slice(0, shownProofs)) {
    proofs.push(framed(FRAME_ENTRY, s.bytes.toString('utf8')) + framed(FRAME_PROOF, await svc.proofBlock(s.index)));
  }
  const checkpoint = svc.checkpoint();
  const prose = render('attest-applied', {
    origin: svc.origin, count: stored.length, one: stored.length === 1, signer: p.signer, reused: out.reused,
    loggedLines: goodLines(p.lines, out.indexes),
    size: svc.size(), checkpoint: framed(FRAME_CHECKPOINT, checkpoint),
    hasProofs: proofs.length > 0, vkey: svc.verifierKey(), proofs: proofs.join('\n'),
    moreProofs: stored.length > shownProofs, shownProofs,
  });
  return finish('applied', out.firstIndex, null, { prose, fields: { 'Log-Index': indexList(out.indexes) } });
}
