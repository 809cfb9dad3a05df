/**
 * IMAP intake with imapflow (NOTES.md, "IMAP with imapflow"):
 * - raw bytes with `source: true` (never `binary`, which decodes);
 * - the new UIDs are found by one UID SEARCH; then, window by window
 *   (the first one fetch batch long, then INTAKE_BOUNDS.sizeWindowMessages),
 *   their sizes are bounded (a UID SEARCH LARGER, and RFC822.SIZE for the
 *   few it finds: `fetchAhead`) and the messages fetched in batches (runs
 *   of messages within the size limit, up to INTAKE_BOUNDS.fetchBatchMessages
 *   / fetchBatchBytes, one UID FETCH each), never by a command inside a
 *   `for await (client.fetch())` loop, which deadlocks;
 * - size first: a message over `limits.maxMessageBytes` is never downloaded,
 *   only its header section (bounded by MAX_HEADER_SECTION_BYTES) is, and it
 *   goes to the sink with its declared size; the source fetch of the others
 *   is itself a partial fetch bounded to one byte over the limit, in case
 *   the server's sizes (SEARCH LARGER, RFC822.SIZE) are wrong;
 * - `n:*` always returns the highest UID even when it is below n, so UIDs are
 *   filtered against the cursor here;
 * - the cursor (UIDVALIDITY, last UID) lives in the state store and advances
 *   past a batch only after every message of it is durably spooled and
 *   queued (a message missing from a batch's answer was expunged meanwhile
 *   and is passed over); a crash re-fetches the batch, and the spool keys
 *   make that one job each. A new UIDVALIDITY rescans the mailbox, and the
 *   store's Message-ID de-duplication stops second replies.
 *
 * Watching (`start()`): we run IDLE ourselves (imapflow's auto-IDLE is off).
 * Its auto-IDLE only starts after 15 s without a command and every mailbox
 * lock release re-arms that timer, so a safety poll every 5 s kept IDLE from
 * ever starting, while the poll itself sent nothing (it read
 * `client.mailbox.exists`, which only untagged responses update): new mail
 * was never seen. Now:
 * - after each drain the connection goes back into IDLE at once, and the
 *   untagged EXISTS that IDLE delivers starts a drain at once;
 * - every drain, the safety poll's included, asks the server (NOOP, then
 *   UID SEARCH of everything past the cursor), never a cached count;
 * - every command is bounded by IMAP_COMMAND_TIMEOUT_MS: a connection that a
 *   firewall or NAT box dropped without telling either end (no FIN, no RST;
 *   kernel keepalive may take many minutes to notice) fails the next poll,
 *   and the client is replaced;
 * - imapflow does not reconnect: on close we build a new client, with
 *   exponential backoff.
 */
import { ImapFlow, type FetchMessageObject } from 'imapflow';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../src/config/load.js';
import { readSecret } from '../../src/config/load.js';
import type { Logger } from '../../src/logger.js';
import { INTAKE_BOUNDS, MAX_HEADER_SECTION_BYTES, messageReadBytes, messageSizeError } from '../../src/limits.js';
import type { StateStore } from '../../src/store/types.js';
import { TransportError, describeError } from '../../src/errors.js';
import { headerSection } from './header.js';
import type { Intake, IntakeSink } from './types.js';

/**
 * How long one IMAP command may stay unanswered before the connection is
 * taken for dead and replaced. A healthy server answers NOOP in
 * milliseconds; the bound is generous for slow links and busy servers.
 */
export const IMAP_COMMAND_TIMEOUT_MS = 10_000;
/** How often a fetch looks whether bytes still arrive (see bounded()): a silent connection is found within this of IMAP_COMMAND_TIMEOUT_MS. */
const STALL_CHECK_MS = 1_000;
/** LOGOUT at stop: a short wait, then the socket is simply closed. */
const LOGOUT_TIMEOUT_MS = 2_000;
/** First reconnect delay after a working connection closed; doubles up to RECONNECT_MAX_MS. */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5 * 60_000;

