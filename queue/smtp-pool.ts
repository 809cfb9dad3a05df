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
 * As nodemailer's pool does, a connection is never reused after a failed
 * send of any kind (its state in the protocol is not known), and is closed
 * after `maxMessages`. Unlike it, a connection lost in the middle of a send
 * fails that send instead of sending the mail again by itself: the server
 * may have accepted it, and the store decides what is retried.
 */
import type net from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

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
}

export interface SmtpEnvelope { from: string; to: string[] }

interface Conn {
  smtp: SMTPConnection;
  messages: number;
  /** Failed, closed or timed out: never used again. */
  dead: boolean;
  /** The send under way on it is told of an error or a close here. */
  onLoss: ((err: Error) => void) | null;
}

/** Thrown by `send` once the pool is closed. */
export class SmtpPoolClosedError extends Error {}

export class SmtpPool {
  private readonly idle: Conn[] = [];
  /** Connections in use or being opened (with `idle`, never more than `max`). */
  private inUse = 0;
  private readonly waiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly opts: SmtpPoolOptions) {}

  /** Sends one mail; rejects with the SMTP error (its `responseCode` when the server answered). */
  async send(envelope: SmtpEnvelope, raw: Buffer): Promise<void> {
    const conn = await this.acquire();
    try {
      await this.sendOn(conn, envelope, raw);
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
    for (const c of this.idle.splice(0)) c.smtp.quit();
    for (const w of this.waiters.splice(0)) w();
  }

  private async acquire(): Promise<Conn> {
    while (!this.closed && this.inUse >= this.opts.max) await new Promise<void>((r) => this.waiters.push(r));
    if (this.closed) throw new SmtpPoolClosedError('the SMTP pool is closed');
    this.inUse++;
    for (let c = this.idle.pop(); c; c = this.idle.pop()) if (!c.dead) return c;
    try {
      return await this.open();
    } catch (err) {
      this.inUse--;
      this.waiters.shift()?.();
      throw err;
    }
  }

  private release(conn: Conn): void {
    this.inUse--;
    if (conn.dead) conn.smtp.close();
    else if (this.closed || conn.messages >= this.opts.maxMessages) conn.smtp.quit();
    else this.idle.push(conn);
    this.waiters.shift()?.();
  }

  private async open(): Promise<Conn> {
    const socket = await this.opts.openSocket();
    const smtp = new SMTPConnection({ ...this.opts.smtp, connection: socket });
    const conn: Conn = { smtp, messages: 0, dead: false, onLoss: null };
    // Listened to for the connection's whole life: an 'error' with nobody
    // listening would end the process. An idle connection that fails or is
    // closed by the server is only marked, and dropped when next taken.
    const lost = (err: Error): void => {
      conn.dead = true;
      const tell = conn.onLoss;
      conn.onLoss = null;
      tell?.(err);
    };
    smtp.on('error', lost);
    smtp.on('end', () => lost(new Error('the SMTP server closed the connection')));
    await new Promise<void>((resolve, reject) => {
      conn.onLoss = reject;
      smtp.connect(() => {
        if (!conn.onLoss) return;
        // As nodemailer: credentials are used when the server offers AUTH
        // (after STARTTLS, where it is taken); a server that wants them and
        // was not given them refuses the envelope, with its own words.
        if (!this.opts.auth || !(smtp as unknown as { allowsAuth: boolean }).allowsAuth) {
          conn.onLoss = null;
          resolve();
          return;
        }
        smtp.login({ credentials: this.opts.auth }, (err) => {
          if (!conn.onLoss) return;
          conn.onLoss = null;
          if (err) reject(err);
          else resolve();
        });
      });
    }).catch((err: unknown) => {
      smtp.close();
      throw err;
    });
    return conn;
  }

  private sendOn(conn: Conn, envelope: SmtpEnvelope, raw: Buffer): Promise<void> {
    if (conn.dead) return Promise.reject(new Error('the SMTP connection was lost'));
    return new Promise<void>((resolve, reject) => {
      conn.onLoss = reject;
      // A fresh envelope object: SMTPConnection writes its bookkeeping into it.
      conn.smtp.send({ from: envelope.from, to: [...envelope.to] }, raw, (err) => {
        if (!conn.onLoss) return; // the connection was lost first, and the send told so
        conn.onLoss = null;
        conn.messages++;
        if (err) reject(err);
        else resolve();
      });
    });
  }
}
