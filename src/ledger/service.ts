/**
 * The bot's transparency log: the one append path, the attestation index and
 * the checkpoint history, on top of the log library (src/tlog).
 *
 * Single writer. The log directory is locked by one process
 * (TransparencyLog.open takes <data>/log/.lock), and inside that process
 * every append goes through `appendEntries`, which runs one at a time. The
 * apply step (concurrency 1) calls it for collection changes; ATTEST calls
 * it from its handler (see src/commands/attest.ts for why that is safe).
 * Requests that queue up while an append is in flight are written together
 * as one log append (group commit: one round of fsyncs and one checkpoint),
 * each with its own key, row and range below.
 *
 * Crash safety between the log and the state store. The log and SQLite
 * cannot commit in one transaction, so every append is bracketed:
 *
 *   1. store: `log_appends` row (key, first index, count, digest of the
 *      entries' leaf hashes), state pending;
 *   2. log: entries and tiles, then the signed checkpoint (the commit point);
 *   3. store, one transaction: the row done, the attestation index rows,
 *      the new checkpoint kept in the history.
 *
 * A crash between 1 and 3 leaves a pending row. On the next open (and
 * after any failed append) the row is settled from the log itself: if the
 * log holds entries at [first, first+count) whose leaf hashes match the
 * digest, the append happened and step 3 is done now from the entries in
 * the log; otherwise it never committed and the row is dropped. Callers pass
 * an idempotency key (`attest:<message digest>`, `change:<id>`): asking
 * again with a key that is done returns the earlier indexes and writes
 * nothing, so a message processed twice after a crash is logged once.
 *
 * The attestation index (digest -> log index) is a lookup for VERIFY. It is
 * derived from the log and not itself verifiable: a digest missing from it
 * is not a proof of absence, and replies say so.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AttestationRecord, LogIndexRows, SourceVouchRecord, StateStore } from '../store/types.js';
import { parseRelease } from '../collection/naming.js';
import {
  formatEntry,
  leafHash,
  parseEntry,
  parseSignerKey,
  TlogError,
  TransparencyLog,
  type LogEntry,
  type NoteSigner,
  type TransparencyLogOptions,
} from '../tlog/index.js';
import { LogServiceError } from './errors.js';
import { dataLayout } from '../datadir.js';
import { TLOG_BOUNDS } from '../limits.js';

export interface LogServiceOptions {
  /** The log directory (<data>/log). */
  dir: string;
  /** Checkpoint origin; must equal the log key's name. */
  origin: string;
  /** The log's signer key text (`PRIVATE+KEY+<name>+...`) or parsed signer. */
  signer: string | NoteSigner;
  store: StateStore;
  logger?: Logger;
  maxEntryBytes?: number;
  /** Fault injection for crash tests only (passed to the log). */
  testHooks?: TransparencyLogOptions['testHooks'];
}

export interface AppendOutcome {
  /** Index of each entry, in the order given. */
  indexes: number[];
  firstIndex: number;
  /** A signed checkpoint that commits to the entries (the current one when reused). */
  checkpoint: string;
  /** The key was already appended: nothing new was written, the indexes are the earlier ones. */
  reused: boolean;
}

export interface StoredEntry {
  index: number;
  bytes: Buffer;
  entry: LogEntry;
}

/** SHA-256 over the concatenated leaf hashes: recognises a batch of entries in the log. */
export function entriesDigest(entries: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(leafHash(e));
  return h.digest('hex');
}

/** The attestation index rows for entries appended from `firstIndex` on (other entry types are not indexed). */
/**
 * What the store indexes beside a finished append: attestations (VERIFY
 * <digest>) and the releases source-signing keys are vouched for (VERIFY
 * <release>, the structured index of key-and-source.md). Built from the
 * entries themselves, in the same transaction that marks the append done,
 * so the index never names an entry the log does not hold.
 */
