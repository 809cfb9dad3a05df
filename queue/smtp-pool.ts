/**
 * SMTP connections kept open and reused, at most `max` at once. nodemailer's
 * SMTPConnection speaks the protocol (greeting, EHLO, TLS or STARTTLS, AUTH,
 * the envelope, dot-stuffing); this module only holds the connections.
 *
 * Why not nodemailer's own pool (`pool: true`): for each mail its
 * `sendMail` builds a Mail object, runs the plugin pipeline and streams the
 * raw bytes through a MIME node and its transforms before the connection
 * sees them. Measured on loopback against smtp-server, 3,000 mails of 4 KB
 * over 8 connections: 265-279 µs of the sender's CPU a mail through the
 * pool, 128 µs through SMTPConnection.send with the same Buffer. The bot's
 * mail is composed and signed bytes already; nothing may re-encode them.
 *
 * As nodemailer's pool does: a connection is never reused after a failed
 * send of any kind (its state in the protocol is not known), it is replaced
 * after `maxMessages`, and after a connection could not be opened the next
 * attempt waits (OUTBOX_BOUNDS.reopenDelayMs, doubling). Unlike it:
 * - a connection counts against `max` until its socket has closed, not
 *   only until it is let go, so a relay that allows `max` connections a
 *   client never sees more;
 * - a connection lost in the middle of a send fails that send instead of
 *   sending the mail again by itself: the server may have accepted it, and
 *   the store decides what is retried;
 * - every exchange has a deadline (OUTBOX_BOUNDS.sendMs), not only a bound
 *   on silence;
 * - a failure to open the session (greeting, EHLO, STARTTLS, AUTH) is
 *   temporary whatever the server's code: it says nothing about the mail,
 *   and a permanent one would make every reply sent meanwhile dead;
 * - envelope domains go out in their ASCII form (IDNA), as the headers do.
 */
import type net from 'node:net';
import { domainToASCII } from 'node:url';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { OUTBOX_BOUNDS } from '../src/limits.js';

export interface SmtpPoolOptions {
  /** Connections at once (queue.outboundConcurrency). */
  max: number;
  /** Mails over one connection before it is closed and another opened. */
  maxMessages: number;
  /** Everything SMTPConnection needs but the socket (host, TLS, timeouts). */
  smtp: Omit<SMTPConnection.Options, 'connection' | 'socket'>;
  auth?: { user: string; pass: string };
  /** Opens the TCP connection (transport.ts: connectNoDelay). */
  openSocket: () => Promise<net.Socket>;
  /** Bounds (tests shorten them). */
  sendMs?: number;
  reopenDelayMs?: number;
  reopenDelayMaxMs?: number;
}

export interface SmtpEnvelope { from: string; to: string[] }

/** What a send that the server took said about the recipients it refused (the others got the mail). */
export interface SmtpSent { refused: string[] }

interface Conn {
  smtp: SMTPConnection;
  messages: number;
  /** Failed, closed or timed out: never used again. */
  dead: boolean;
  /** The exchange under way on it is told of an error or a close here. */
  onLoss: ((err: Error) => void) | null;
  /** Ends the connection and fails the exchange under way with `err`. */
  fail(err: Error): void;
  /** Lets the connection go: QUIT (politely, when it is in order) or close; its socket is destroyed if still open after CLOSE_GRACE_MS. */
  end(how: 'quit' | 'close'): void;
}

/** How long a connection let go may take to close before its socket is destroyed (a server that never answers QUIT). */
const CLOSE_GRACE_MS = 5_000;

/** Thrown by `send` once the pool is closed. */
export class SmtpPoolClosedError extends Error {}

/**
 * The session could not be opened (or was refused before the mail was
 * offered): a temporary failure whatever the server answered, its words
 * kept in the message.
 */
export class SmtpSessionError extends Error {}

/** `user@domain` with the domain in its ASCII form (IDNA); unchanged when it has none or it does not convert. */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  if (/^[\x20-\x7e]*$/.test(domain)) return address;
  const ascii = domainToASCII(domain);
  return ascii ? `${address.slice(0, at)}@${ascii}` : address;
}

