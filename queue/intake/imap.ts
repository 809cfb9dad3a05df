/**
 * IMAP intake with imapflow (NOTES.md, "IMAP with imapflow"):
 * - raw bytes with `source: true` (never `binary`, which decodes);
 * - UIDs are collected first, then fetched: running a command inside a
 *   `for await (client.fetch())` loop deadlocks;
 * - `n:*` always returns the highest UID even when it is below n, so UIDs are
 *   filtered against the cursor here;
 * - the cursor (UIDVALIDITY, last UID) lives in the state store and advances
 *   only after each message is durably queued; a new UIDVALIDITY rescans the
 *   mailbox, and the store's Message-ID de-duplication stops second replies;
 * - imapflow does not reconnect: on close we build a new client, with
 *   exponential backoff; IDLE can sit on a dead socket, so a safety poll runs
 *   beside it.
 */
import { ImapFlow } from 'imapflow';
import { readFileSync } from 'node:fs';
import type { LoadedConfig } from '../../src/config/load.js';
import { readSecret } from '../../src/config/load.js';
import type { Logger } from '../../src/logging.js';
import type { StateStore } from '../../src/store/types.js';
import { TransportError, describeError } from '../../src/errors.js';
import type { Intake, IntakeSink } from './types.js';
import path from 'node:path';

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

export class ImapIntake implements Intake {
  readonly where: string;
  private readonly target: ImapTarget;
  private client: ImapFlow | null = null;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private backoffMs = 1000;
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
      disableAutoIdle: false,
      emitLogs: false,
    });
  }

  private async connect(): Promise<ImapFlow> {
    if (this.client && this.client.usable) return this.client;
    const client = this.newClient();
    client.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'IMAP connection error'));
    try {
      await client.connect();
    } catch (err) {
      throw new TransportError('INTAKE_CONNECT', `cannot log in to ${this.where}: ${describeError(err)}`, { cause: err });
    }
    await client.mailboxOpen(this.target.mailbox);
    client.on('exists', () => this.kick());
    client.on('close', () => {
      if (this.client === client) this.client = null;
      client.removeAllListeners();
      if (!this.stopped) this.scheduleReconnect();
    });
    this.client = client;
    this.backoffMs = 1000;
    return client;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5 * 60_000);
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
      this.client?.close();
      this.client = null;
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
    return this.busy;
  }

  private async fetchNew(): Promise<number> {
    const client = await this.connect();
    const mailboxKey = this.where;
    const lock = await client.getMailboxLock(this.target.mailbox);
    try {
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
      // Collect first, fetch after (see header comment).
      const uids: number[] = [];
      for await (const msg of client.fetch(`${last + 1}:*`, { uid: true }, { uid: true })) {
        if (msg.uid > last) uids.push(msg.uid);
      }
      uids.sort((a, b) => a - b);
      const canFlag = mb.permanentFlags?.has('\\*') || mb.permanentFlags?.has(this.cfg.mailbox.processedKeyword);
      let n = 0;
      for (let i = 0; i < uids.length; i += 50) {
        const batch = uids.slice(i, i + 50);
        const fetched: { uid: number; raw: Buffer }[] = [];
        for await (const msg of client.fetch(batch.join(','), { uid: true, source: true, size: true }, { uid: true })) {
          if (msg.source) fetched.push({ uid: msg.uid, raw: msg.source });
        }
        fetched.sort((a, b) => a.uid - b.uid);
        for (const m of fetched) {
          if (this.stopped) return n;
          await this.sink.accept({ mailbox: mailboxKey, uidValidity, uid: String(m.uid), raw: m.raw });
          await this.store.setCursor(mailboxKey, { uidValidity, lastUid: m.uid });
          n++;
        }
        if (canFlag && fetched.length) {
          await client.messageFlagsAdd(fetched.map((m) => m.uid).join(','), [this.cfg.mailbox.processedKeyword], { uid: true })
            .catch((err: Error) => this.logger.debug({ err: err.message }, 'cannot set processed keyword'));
        }
      }
      if (n) this.logger.info({ queued: n, mailbox: this.where }, 'fetched new mail');
      return n;
    } finally {
      lock.release();
    }
  }

  start(): void {
    this.stopped = false;
    this.kick();
    const every = this.cfg.mailbox.pollSeconds * 1000;
    this.pollTimer = setInterval(() => this.kick(), every);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.busy) await this.busy.catch(() => undefined);
    const c = this.client;
    this.client = null;
    if (c) await c.logout().catch(() => c.close());
  }
}
