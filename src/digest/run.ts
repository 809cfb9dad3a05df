/**
 * One digest cycle (the scheduler's job, and `ztrust-bot digest --now`):
 *
 *   1. finish distributing the latest stored digest if a crash interrupted it
 *      (outbox rows have deterministic ids, so nothing is sent twice);
 *   2. if the log grew since the latest digest (or empty digests are wanted),
 *      build digest n+1 from the log entries since then, sign it, store it in
 *      <data>/digests (the commit point of its number), queue one signed mail
 *      per recipient, and commit it to the collection's digests/ folder;
 *   3. queue the expiry reminders that are due (each once per key, expiry
 *      date and stage).
 *
 * Source of truth for "every change since the previous digest" is the
 * transparency log, read through a verified read-only view (logview.ts): a
 * digest covers log entries [previous digest's tree size, current size),
 * carries the current signed checkpoint and a consistency proof from the
 * previous digest's checkpoint. If the log no longer extends what the
 * previous digest published (rolled back, forked), no digest is made and the
 * cycle fails loudly: that is exactly what digests exist to expose.
 *
 * Cycles are serialised by a lock file in <data>/digests, so the scheduler
 * and an operator's `digest --now` cannot number two digests alike. Sending
 * is the caller's part: it enqueues (or sends) `outboxIds`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { Collection } from '../collection/collection.js';
import { removeStaleTemps, writeFileAtomic } from '../fsync/atomic.js';
import { withLock } from '../fsync/lock.js';
import type { Logger } from '../logger.js';
import * as openpgp from 'openpgp';
import { coSigner, type BotSigner } from '../pgp/botkey.js';
import { currentRootOf } from '../root/draft.js';
import type { CryptoPolicy } from '../policy/index.js';
import { queueDigestCopies, queueReminders, type ReminderMail } from '../outbound/digest.js';
import type { StateStore } from '../store/types.js';
import { parseConsistencyBlock, parseEntry } from '../tlog/index.js';
import { describeError } from '../errors.js';
import { DigestArchive, digestFileName, type StoredDigest } from './archive.js';
import { DigestError } from './errors.js';
import { expiringKeys, type ExpiringKeyInfo } from './key-expiry.js';
import { digestSubject, formatDigest, type DigestEntry } from './format.js';
import { openLogView } from './logview.js';
import { digestOutboxId, digestRecipients, reminderFor } from './mail.js';
import { digestSha256 } from './text.js';
import { dataLayout } from '../datadir.js';

export interface DigestDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  policy: CryptoPolicy;
  logger: Logger;
  /**
   * A retired bot key's signer, by fingerprint or key ID (src/root/rotation.ts):
   * the first digest after a rotation is co-signed by the key that signed
   * the one before. Absent or null: that digest is signed by the new key alone.
   */
  retiredSigner?: (issuer: string) => Promise<BotSigner | null>;
}

export interface DigestOptions {
  now?: Date;
  /** Send a digest even when the log did not grow (config digest.sendEmpty does the same). */
  allowEmpty?: boolean;
}

export interface DigestSummary {
  number: number;
  file: string;
  changes: number;
  revocations: number;
  attestations: number;
  recipients: number;
}

export interface DigestCycleResult {
  /** The digest made by this cycle, if any. */
  digest: DigestSummary | null;
  /** An earlier digest whose distribution this cycle completed (after a crash). */
  resumed: number | null;
  /** Why no digest was made, when none was. */
  skipped: string | null;
  /** Every outbox row this cycle is responsible for (digest mails, due reminders); some may already be sent. */
  outboxIds: string[];
  /** Reminder rows created by this cycle. */
  reminders: number;
}

/** Meta key: the number of the last digest whose mails are queued and which is committed to the collection. */
export const DISTRIBUTED_META = 'digest.distributed';

export function digestsDir(cfg: LoadedConfig): string {
  return dataLayout(cfg.dataDir).digests;
}