/**
 * Wait at most `ms` for `work`, counted from when `after` settles: the
 * command asked before it, since imapflow sends one command at a time, in
 * order, so a command asked ahead only goes on the wire when the one
 * before it is answered. If `after` fails (it timed out: the connection is
 * dead), so does this, at once. A late settle is swallowed (the client is
 * closed by then, which rejects what was in flight).
 *
 * `progress` (a fetch's bytes received on the connection, imapflow's
 * stats()): the command also fails once no byte has arrived for
 * IMAP_COMMAND_TIMEOUT_MS, the wait for its first byte included. Why: a
 * fetch's `ms` is sized for its messages at the slowest rate allowed (up to
 * minutes for a full batch, whose small posts are counted at their share of
 * the batch's bytes), so a connection that went silent mid-batch (a NAT box
 * forgetting it) would otherwise hold the intake that long; with this it is
 * replaced after about as long as an unanswered NOOP is.
 */
function bounded<T>(work: Promise<T>, ms: number, what: string, where: string, after: Promise<unknown> = Promise.resolve(),
  progress?: () => number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let stall: NodeJS.Timeout | undefined;
  let settled = false;
  const timeout = new Promise<never>((_, reject) => {
    after.then(() => {
      if (settled) return;
      timer = setTimeout(() => reject(new TransportError('INTAKE_CONNECT',
        `${where}: no answer to ${what} within ${ms} ms; the connection is taken for dead and replaced`)), ms);
      if (!progress) return;
      // performance.now(): a wall clock stepped forward (NTP, a resumed VM) must not look like silence.
      let seen = progress();
      let quietSince = performance.now();
      const check = (): void => {
        const now = progress();
        if (now !== seen) {
          seen = now;
          quietSince = performance.now();
        } else if (performance.now() - quietSince >= IMAP_COMMAND_TIMEOUT_MS) {
          reject(new TransportError('INTAKE_CONNECT',
            `${where}: nothing received for ${IMAP_COMMAND_TIMEOUT_MS} ms during ${what}; the connection is taken for dead and replaced`));
          return;
        }
        stall = setTimeout(check, STALL_CHECK_MS);
      };
      stall = setTimeout(check, STALL_CHECK_MS);
    }, reject);
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => {
    settled = true;
    clearTimeout(timer);
    clearTimeout(stall);
  });
}

export interface ImapTarget {
  host: string; port: number; secure: boolean; user: string; mailbox: string;
}

export function parseImapUrl(url: string): ImapTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TransportError('INTAKE_URL', `mailbox.url ${url} is not a valid URL`);
  }
  if (u.protocol !== 'imap:' && u.protocol !== 'imaps:') throw new TransportError('INTAKE_URL', `mailbox.url ${url} is not imap:// or imaps://`);
  const secure = u.protocol === 'imaps:';
  const mailbox = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'INBOX';
  if (!u.username) throw new TransportError('INTAKE_URL', `mailbox.url ${url} names no user (imap://user@host/MAILBOX)`);
  return { host: u.hostname, port: u.port ? Number(u.port) : secure ? 993 : 143, secure, user: decodeURIComponent(u.username), mailbox };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}


/**
 * UIDs (ascending) as an IMAP sequence set, runs as ranges: `1:200,205,207:300`.
 * A window of new mail is mostly one run, so the command stays short.
 */
export function uidSet(uids: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < uids.length;) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j] + 1) j++;
    parts.push(j > i ? `${uids[i]}:${uids[j]}` : String(uids[i]));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The UIDs of an IMAP sequence set as a server's ESEARCH ALL gives them
 * ("1:200,205,207:300"; empty: none), in the server's order; null when the
 * set is malformed (a `*`, a zero, a number over 2^32-1, anything but
 * digits, commas and colons) or names more than `max` UIDs, so that a
 * server's "1:4294967295" is refused, not expanded into memory.
 */
export function expandUidSet(set: string, max: number): number[] | null {
  const out: number[] = [];
  if (set === '') return out;
  for (const part of set.split(',')) {
    const m = /^([1-9][0-9]{0,9})(?::([1-9][0-9]{0,9}))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    if (hi > 0xffffffff || out.length + (hi - lo + 1) > max) return null;
    for (let uid = lo; uid <= hi; uid++) out.push(uid);
  }
  return out;
}

/**
 * Consecutive runs of messages within the size limit, up to the batch bounds
 * (INTAKE_BOUNDS), in UID order; a message over the limit is a batch of its
 * own (only its header section is fetched).
 */