export class SmtpPool {
  private readonly idle: Conn[] = [];
  /** Connections taken by a send (being opened, or sending). */
  private inUse = 0;
  /** Sockets opened and not yet closed: in use, idle, or on their way out. Never more than `max`. */
  private sockets = 0;
  private readonly waiters: (() => void)[] = [];
  private closed = false;
  private failedOpens = 0;
  /** Opens under way: after a failure, one at a time until one succeeds. */
  private opening = 0;
  private reopenAt = 0;
  private reopenTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: SmtpPoolOptions) {}

  /** Sends one mail; rejects with the SMTP error (its `responseCode` when the server refused the mail). */
  async send(envelope: SmtpEnvelope, raw: Buffer): Promise<SmtpSent> {
    const conn = await this.acquire();
    try {
      const sent = await this.sendOn(conn, { from: asciiAddress(envelope.from), to: envelope.to.map(asciiAddress) }, raw);
      conn.messages++;
      return sent;
    } catch (err) {
      conn.dead = true;
      throw err;
    } finally {
      this.release(conn);
    }
  }

  /** Closes the idle connections now and each busy one when its send has finished; later sends are refused. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.end('quit');
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async acquire(): Promise<Conn> {
    for (;;) {
      if (this.closed) throw new SmtpPoolClosedError('the SMTP pool is closed');
      if (this.inUse < this.opts.max) {
        for (let c = this.idle.pop(); c; c = this.idle.pop()) {
          if (c.dead) continue;
          this.inUse++;
          return c;
        }
        // After a failed open, one probe at a time: a relay that refuses
        // for a while fails one send per attempt, not every send waiting.
        if (this.sockets < this.opts.max && Date.now() >= this.reopenAt && (this.failedOpens === 0 || this.opening === 0)) {
          this.inUse++;
          this.opening++;
          try {
            const c = await this.open();
            if (this.failedOpens) {
              // The relay takes connections again: the others in line may open theirs.
              this.failedOpens = 0;
              this.reopenAt = 0;
              this.wakeAll();
            }
            return c;
          } catch (err) {
            this.inUse--;
            this.openFailed();
            throw err;
          } finally {
            this.opening--;
          }
        }
      }
      // Waiting for the reopen delay: a timer wakes the line when it has
      // passed (again if one fired a moment early, as timers may).
      if (this.reopenAt > Date.now()) this.armReopen();
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  private armReopen(): void {
    if (this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      this.wakeAll();
    }, Math.max(1, this.reopenAt - Date.now() + 1));
  }

  /** The next open waits, longer after each failure in a row; the waiting sends are woken when it may be tried. */
  private openFailed(): void {
    const first = this.opts.reopenDelayMs ?? OUTBOX_BOUNDS.reopenDelayMs;
    const delay = Math.min(first * 2 ** this.failedOpens, this.opts.reopenDelayMaxMs ?? OUTBOX_BOUNDS.reopenDelayMaxMs);
    this.failedOpens = Math.min(this.failedOpens + 1, 30);
    this.reopenAt = Date.now() + delay;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.armReopen();
  }

  private release(conn: Conn): void {
    this.inUse--;
    if (conn.dead) conn.end('close');
    else if (this.closed || conn.messages >= this.opts.maxMessages) conn.end('quit');
    else this.idle.push(conn);
    this.wakeAll();
  }

  private async open(): Promise<Conn> {
    this.sockets++;
    let socket: net.Socket;
    try {
      socket = await this.opts.openSocket();
    } catch (err) {
      this.sockets--;
      throw err;
    }
    // Counted until the socket itself has closed (after QUIT's answer, or a
    // reset), not when the connection is let go: a relay that allows `max`
    // connections from a client refuses one more opened meanwhile.
    let reaper: NodeJS.Timeout | null = null;
    socket.once('close', () => {
      if (reaper) clearTimeout(reaper);
      this.sockets--;
      this.wakeAll();
    });
    const smtp = new SMTPConnection({ ...this.opts.smtp, connection: socket });
    const conn: Conn = {
      smtp, messages: 0, dead: false, onLoss: null,
      fail(err) {
        conn.dead = true;
        const tell = conn.onLoss;
        conn.onLoss = null;
        conn.end('close');
        tell?.(err);
      },
      end(how) {
        if (how === 'quit' && !conn.dead) smtp.quit();
        else smtp.close();
        if (!reaper && !socket.destroyed) {
          reaper = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
          reaper.unref();
        }
      },
    };
    // Listened to for the connection's whole life: an 'error' with nobody
    // listening would end the process. An idle connection that fails or is
    // closed by the server is only marked, and dropped when next taken.
    smtp.on('error', (err) => conn.fail(err));
    smtp.on('end', () => conn.fail(new Error('the SMTP server closed the connection')));
    await this.exchange(conn, 'opening the SMTP session', (done) => {
      smtp.connect(() => {
        // As nodemailer: credentials are used when the server offers AUTH
        // (after STARTTLS, where it is taken); a server that wants them and
        // was not given them refuses the envelope, with its own words.
        if (!this.opts.auth || !(smtp as unknown as { allowsAuth: boolean }).allowsAuth) done(null);
        else smtp.login({ credentials: this.opts.auth }, (err) => done(err ?? null));
      });
    }).catch((err: unknown) => {
      conn.fail(err as Error);
      // Temporary whatever the server's code (see the header): its words, without the code.
      throw new SmtpSessionError((err as Error).message, { cause: err });
    });
    return conn;
  }

  private sendOn(conn: Conn, envelope: SmtpEnvelope, raw: Buffer): Promise<SmtpSent> {
    if (conn.dead) return Promise.reject(new SmtpSessionError('the SMTP connection was lost'));
    return this.exchange(conn, 'sending the mail', (done) => {
      conn.smtp.send(envelope, raw, (err, info) => {
        if (err) done(allRefused(err));
        else done(null, { refused: (info.rejected ?? []).map(String) });
      });
    });
  }

  /**
   * One step on `conn` (opening the session, or a mail): settles with the
   * step's outcome, or with the connection's loss, or fails and ends the
   * connection at the deadline, whichever comes first.
   */
  private exchange<T>(conn: Conn, what: string, step: (done: (err: Error | null, value?: T) => void) => void): Promise<T> {
    const ms = this.opts.sendMs ?? OUTBOX_BOUNDS.sendMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => conn.fail(new Error(`${what} took more than ${ms} ms`)), ms);
      conn.onLoss = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      step((err, value) => {
        if (!conn.onLoss) return; // the connection was lost first, and the step was told so
        conn.onLoss = null;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value as T);
      });
    });
  }
}

/**
 * Every recipient refused: nodemailer reports the last RCPT's code. When
 * any refusal was temporary (4xx), the mail may yet go to that one, so the
 * failure is temporary (no code); only when all were permanent is it.
 */
function allRefused(err: Error): Error {
  const refusals = (err as { rejectedErrors?: { responseCode?: number }[] }).rejectedErrors ?? [];
  if (!refusals.some((e) => typeof e.responseCode === 'number' && e.responseCode >= 400 && e.responseCode < 500)) return err;
  return Object.assign(new Error(err.message, { cause: err }), { responseCode: undefined });
}