async function openCollection(cfg: LoadedConfig, readOnly: boolean): Promise<Collection | null> {
  const dir = dataLayout(cfg.dataDir).collection;
  if (readOnly && !existsSync(dir)) return null;
  return Collection.open(dir, readOnly ? { readOnly: true } : { committer: { name: cfg.bot.name, email: cfg.bot.address } });
}

/** The keys that signed a stored digest: fingerprints, or key IDs where a signature names only that. */
export async function digestSigners(signed: string): Promise<string[]> {
  const msg = await openpgp.readCleartextMessage({ cleartextMessage: signed });
  return [...new Set(msg.getSigningKeyIDs().map((id) => id.toHex().toUpperCase()))];
}

/**
 * Which of a digest's issuers are keys of `signer`: the primary or any
 * subkey. A key with a signing subkey signs with the subkey, whose key ID
 * is no suffix of the primary's fingerprint; read as another key, every
 * digest would announce a rotation that never happened.
 */
async function ownIssuers(signer: BotSigner, issuers: readonly string[]): Promise<Set<string>> {
  const key = await openpgp.readKey({ armoredKey: signer.publicArmored });
  const ids = new Set(key.getKeyIDs().map((id) => id.toHex().toUpperCase()));
  const fpr = signer.fingerprint.toUpperCase();
  return new Set(issuers.filter((i) => ids.has(i.toUpperCase()) || fpr.endsWith(i.toUpperCase())));
}

/**
 * The signer for a digest whose earlier copy was signed by `before`: the
 * bot's key, plus each of those keys that is no longer the bot's and is
 * kept retired (the hand-over from an old key to a new one).
 */
async function handOverSigner(deps: DigestDeps, before: readonly string[]): Promise<{ signer: BotSigner; from: string[]; cosigned: boolean }> {
  const own = await ownIssuers(deps.signer, before);
  const old = before.filter((i) => !own.has(i));
  const olds: BotSigner[] = [];
  for (const i of old) {
    // A retired key that cannot be unlocked (the operator moved to the new
    // key's passphrase) is as good as gone: failing here would stop every
    // digest for good, since only a digest by the new key ends the hand-over.
    const s = await deps.retiredSigner?.(i).catch((err: unknown) => {
      deps.logger.error({ key: i, err: describeError(err) }, 'the retired bot key cannot be used');
      return null;
    });
    if (s) olds.push(s);
    else deps.logger.error({ key: i }, 'the bot key that signed the previous digest is not at hand in keys/retired: the digest announcing the new key is signed by the new key alone');
  }
  return { signer: coSigner(deps.signer, olds), from: olds.length ? olds.map((s) => s.fingerprint) : old, cosigned: olds.length > 0 && olds.length === old.length };
}

/** A digest signed by `before` and by no key of `signer`: the bot's key was rotated since. */
async function signedByAnother(signer: BotSigner, before: readonly string[]): Promise<boolean> {
  return before.length > 0 && (await ownIssuers(signer, before)).size === 0;
}

/**
 * True when the latest digest was not signed by the bot's key: the key was
 * rotated since, and the next digest (made at once by a running worker)
 * announces it.
 */
export async function rotationPending(deps: Pick<DigestDeps, 'config' | 'signer'>): Promise<boolean> {
  const latest = await new DigestArchive(digestsDir(deps.config)).latest().catch(() => null);
  if (!latest) return false;
  return signedByAnother(deps.signer, await digestSigners(latest.signed).catch(() => []));
}