export function fetchBatches<T extends { uid: number; size: number | undefined }>(found: T[], limits: { maxMessageBytes: number }): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (cur.length) out.push(cur);
    cur = [];
    bytes = 0;
  };
  for (const m of found) {
    if (messageSizeError(m.size, limits)) {
      flush();
      out.push([m]);
      continue;
    }
    const size = m.size ?? messageReadBytes(limits);
    if (cur.length >= INTAKE_BOUNDS.fetchBatchMessages || (cur.length && bytes + size > INTAKE_BOUNDS.fetchBatchBytes)) flush();
    cur.push(m);
    bytes += size;
  }
  flush();
  return out;
}

/** A new message's UID and its size: RFC822.SIZE, or an upper bound (see fetchAhead). */
interface Sized { uid: number; size: number | undefined }
/** A fetched message: its bytes, or for one over the size limit only its header section and declared size. */
interface Fetched { raw: Buffer; declaredSize?: number }

export class ImapIntake implements Intake {
  readonly where: string;
  private readonly target: ImapTarget;
  private client: ImapFlow | null = null;
  private stopped = false;
  /** start() was called: keep IDLE running between drains (not for `run --once`). */
  private watching = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private backoffMs = RECONNECT_FIRST_MS;
  private busy: Promise<number> | null = null;
  private again = false;

  constructor(
    private readonly cfg: LoadedConfig,
    private readonly store: StateStore,
    private readonly sink: IntakeSink,
    private readonly logger: Logger,
  ) {
    this.target = parseImapUrl(cfg.mailbox.url);
    this.where = `${this.target.secure ? 'imaps' : 'imap'}://${this.target.user}@${this.target.host}:${this.target.port}/${this.target.mailbox}`;
  }

  private newClient(): ImapFlow {
    const t = this.target;
    const pass = readSecret({ env: this.cfg.mailbox.passwordEnv, file: this.cfg.mailbox.passwordFile }, 'mailbox password',
      path.dirname(this.cfg.configPath || '.')) ?? '';
    const tls = this.cfg.mailbox.tls;
    return new ImapFlow({
      host: t.host,
      port: t.port,
      secure: t.secure,
      // Off loopback, STARTTLS is required (a downgrade would leak the password).
      doSTARTTLS: t.secure ? undefined : tls.starttls && !isLoopback(t.host) ? true : tls.starttls ? undefined : false,
      auth: { user: t.user, pass },
      tls: { rejectUnauthorized: tls.rejectUnauthorized, ca: tls.caFile ? readFileSync(tls.caFile) : undefined },
      logger: false,
      // IDLE is run by this class (see the header comment).
      disableAutoIdle: true,
      connectionTimeout: 3 * IMAP_COMMAND_TIMEOUT_MS,
      emitLogs: false,
    });
  }

  /**
   * A command bounded by IMAP_COMMAND_TIMEOUT_MS plus `extraMs`, counted from
   * when `after` settles (see bounded()). With `client`, a transfer: it also
   * fails once the connection has been silent for IMAP_COMMAND_TIMEOUT_MS.
   */
  private bounded<T>(work: Promise<T>, what: string, extraMs = 0, after?: Promise<unknown>, client?: ImapFlow): Promise<T> {
    return bounded(work, IMAP_COMMAND_TIMEOUT_MS + extraMs, what, this.where, after, client && (() => client.stats().received));
  }

