/**
 * Where replies go: `smtp://host:port` / `smtps://host:port` (nodemailer's
 * SMTPConnection, over the pooled connections of queue/smtp-pool.ts) or
 * `dir:PATH` (one .eml file per message, for testing and for operators who
 * hand mail to another system). The raw bytes are sent as composed and
 * signed; nothing re-encodes them.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TransportError } from '../src/errors.js';
import { removeStaleTemps, writeFileAtomic } from '../src/fsync/atomic.js';
import type { LoadedConfig } from '../src/config/load.js';
import { readSecret } from '../src/config/load.js';
import { SmtpPool, SmtpPoolClosedError } from './smtp-pool.js';

export interface OutgoingEnvelope { from: string; to: string[] }

export interface Transport {
  readonly where: string;
  /**
   * Hands one mail over; a TransportError with a 5xx `responseCode` is a
   * permanent refusal. Resolves with the recipients the server refused
   * while taking the mail for the others, when it did.
   */
  send(id: string, envelope: OutgoingEnvelope, raw: Buffer): Promise<{ refused: string[] } | void>;
  /**
   * Lets the connections go once the sends under way have finished. A send
   * after it is refused at once (TRANSPORT_SEND, temporary: the row stays
   * pending), never queued: a worker stopping without its queue relies on it.
   */
  close(): void;
}

const CLOSED = 'the transport is closed (the worker is stopping); the mail stays pending';

/** SMTP reply codes 5xx are permanent: retrying cannot help. */
export function isPermanentSmtpError(err: unknown): boolean {
  const code = (err as { responseCode?: number }).responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/** Bound on opening the TCP connection to the SMTP server (nodemailer's own timeouts take over after). */
const SMTP_CONNECT_TIMEOUT_MS = 30_000;

type SocketCallback = (err: Error | null, socket?: { connection: net.Socket }) => void;

/**
 * A TCP connection to the SMTP server with Nagle's algorithm off, handed to
 * nodemailer's SMTPConnection (queue/smtp-pool.ts; the test harness's LMTP
 * client hands it to nodemailer's `getSocket` hook), which then speaks SMTP
 * over it and does the TLS of smtps:// or STARTTLS on top. Why: nodemailer
 * writes the end of a message (CRLF.CRLF) as a small write of its own, which Nagle holds
 * until the server acknowledges the body, and servers delay that ACK by up
 * to 40 ms: every reply took 45 ms on loopback (measured against
 * smtp-server, one connection), 1.9 ms with TCP_NODELAY. nodemailer has no
 * setting for it.
 */
export function connectNoDelay(host: string, port: number, cb: SocketCallback): void {
  let done = false;
  const socket = net.connect({ host, port, noDelay: true });
  const onTimeout = (): void => finish(new Error(`connection to ${host}:${port} timed out`));
  const finish = (err: Error | null): void => {
    if (done) return;
    done = true;
    // The socket is SMTPConnection's from here: its own timeouts, not this one.
    socket.setTimeout(0);
    socket.removeListener('timeout', onTimeout);
    if (err) {
      socket.destroy();
      cb(err);
    } else cb(null, { connection: socket });
  };
  socket.setTimeout(SMTP_CONNECT_TIMEOUT_MS, onTimeout);
  socket.once('connect', () => {
    socket.setKeepAlive(true); // as nodemailer sets on the connections it opens
    finish(null);
  });
  // After the hand-over nodemailer listens for errors itself; this one only reports a failed connect.
  socket.on('error', (err) => finish(err));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function createTransport(cfg: LoadedConfig): Transport {
  const url = cfg.outbox.url;
  if (url.startsWith('dir:')) return new DirTransport(url.slice(4));
  if (url.startsWith('smtp://') || url.startsWith('smtps://')) {
    const u = new URL(url);
    const secure = u.protocol === 'smtps:';
    const pass = readSecret({ env: cfg.outbox.passwordEnv, file: cfg.outbox.passwordFile }, 'outbox password', path.dirname(cfg.configPath || '.'));
    const user = cfg.outbox.user ?? (u.username ? decodeURIComponent(u.username) : undefined);
    const ca = cfg.outbox.tls.caFile ? readFileSync(cfg.outbox.tls.caFile) : undefined;
    const port = u.port ? Number(u.port) : secure ? 465 : 25;
    // An IPv6 literal without its URL brackets: for the socket, SNI and the certificate check alike.
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    // Connections are kept and reused (one per outbound slot): a
    // connection, greeting, EHLO and STARTTLS handshake for every reply
    // cost more than the reply. A failed send still fails its own job.
    const pool = new SmtpPool({
      max: cfg.queue.outboundConcurrency,
      maxMessages: 1000,
      smtp: {
        host,
        port,
        secure,
        // Off loopback, never send credentials or replies in clear text.
        requireTLS: !secure && cfg.outbox.tls.starttls && !isLoopback(host),
        ignoreTLS: !secure && !cfg.outbox.tls.starttls,
        tls: { rejectUnauthorized: cfg.outbox.tls.rejectUnauthorized, ca },
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 60_000,
        logger: false,
      },
      auth: user && pass !== undefined ? { user, pass } : undefined,
      openSocket: () => new Promise((resolve, reject) =>
        connectNoDelay(host, port, (err, socket) => (socket ? resolve(socket.connection) : reject(err ?? new Error('no socket'))))),
    });
    return {
      where: `${u.protocol}//${u.hostname}:${port}`,
      async send(_id, envelope, raw) {
        try {
          const { refused } = await pool.send(envelope, raw);
          return refused.length ? { refused } : undefined;
        } catch (err) {
          if (err instanceof SmtpPoolClosedError) throw new TransportError('TRANSPORT_SEND', `SMTP: ${CLOSED}`);
          throw Object.assign(new TransportError('TRANSPORT_SEND', `SMTP: ${(err as Error).message}`, { cause: err }), {
            responseCode: (err as { responseCode?: number }).responseCode,
          });
        }
      },
      close() {
        pool.close();
      },
    };
  }
  throw new TransportError('TRANSPORT_URL', `outbox.url ${url} is not smtp://, smtps:// or dir:`);
}

/**
 * Writes `<id>.eml` atomically (src/fsync: temp file, fsync, rename), so a
 * mail pickup never sees half a message; writing the same id twice leaves
 * one file. The first send cleans temp files a crashed writer left.
 */
export class DirTransport implements Transport {
  readonly where: string;
  private cleaned: Promise<unknown> | null = null;
  constructor(private readonly dir: string) {
    this.where = `dir:${dir}`;
    mkdirSync(dir, { recursive: true });
  }
  private closed = false;
  async send(id: string, envelope: OutgoingEnvelope, raw: Buffer): Promise<void> {
    if (this.closed) throw new TransportError('TRANSPORT_SEND', `${this.where}: ${CLOSED}`);
    this.cleaned ??= removeStaleTemps(this.dir);
    await this.cleaned;
    const safe = id.replace(/[^A-Za-z0-9._-]/g, '_');
    const envelopeHeader = Buffer.from(`X-Ztrust-Envelope: from=<${envelope.from}> to=<${envelope.to.join('>,<')}>\r\n`);
    await writeFileAtomic(path.join(this.dir, `${safe}.eml`), Buffer.concat([envelopeHeader, raw]));
  }
  close(): void {
    this.closed = true;
  }
}