/** Commit the stored digest into the collection's digests/ folder (once: an identical file is left alone). */
async function commitToCollection(deps: DigestDeps, d: StoredDigest): Promise<void> {
  const c = await openCollection(deps.config, false);
  if (!c) return;
  // Already committed (a resumed distribution): leave it. Compared with the
  // committed blob, not the work tree, which a failed commit may have left dirty.
  const committed = await c.git(['show', `HEAD:digests/${digestFileName(d.number)}`]).catch(() => null);
  if (committed === d.signed) return;
  await c.apply(async (col) => {
    await writeFileAtomic(path.join(col.dir, 'digests', digestFileName(d.number)), d.signed);
  }, {
    message: `Digest ${d.number}`,
    trailers: { 'Ztrust-Digest': String(d.number), 'Ztrust-Log-Size': String(d.parsed.treeSize) },
    signer: async (data) => (await deps.signer.signDetached(data)).armored,
  });
}

/** Queue the digest's mails (those not queued yet) and commit it to the collection; returns every digest outbox id. */
async function distribute(deps: DigestDeps, d: StoredDigest, now: Date): Promise<{ ids: string[]; recipients: number }> {
  const { config: cfg, store } = deps;
  const subject = digestSubject(d.parsed);
  const copies = digestRecipients(cfg, await store.listSubscribers()).map((r) => ({
    id: digestOutboxId(d.number, r.address), number: d.number, to: r.address, signing: r.signing, subject, text: d.parsed.text, date: now,
  }));
  // Every copy the gate let through, queued now or before (some may be sent already).
  const ids = (await queueDigestCopies(deps, copies)).filter((q) => !q.outcome.startsWith('refused:')).map((q) => q.id);
  try {
    await commitToCollection(deps, d);
  } catch (err) {
    // The mails are queued; the collection copy is retried by the next cycle
    // (the digest stays "not distributed" until it is committed).
    throw new DigestError('DIGEST_ARCHIVE', `digest ${d.number} is queued for sending but could not be committed to the collection: ${describeError(err)}`, { cause: err });
  }
  await store.setMeta(DISTRIBUTED_META, String(d.number));
  return { ids, recipients: ids.length };
}