  private async connect(): Promise<ImapFlow> {
    if (this.client && this.client.usable) return this.client;
    const client = this.newClient();
    client.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'IMAP connection error'));
    try {
      // imapflow bounds the TCP connect and the greeting; login and SELECT
      // are bounded here (a half-dead server can accept and then go quiet).
      await this.bounded(client.connect(), 'LOGIN', 2 * IMAP_COMMAND_TIMEOUT_MS);
      await this.bounded(client.mailboxOpen(this.target.mailbox), 'SELECT');
    } catch (err) {
      client.close();
      if (err instanceof TransportError) throw err;
      throw new TransportError('INTAKE_CONNECT', `cannot log in to ${this.where}: ${describeError(err)}`, { cause: err });
    }
    // IDLE (or any command) reporting a new message count: fetch at once.
    client.on('exists', () => this.kick());
    client.on('close', () => {
      if (this.client === client) this.client = null;
      client.removeAllListeners();
      client.on('error', () => undefined);
      if (!this.stopped) this.scheduleReconnect();
    });
    this.client = client;
    return client;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    this.logger.info({ delayMs: delay }, 'IMAP reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.kick();
    }, delay);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.drainOnce().catch((err) => {
      this.logger.warn({ err: describeError(err) }, 'IMAP fetch failed');
      const c = this.client;
      this.client = null;
      c?.close();
      this.scheduleReconnect();
    });
  }

  async drainOnce(): Promise<number> {
    if (this.busy) return this.busy;
    this.busy = (async () => {
      let total = 0;
      do {
        this.again = false;
        total += await this.fetchNew();
      } while (this.again && !this.stopped);
      return total;
    })().finally(() => { this.busy = null; });
    const n = await this.busy;
    // Reset only after a whole drain worked: a connection that logs in and
    // then fails every time (say, the queue is down) keeps backing off.
    this.backoffMs = RECONNECT_FIRST_MS;
    this.idle();
    return n;
  }

  /**
   * Back into IDLE on the current connection, so the server pushes EXISTS as
   * mail arrives. The next command (a drain, the poll) breaks it: imapflow
   * sends DONE before any command. It resolves when IDLE ends; a server that
   * ends it on its own (or imapflow's keepalive NOOP on a quiet socket)
   * starts a drain, which resumes IDLE; one that ends at once (a server that
   * refuses IDLE) is left to the poll, so this never spins.
   */
  private idle(): void {
    const c = this.client;
    // With mailbox.checkMs the connection is asked on a short timer instead (start()).
    if (this.cfg.mailbox.checkMs !== undefined) return;
    if (!this.watching || this.stopped || this.busy || !c || !c.usable || c.idling) return;
    const since = Date.now();
    c.idle().then(() => {
      // Ended by our own drain (busy), or the connection went: nothing to do here.
      if (this.stopped || this.busy || this.client !== c || !c.usable || Date.now() - since < 1000) return;
      this.kick();
    }, (err: Error) => this.logger.debug({ err: err.message }, 'IDLE ended with an error'));
  }

  private async fetchNew(): Promise<number> {
    const client = await this.connect();
    const mailboxKey = this.where;
    const lock = await this.bounded(client.getMailboxLock(this.target.mailbox), 'SELECT');
    try {
      // Ask the server, every time: `mailbox.exists` only changes when an
      // untagged response arrives, and none does unless a command is sent
      // or IDLE runs. A dead connection fails here, within the bound.
      await this.bounded(client.noop(), 'NOOP');
      if (!client.usable) throw new TransportError('INTAKE_CONNECT', `${this.where}: the connection closed`);
      const mb = client.mailbox;
      if (!mb) throw new TransportError('INTAKE_CONNECT', `mailbox ${this.target.mailbox} is not open`);
      const uidValidity = Number(mb.uidValidity);
      let cursor = await this.store.getCursor(mailboxKey);
      if (cursor && cursor.uidValidity !== uidValidity) {
        this.logger.warn({ old: cursor.uidValidity, new: uidValidity }, 'UIDVALIDITY changed: rescanning the mailbox');
        cursor = undefined;
      }
      const last = cursor?.lastUid ?? 0;
      if (mb.exists === 0) {
        if (!cursor) await this.store.setCursor(mailboxKey, { uidValidity, lastUid: 0 });
        return 0;
      }
      // The new UIDs first, then sizes and sources window by window (see header comment).
      // RETURN (ALL) where the server has ESEARCH (RFC 4731): the new UIDs
      // as one sequence set ("1:60000"), not one number each for imapflow to
      // read (a quarter of a second on a mailbox of 60,000). Where it has
      // not, imapflow sends the plain SEARCH and packs the numbers into a set
      // itself; it answers with an empty list when none matched
      // (test/integration/imap.test.ts runs both against Dovecot).
      const query = { uid: `${last + 1}:*` };
      const searched = await this.bounded(client.search(query, { uid: true, returnOptions: ['ALL'] }), 'UID SEARCH');
      // At most twice the message count the server reports, with room for
      // mail arriving meanwhile: a bound on memory, not a check of the server.
      const most = 2 * (client.mailbox ? client.mailbox.exists : mb.exists) + 1000;
      let found = Array.isArray(searched) ? searched
        : searched && searched.all !== undefined ? expandUidSet(searched.all, most) : null;
      if (!found) {
        // An answer that cannot be used (a server refusing RETURN, a
        // malformed or oversized set, or no UID at all where `n:*` always
        // names one): the plain SEARCH, as before ESEARCH. Not an error that
        // every reconnect would meet again.
        const plain = await this.bounded(client.search(query, { uid: true }), 'UID SEARCH');
        if (!Array.isArray(plain)) throw new TransportError('INTAKE_CONNECT', `${this.where}: UID SEARCH failed`);
        found = plain;
      }
      // In order, each once (a server may repeat one in a set).
      const uids = found.filter((uid) => uid > last).sort((a, b) => a - b).filter((uid, i, all) => i === 0 || uid !== all[i - 1]);
      const canFlag = mb.permanentFlags?.has('\\*') || mb.permanentFlags?.has(this.cfg.mailbox.processedKeyword);
      const done: number[] = [];
      for await (const { batch, got } of this.fetchAhead(client, uids)) {
        const msgs = batch.flatMap((m) => {
          const msg = got.get(m.uid);
          return msg ? [{ mailbox: mailboxKey, uidValidity, uid: String(m.uid), ...msg }] : []; // none: expunged meanwhile
        });
        await this.sink.accept(msgs);
        // Past the whole batch: every message in it is queued (or gone).
        await this.store.setCursor(mailboxKey, { uidValidity, lastUid: batch[batch.length - 1].uid });
        done.push(...msgs.map((m) => Number(m.uid)));
      }
      // The keyword is a courtesy for people reading the mailbox (the store
      // is the authority), so it is set only when the drain went through: a
      // drain that failed has a dead connection to replace, not to wait on.
      if (canFlag && done.length) {
        await this.bounded(client.messageFlagsAdd(uidSet(done), [this.cfg.mailbox.processedKeyword], { uid: true, silent: true }), 'UID STORE')
          .catch((err: Error) => this.logger.debug({ err: err.message }, 'cannot set processed keyword'));
      }
      const n = done.length;
      if (n) this.logger.info({ queued: n, mailbox: this.where }, 'fetched new mail');
      return n;
    } finally {
      lock.release();
    }
  }

  /**
   * The new UIDs' fetch batches, in UID order, each with its messages,
   * asked for ahead of the caller so that the server is never left waiting
   * between commands (imapflow sends one command at a time, in the order
   * asked):
   * - window by window (the first window one fetch batch long, so the first
   *   message comes at once; later ones INTAKE_BOUNDS.sizeWindowMessages),
   *   the sizes: one UID SEARCH finds the window's messages LARGER than a
   *   batch's share of bytes (fetchBatchBytes / fetchBatchMessages, or the
   *   size limit if lower), and only those are asked their RFC822.SIZE.
   *   Every other message is counted at that share, an upper bound, so a
   *   batch of them stays within fetchBatchBytes. Why: imapflow spends tens
   *   of microseconds on each FETCH response, and a size response for every
   *   message was a fifth of the time on list traffic; a SEARCH is one
   *   response. The next window's sizes are asked for with this window's
   *   first batch, so at a window's end they are here (imapflow may send
   *   that short SEARCH before the batch's FETCH, which it sets up over a
   *   few ticks; the RFC822.SIZE fetch, if any, comes after);
   * - the next batch is asked for before the caller spools this one (one
   *   batch ahead at most, across windows too: its bytes are bounded by
   *   INTAKE_BOUNDS). A batch fetched ahead and never spooled (a stop, a
   *   failure, a crash) is fetched again by the next drain, since the
   *   cursor moves only after the caller spooled a batch.
   * A message expunged meanwhile is missing from an answer and passed over.
   */
  private async *fetchAhead(client: ImapFlow, uids: readonly number[]): AsyncGenerator<{ batch: Sized[]; got: Map<number, Fetched | undefined> }> {
    const limits = this.cfg.limits;
    const share = Math.min(Math.floor(INTAKE_BOUNDS.fetchBatchBytes / INTAKE_BOUNDS.fetchBatchMessages), limits.maxMessageBytes);
    const windows: number[][] = [];
    for (let w = 0, size: number = INTAKE_BOUNDS.fetchBatchMessages; w < uids.length; w += size, size = INTAKE_BOUNDS.sizeWindowMessages) {
      windows.push(uids.slice(w, w + size));
    }
    // The caller stopped taking batches (it failed, or the drain stopped):
    // nothing more is asked for.
    let closed = false;
    // imapflow sends one command at a time, so a command asked ahead waits
    // behind the ones before it: its time bound starts when every command
    // asked before it has settled (`after`, see bounded()), and every
    // command has only its own bound once it is on the wire, so a dead
    // connection is noticed as soon as when nothing was asked ahead. Every,
    // not the last: imapflow may send a command before one asked just
    // before it (a FETCH takes it a few ticks to set up, a SEARCH none).
    let previous: Promise<unknown> = Promise.resolve();
    const inQueue = <T>(ask: (after: Promise<unknown>) => Promise<T>): Promise<T> => {
      const p = ask(previous);
      // Settled when all so far are, failed as soon as one fails; no values kept.
      previous = Promise.all([previous, p]).then(() => undefined);
      previous.catch(() => undefined);
      p.catch(() => undefined); // awaited below, or dropped with the drain
      return p;
    };
    const askSizes = async (window: number[]): Promise<Sized[]> => {
      // As one range: a UID between two that SEARCH found, and not found
      // itself, was expunged (UIDs only grow), so the range asks for the
      // same messages in a short command however sparse the mailbox is.
      const range = `${window[0]}:${window[window.length - 1]}`;
      const larger = await inQueue((after) =>
        this.bounded(client.search({ uid: range, larger: share }, { uid: true }), 'UID SEARCH (LARGER)', 0, after));
      if (!Array.isArray(larger)) throw new TransportError('INTAKE_CONNECT', `${this.where}: UID SEARCH LARGER failed`);
      const inWindow = new Set(window);
      const big = larger.filter((uid) => inWindow.has(uid)).sort((a, b) => a - b);
      const sizes = new Map<number, number | undefined>();
      if (big.length && !closed) {
        const answer = await inQueue((after) =>
          this.bounded(client.fetchAll(uidSet(big), { uid: true, size: true }, { uid: true }), 'UID FETCH (RFC822.SIZE)', 0, after));
        for (const msg of answer) sizes.set(msg.uid, msg.size);
      }
      const bigSet = new Set(big);
      // A large one with no size answer was expunged meanwhile.
      return window.flatMap((uid) => !bigSet.has(uid) ? [{ uid, size: share }] : sizes.has(uid) ? [{ uid, size: sizes.get(uid) }] : []);
    };
    const fetchBatch = (batch: Sized[]): Promise<Map<number, Fetched | undefined>> => inQueue((after) =>
      batch.length === 1
        ? this.fetchOne(client, batch[0], after).then((m) => new Map([[batch[0].uid, m]]))
        : this.fetchMany(client, batch, after));
    let nextWindow = 0;
    const askNextSizes = (): Promise<Sized[]> | null => {
      if (closed || nextWindow >= windows.length) return null;
      const p = askSizes(windows[nextWindow++]);
      p.catch(() => undefined); // awaited below, or dropped with the drain
      return p;
    };
    let sizesAhead = askNextSizes();
    let pending: Sized[][] = [];
    // The next batch, asked for now; at a window's first batch, the next window's sizes too.
    const next = async (): Promise<{ batch: Sized[]; got: Promise<Map<number, Fetched | undefined>> } | null> => {
      while (!pending.length) {
        if (!sizesAhead) return null;
        pending = fetchBatches(await sizesAhead, limits);
        if (closed || this.stopped) return null;
        sizesAhead = pending.length ? null : askNextSizes(); // a window all expunged: on to the next
      }
      const batch = pending.shift()!;
      const got = fetchBatch(batch);
      // Asked right after this batch: at most the short SEARCH goes on the
      // wire before it (see above), never a window's RFC822.SIZE fetch.
      sizesAhead ??= askNextSizes();
      return { batch, got };
    };
    try {
      let ahead = await next();
      while (ahead && !this.stopped) {
        const got = await ahead.got;
        const batch = ahead.batch;
        // Asked for before the caller spools this batch, and not waited for
        // here (at a window's end it waits for the next window's sizes).
        const following = this.stopped ? null : next();
        following?.catch(() => undefined); // awaited below, or dropped with the drain
        yield { batch, got };
        ahead = following && await following;
      }
    } finally {
      closed = true;
    }
  }

  /**
   * The time a batch's messages may take on the wire on top of the command
   * bound: their bytes (each within the size limit, at most one byte over;
   * none for a header section) at the slowest rate a fetch is given time for.
   */
  private transferMs(batch: readonly Sized[]): number {
    const limits = this.cfg.limits;
    const cap = messageReadBytes(limits);
    const bytes = batch.reduce((sum, m) => sum + (messageSizeError(m.size, limits) ? 0 : Math.min(m.size ?? cap, cap)), 0);
    return Math.ceil((bytes / INTAKE_BOUNDS.minFetchBytesPerSecond) * 1000);
  }

  /**
   * One message by UID: its source when it fits the limit, else only its
   * header section and its declared size. Undefined when it is gone.
   * Its time bound starts when `after` (the command asked before it) settles.
   */
  private async fetchOne(client: ImapFlow, m: Sized, after: Promise<unknown>): Promise<Fetched | undefined> {
    const limits = this.cfg.limits;
    const transferMs = this.transferMs([m]);
    let msg: FetchMessageObject | undefined;
    if (messageSizeError(m.size, limits)) {
      [msg] = await this.bounded(client.fetchAll(String(m.uid),
        { uid: true, bodyParts: [{ key: 'HEADER', maxLength: MAX_HEADER_SECTION_BYTES }] }, { uid: true }), 'UID FETCH (BODY.PEEK[HEADER])', transferMs, after, client);
      if (!msg) return undefined;
      this.logger.info({ uid: m.uid, size: m.size, limit: limits.maxMessageBytes }, 'message over the size limit: only its header section is fetched');
      return { raw: headerSection(msg.headers ?? Buffer.alloc(0)), declaredSize: m.size };
    }
    // One byte over the limit at most, whatever the server said of its
    // size: the dispatcher then sees raw.length over the limit and says
    // "too large".
    [msg] = await this.bounded(client.fetchAll(String(m.uid), { uid: true, source: { start: 0, maxLength: messageReadBytes(limits) } }, { uid: true }),
      'UID FETCH (BODY.PEEK[])', transferMs, after, client);
    if (!msg?.source) return undefined;
    return { raw: msg.source };
  }

  /**
   * Several messages, all within the size limit, by one UID FETCH: one round
   * trip instead of one per message. Each is still bounded to one byte over
   * the limit. A message missing from the answer was expunged meanwhile.
   * Its time bound starts when `after` (the command asked before it) settles.
   */
  private async fetchMany(client: ImapFlow, batch: Sized[], after: Promise<unknown>): Promise<Map<number, Fetched>> {
    const cap = messageReadBytes(this.cfg.limits);
    const wanted = new Set(batch.map((m) => m.uid));
    const got = new Map<number, Fetched>();
    for (const msg of await this.bounded(client.fetchAll(uidSet(batch.map((m) => m.uid)), { uid: true, source: { start: 0, maxLength: cap } }, { uid: true }),
      'UID FETCH (BODY.PEEK[])', this.transferMs(batch), after, client)) {
      if (msg.source && wanted.has(msg.uid)) got.set(msg.uid, { raw: msg.source });
    }
    return got;
  }

  start(): void {
    this.stopped = false;
    this.watching = true;
    this.kick();
    // mailbox.checkMs: a NOOP and a UID SEARCH every few tens of
    // milliseconds instead of IDLE. Dovecot pushes EXISTS to an IDLE client
    // only 500 ms after delivery (NOTIFY_DELAY_MSECS in its mailbox-watch.c,
    // fixed), while a NOOP sees the mail at once: the price of fast answers
    // is two small commands per interval, fine on a local server.
    const every = this.cfg.mailbox.checkMs ?? this.cfg.mailbox.pollSeconds * 1000;
    // Not while a reconnect waits out its backoff: a server refusing the
    // login must not be asked again every few milliseconds.
    this.pollTimer = setInterval(() => { if (!this.reconnectTimer) this.kick(); }, every);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watching = false;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.busy) await this.busy.catch(() => undefined);
    const c = this.client;
    this.client = null;
    // LOGOUT on a dead connection would never be answered; a live server
    // answers at once, so stopping does not wait the full command bound.
    if (c) await bounded(c.logout(), LOGOUT_TIMEOUT_MS, 'LOGOUT', this.where).catch(() => c.close());
  }
}