export function indexRows(firstIndex: number, entries: readonly LogEntry[]): Required<LogIndexRows> {
  const attestations: AttestationRecord[] = [];
  const sourceVouches: SourceVouchRecord[] = [];
  entries.forEach((e, i) => {
    const logIndex = firstIndex + i;
    if (e.type === 'attestation') {
      attestations.push({ logIndex, digest: e.subject, name: e.name ?? '', signer: e.signers[0] ?? '', source: e.source, time: e.time });
    } else if (e.type === 'source-key-added' || e.type === 'source-release-added') {
      for (const release of (e.name ?? '').split(' ')) {
        const r = parseRelease(release);
        if (!r) continue;
        sourceVouches.push({
          logIndex, release, package: r.package, fingerprint: e.subject, voucher: e.signers[0] ?? '', ticket: e.ticket ?? '', time: e.time, type: e.type,
        });
      }
    }
  });
  return { attestations, sourceVouches };
}

/** An appendEntries call waiting for the writer. */
interface Queued {
  key: string;
  entries: readonly LogEntry[];
  bytes: Buffer[];
  resolve: (out: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

export class LogService {
  #log: TransparencyLog;
  #tail: Promise<unknown> = Promise.resolve();
  /** Requests not yet taken by the writer, in arrival order. */
  #queue: Queued[] = [];
  /** A writer task is on #tail and will take the queue. */
  #scheduled = false;
  #closed = false;
  /** Set when step 3 failed or an append failed: settle pending rows before the next append. */
  #unsettled = false;
  /** Set when reopening the log after a failed append failed too: try again before the next append. */
  #broken = false;

  private constructor(
    log: TransparencyLog,
    private readonly opts: LogServiceOptions & { signer: NoteSigner },
  ) {
    this.#log = log;
  }

  /** Opens the log (taking its directory lock) and settles appends a crash left pending. */
  static async open(opts: LogServiceOptions): Promise<LogService> {
    const signer = typeof opts.signer === 'string' ? parseSignerKey(opts.signer) : opts.signer;
    if (signer.name !== opts.origin) {
      throw new LogServiceError('LOG_CONFIG',
        `log.origin ${JSON.stringify(opts.origin)} is not the name of the log key (${JSON.stringify(signer.name)}); ` +
        `set log.origin to ${JSON.stringify(signer.name)}, or make a new log key for the new origin`);
    }
    const full = { ...opts, signer };
    const log = await TransparencyLog.open(opts.dir, logOptions(full));
    const svc = new LogService(log, full);
    try {
      await svc.#settle();
      await opts.store.recordCheckpoint(log.size(), log.checkpoint());
    } catch (err) {
      await log.close();
      throw err;
    }
    return svc;
  }

  /** Opens the log of a loaded config: <data>/log, the key in log.keyFile, log.origin. */
  static async fromConfig(cfg: LoadedConfig, store: StateStore, logger?: Logger): Promise<LogService> {
    const layout = dataLayout(cfg.dataDir);
    const keyFile = layout.resolve(cfg.log.keyFile);
    let text: string;
    try {
      text = await readFile(keyFile, 'utf8');
    } catch (err) {
      throw new ConfigError('CONFIG_SECRET', `log key: cannot read ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}`);
    }
    let signer: NoteSigner;
    try {
      signer = parseSignerKey(text.trim());
    } catch (err) {
      throw new ConfigError('CONFIG_SECRET', `log key ${keyFile} is not a signed-note private key: ${describeError(err)}`);
    }
    return LogService.open({
      dir: layout.log, origin: cfg.log.origin, signer, store, logger, maxEntryBytes: cfg.limits.maxLogEntryBytes,
    });
  }

  get origin(): string {
    return this.opts.origin;
  }

  get dir(): string {
    return this.opts.dir;
  }

  size(): number {
    return this.#log.size();
  }

  checkpoint(): string {
    return this.#log.checkpoint();
  }

  verifierKey(): string {
    return this.#log.verifierKey();
  }

  /**
   * Appends entries as one batch and returns their indexes. With a `key`
   * that was appended before, nothing is written and the earlier indexes
   * come back (`reused`). Entries over the size limit are refused before
   * anything is written (LimitError LIMIT_LOG_ENTRY), as are invalid ones
   * (TlogError TLOG_ENTRY_INVALID).
   */
  appendEntries(entries: readonly LogEntry[], opts: { key?: string } = {}): Promise<AppendOutcome> {
    if (entries.length === 0) return Promise.reject(new TlogError('TLOG_ENTRY_INVALID', 'append needs at least one entry'));
    let bytes: Buffer[];
    try {
      bytes = entries.map((e) => formatEntry(e, this.opts.maxEntryBytes));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const key = opts.key ?? `anon:${randomBytes(12).toString('hex')}`;
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.#queue.push({ key, entries, bytes, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Group commit: one serial task takes every request queued by the time it
   * runs and appends them as one log append (one round of fsyncs and one
   * signed checkpoint instead of one per request). Each request keeps its
   * own idempotency key and its own `log_appends` row with its own range, so
   * the crash bracket and its settling are exactly those of a lone append.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    void this.#serial(async () => {
      this.#scheduled = false;
      const group = this.#takeGroup();
      try {
        await this.#run(group);
      } catch (err) {
        // #run settles every request itself; this only guards against a
        // bug leaving a caller waiting forever (settling twice is a no-op).
        for (const q of group) q.reject(err);
      }
    });
  }

  /** The queued requests for one log append: in order, no key twice (a repeat waits for the next group and is reused there), bounded in size. */
  #takeGroup(): Queued[] {
    const group: Queued[] = [];
    const keys = new Set<string>();
    let count = 0;
    let bytes = 0;
    for (let i = 0; i < this.#queue.length; ) {
      const q = this.#queue[i];
      const size = q.bytes.reduce((n, b) => n + b.length, 0);
      const fits = group.length === 0 || (count + q.bytes.length <= TLOG_BOUNDS.groupMaxEntries && bytes + size <= TLOG_BOUNDS.groupMaxBytes);
      if (!fits) break;
      if (keys.has(q.key)) {
        i++;
        continue;
      }
      keys.add(q.key);
      group.push(q);
      count += q.bytes.length;
      bytes += size;
      this.#queue.splice(i, 1);
    }
    if (this.#queue.length > 0) this.#schedule();
    return group;
  }

  /** Convenience for the apply step: one entry, its index. */
  async appendEntry(entry: LogEntry, key?: string): Promise<number> {
    return (await this.appendEntries([entry], key === undefined ? {} : { key })).firstIndex;
  }

  /** One group: settles each request (resolve or reject), never throws. */
  async #run(group: Queued[]): Promise<void> {
    try {
      this.#usable();
      if (this.#broken) await this.#reopen();
      if (this.#unsettled) await this.#settle();
    } catch (err) {
      for (const q of group) q.reject(err);
      return;
    }
    const fresh: Queued[] = [];
    for (const q of group) {
      try {
        const earlier = await this.#earlier(q);
        if (earlier) q.resolve(earlier);
        else fresh.push(q);
      } catch (err) {
        q.reject(err);
      }
    }
    if (fresh.length > 0) await this.#appendFresh(fresh);
  }

  /** The outcome of an earlier append with this key, or null when the key is new. */
  async #earlier({ key, bytes }: Queued): Promise<AppendOutcome | null> {
    const store = this.opts.store;
    const known = await store.getLogAppend(key);
    if (known?.state === 'done') {
      if (known.count !== bytes.length) {
        throw new LogServiceError('LOG_KEY_REUSED', `log append ${key} had ${known.count} entries, now ${bytes.length}`);
      }
      return this.#outcome(known.fromIndex, known.count, this.#log.checkpoint(), true);
    }
    if (known) {
      // Pending although settled: only a store that failed to drop it. Try once more.
      await this.#settle();
      const again = await store.getLogAppend(key);
      if (again?.state === 'done') return this.#outcome(again.fromIndex, again.count, this.#log.checkpoint(), true);
      if (again) throw new LogServiceError('LOG_RECOVERY', `log append ${key} is still pending after recovery`);
    }
    return null;
  }

  /** Steps 1-3 of the bracket for requests whose keys are new, as one log append. */
  async #appendFresh(group: Queued[]): Promise<void> {
    const store = this.opts.store;
    const from = this.#log.size();
    const rows: Array<{ q: Queued; fromIndex: number }> = [];
    let to = from;
    for (const q of group) {
      rows.push({ q, fromIndex: to });
      to += q.bytes.length;
    }
    try {
      for (const { q, fromIndex } of rows) {
        await store.beginLogAppend({ key: q.key, fromIndex, count: q.bytes.length, entriesDigest: entriesDigest(q.bytes) });
      }
    } catch (err) {
      this.#unsettled = true; // rows already begun are dropped by the next settle (the log never reached them)
      for (const q of group) q.reject(err);
      return;
    }
    let checkpoint: string;
    try {
      checkpoint = (await this.#log.append(group.flatMap((q) => q.bytes))).checkpoint;
    } catch (err) {
      // The log may or may not have committed (a failure after the
      // checkpoint rename, say). Reopen from disk and let the log decide.
      this.opts.logger?.error({ err: describeError(err), keys: group.map((q) => q.key) }, 'log append failed; reopening the log to settle it');
      try {
        await this.#reopen();
      } catch (again) {
        this.opts.logger?.error({ err: describeError(again) }, 'the log could not be reopened; retrying before the next append');
        for (const q of group) q.reject(err);
        return;
      }
      for (const { q } of rows) {
        const after = await store.getLogAppend(q.key).catch(() => undefined);
        if (after?.state === 'done') q.resolve(this.#outcome(after.fromIndex, after.count, this.#log.checkpoint(), false));
        else q.reject(err);
      }
      return;
    }
    for (const { q, fromIndex } of rows) {
      try {
        await store.finishLogAppend(q.key, {
          ...indexRows(fromIndex, q.entries),
          checkpoint: { size: to, note: checkpoint },
        });
        q.resolve(this.#outcome(fromIndex, q.bytes.length, checkpoint, false));
      } catch (err) {
        this.#unsettled = true;
        q.reject(new LogServiceError('LOG_INDEX',
          `entries ${fromIndex}..${fromIndex + q.bytes.length - 1} are in the log, but the state store could not record them (${describeError(err)}); ` +
          'they are indexed when the log is next opened', { cause: err }));
      }
    }
  }

  #outcome(from: number, count: number, checkpoint: string, reused: boolean): AppendOutcome {
    return { firstIndex: from, indexes: Array.from({ length: count }, (_, i) => from + i), checkpoint, reused };
  }

  /** Settles every pending append against the log (see the module comment). */
  async #settle(): Promise<void> {
    const store = this.opts.store;
    for (const rec of await store.pendingLogAppends()) {
      const size = this.#log.size();
      const end = rec.fromIndex + rec.count;
      if (size < end) {
        // The checkpoint never committed to these entries. A request later
        // in an interrupted group starts past the log's end: that is the
        // normal case, not a misfit.
        if (size > rec.fromIndex) {
          this.opts.logger?.warn({ key: rec.key, from: rec.fromIndex, count: rec.count, size }, 'pending log append does not fit the log; dropping it');
        }
        await store.abandonLogAppend(rec.key);
        continue;
      }
      const stored: Buffer[] = [];
      for (let i = rec.fromIndex; i < end; i++) stored.push(await this.#log.entry(i));
      if (entriesDigest(stored) !== rec.entriesDigest) {
        // Other entries sit there: this append did not happen.
        this.opts.logger?.warn({ key: rec.key, from: rec.fromIndex }, 'pending log append: other entries at its position; dropping it');
        await store.abandonLogAppend(rec.key);
        continue;
      }
      const entries = stored.map((b) => parseEntry(b));
      // The exact checkpoint of that append may be lost; the current one commits to it as well.
      await store.finishLogAppend(rec.key, { ...indexRows(rec.fromIndex, entries), checkpoint: { size, note: this.#log.checkpoint() } });
      this.opts.logger?.info({ key: rec.key, from: rec.fromIndex, count: rec.count }, 'recovered a log append interrupted by a crash');
    }
    this.#unsettled = false;
  }

  async #reopen(): Promise<void> {
    this.#broken = true;
    await this.#log.close().catch(() => undefined);
    this.#log = await TransparencyLog.open(this.opts.dir, logOptions(this.opts));
    this.#broken = false;
    await this.#settle();
  }

  #usable(): void {
    if (this.#closed) throw new TlogError('TLOG_CLOSED', 'the log service has been closed');
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Entry `index`, checked against the tiles and parsed. */
  async entry(index: number): Promise<StoredEntry> {
    this.#usable();
    const bytes = await this.#log.entry(index);
    return { index, bytes, entry: parseEntry(bytes) };
  }

  /** A c2sp.org/tlog-proof@v1 block for entry `index` against the current checkpoint. */
  proofBlock(index: number): Promise<string> {
    this.#usable();
    return this.#log.proofBlock(index);
  }

  /** A consistency block from `oldCheckpoint` (null: the empty tree) to the current checkpoint. */
  consistencyBlock(oldCheckpoint: string | null): Promise<string> {
    this.#usable();
    return this.#log.consistencyBlock(oldCheckpoint);
  }

  /** The signed checkpoint this log issued at `size`, from the history. */
  async checkpointAt(size: number): Promise<string> {
    if (size === this.#log.size()) return this.#log.checkpoint();
    const note = await this.opts.store.getCheckpoint(size);
    if (note === undefined) throw new LogServiceError('LOG_NO_CHECKPOINT', `the log has no recorded checkpoint at size ${size}`);
    return note;
  }

  findAttestations(digest: string): Promise<AttestationRecord[]> {
    return this.opts.store.findAttestations(digest);
  }

  /** Waits for appends in flight, then releases the directory lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Requests a group left for later (over its bounds, or a key repeated
    // in the burst) are scheduled behind the tail we wait on: wait until
    // the queue is empty, so an accepted request is appended, not refused.
    for (;;) {
      await this.#tail;
      if (!this.#queue.length && !this.#scheduled) break;
      if (!this.#scheduled) this.#schedule();
    }
    this.#closed = true;
    await this.#log.close();
  }
}

function logOptions(o: LogServiceOptions & { signer: NoteSigner }): TransparencyLogOptions {
  return {
    origin: o.origin, signer: o.signer,
    ...(o.maxEntryBytes !== undefined ? { maxEntryBytes: o.maxEntryBytes } : {}),
    ...(o.testHooks ? { testHooks: o.testHooks } : {}),
  };
}

/**
 * Opens the log on first use and keeps it open: a worker takes the
 * directory lock only once something needs the log, and a CLI command that
 * never touches it does not contend with a running worker. A failed open is
 * retried on the next call. Once closed it stays closed: work a stop cut
 * short left behind (queue/runner.ts, cutShort) must not open the log, and
 * take its lock, after the process let it go.
 */
export class LazyLog {
  #opening: Promise<LogService> | null = null;
  #closed = false;
  constructor(private readonly opener: () => Promise<LogService>) {}

  get(): Promise<LogService> {
    if (this.#closed) return Promise.reject(new LogServiceError('LOG_CLOSED', 'the transparency log was closed: this process is stopping'));
    if (!this.#opening) {
      const p = this.opener();
      this.#opening = p;
      p.catch(() => {
        if (this.#opening === p) this.#opening = null;
      });
    }
    return this.#opening;
  }

  /** True once an open was started (and not failed). */
  get started(): boolean {
    return this.#opening !== null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const p = this.#opening;
    this.#opening = null;
    if (!p) return;
    const svc = await p.catch(() => null);
    await svc?.close();
  }
}