export async function runDigestCycle(deps: DigestDeps, opts: DigestOptions = {}): Promise<DigestCycleResult> {
  const { config: cfg, store, signer, logger } = deps;
  const now = opts.now ?? new Date();
  const archive = new DigestArchive(digestsDir(cfg));
  return withLock(dataLayout(cfg.dataDir).locks.digests, async () => {
    const result: DigestCycleResult = { digest: null, resumed: null, skipped: null, outboxIds: [], reminders: 0 };
    await removeStaleTemps(archive.dir); // a crashed cycle's half-written digest file; we hold the lock
    const restored = await archive.restoreFrom(dataLayout(cfg.dataDir).collectionDigests);
    if (restored.length) logger.warn({ restored }, 'digests missing from the data directory were restored from the collection');
    const latest = await archive.latest();
    const distributed = Number((await store.getMeta(DISTRIBUTED_META)) ?? '0');
    if (latest && latest.number > distributed) {
      logger.warn({ digest: latest.number }, 'finishing the distribution of a digest an earlier run left unfinished');
      // Its remaining copies are signed by the keys that signed it (both, for a hand-over digest).
      const { signer: same } = await handOverSigner(deps, await digestSigners(latest.signed));
      result.outboxIds.push(...(await distribute({ ...deps, signer: same }, latest, now)).ids);
      result.resumed = latest.number;
    }

    const log = await openLogView(dataLayout(cfg.dataDir).log);
    const prevSize = latest?.parsed.treeSize ?? 0;
    const size = log?.size ?? 0;
    if (log && size < prevSize) {
      throw new DigestError('DIGEST_LOG', `the log has ${size} entries, fewer than the ${prevSize} digest ${latest!.number} published: it was rolled back or replaced`);
    }
    const collection = await openCollection(cfg, true);
    let expiring: ExpiringKeyInfo[] | null = null;
    const getExpiring = async () => (expiring ??= await expiringKeys(collection, deps.policy, now, cfg.digest.expiryWindowDays));

    // The bot's key changed since the latest digest (a root rotated it):
    // the next digest announces that, signed by the old key and the new.
    const before = latest ? await digestSigners(latest.signed) : [];
    const rotated = await signedByAnother(signer, before);
    if (size === prevSize && !(cfg.digest.sendEmpty || opts.allowEmpty || rotated)) {
      result.skipped = latest ? `nothing changed since digest ${latest.number}` : 'the log has no entries yet';
    } else if (!log) {
      result.skipped = 'the transparency log has no checkpoint yet (the worker creates it when it first runs)';
    } else {
      const prevCheckpoint = latest ? parseConsistencyBlock(latest.parsed.consistency).newCheckpoint : null;
      const consistency = await log.consistencyBlock(prevCheckpoint);
      const entries: DigestEntry[] = [];
      for (let i = prevSize; i < size; i++) {
        const bytes = await log.entry(i);
        try {
          entries.push({ index: i, entry: parseEntry(bytes) });
        } catch (err) {
          entries.push({ index: i, entry: null, error: describeError(err) });
        }
      }
      const number = (latest?.number ?? 0) + 1;
      const handOver = rotated ? await handOverSigner(deps, before) : null;
      const text = formatDigest({
        number, date: now, consistency, entries, expiring: await getExpiring(), windowDays: cfg.digest.expiryWindowDays,
        previous: latest ? { number: latest.number, sha256: digestSha256(latest.parsed.text), date: latest.parsed.date } : null,
        bot: { name: cfg.bot.name, address: cfg.bot.address, fingerprint: signer.fingerprint },
        rotation: handOver ? { from: handOver.from, rootVersion: currentRootOf(dataLayout(cfg.dataDir).collection)?.doc.version ?? null, cosigned: handOver.cosigned } : null,
      });
      const digestSigner = handOver?.signer ?? signer;
      // openpgp.js writes the signed text with CRLF and the armour with LF;
      // the file is kept in LF throughout (a cleartext signature does not
      // depend on line ends), as git and web servers expect.
      const signed = (await digestSigner.signCleartext(text)).replace(/\r\n/g, '\n');
      const file = await archive.write(number, signed);
      const stored = await archive.read(number);
      const sent = await distribute({ ...deps, signer: digestSigner }, stored, now);
      result.outboxIds.push(...sent.ids);
      result.digest = {
        number, file, changes: stored.parsed.changes, revocations: stored.parsed.revocations, attestations: stored.parsed.attestations,
        recipients: sent.recipients,
      };
      logger.info({ digest: number, entries: entries.length, recipients: sent.recipients }, 'digest made');
    }

    // Expiry reminders: each once per key, expiry date and stage.
    const due: ReminderMail[] = [];
    for (const k of await getExpiring()) {
      const r = reminderFor(cfg, signer.fingerprint, k, now);
      if (r) due.push(r);
      else logger.warn({ key: k.fingerprint }, 'expiring key has no user ID with a mail address: no reminder sent');
    }
    const queued = await queueReminders(deps, due);
    result.outboxIds.push(...queued.filter((q) => q.outcome === 'in-outbox' || q.outcome === 'queued').map((q) => q.id));
    result.reminders = queued.filter((q) => q.outcome === 'queued').length;
    return result;
  }, { timeoutMs: 10 * 60_000 });
}

/** What `digest` without --now prints: where things stand. */
export async function digestStatus(deps: Pick<DigestDeps, 'config' | 'store'>): Promise<{ latest: number | null; distributed: number; subscribers: number; logSize: number | null }> {
  const archive = new DigestArchive(digestsDir(deps.config));
  const ns = await archive.numbers();
  const log = await openLogView(dataLayout(deps.config.dataDir).log).catch(() => null);
  return {
    latest: ns.length ? ns[ns.length - 1] : null,
    distributed: Number((await deps.store.getMeta(DISTRIBUTED_META)) ?? '0'),
    subscribers: (await deps.store.listSubscribers()).length,
    logSize: log?.size ?? null,
  };
}
