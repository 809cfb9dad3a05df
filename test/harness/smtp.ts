// A capturing SMTP listener (npm smtp-server) on a free loopback port: no auth,
// no TLS. Every accepted message is kept with its envelope and exact bytes.
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { freePort } from './ports.js';

export interface CapturedMail {
  /** MAIL FROM address; '' for the null sender. */
  envelopeFrom: string;
  recipients: string[];
  /** The message as received after DATA (dot-unstuffed, CRLF line endings). */
  raw: Buffer;
}

export interface SmtpHandle {
  url: string;
  port: number;
  /** Accepted messages in arrival order. */
  messages: CapturedMail[];
  /** Messages refused by failNext, in arrival order. */
  rejected: CapturedMail[];
  /** Resolves with the messages once at least n were accepted; rejects after timeoutMs (default 10 s). */
  waitFor(n: number, timeoutMs?: number): Promise<CapturedMail[]>;
  /** Refuse the next n messages at the end of DATA with `code` (default 451, a temporary error). */
  failNext(n: number, code?: number): void;
  /**
   * Refuse every message at the end of DATA with `code` (default 451) for the
   * next `ms` milliseconds: a relay that is down for maintenance. The client
   * has sent the whole message and must keep it and try again later.
   */
  refuseFor(ms: number, code?: number): void;
  stop(): Promise<void>;
}

interface Waiter {
  n: number;
  resolve: (m: CapturedMail[]) => void;
}

export async function startSmtp(): Promise<SmtpHandle> {
  const messages: CapturedMail[] = [];
  const rejected: CapturedMail[] = [];
  let waiters: Waiter[] = [];
  let failures: number[] = [];
  let refuseUntil = 0;
  let refuseCode = 451;

  const notify = () => {
    const ready = waiters.filter((w) => messages.length >= w.n);
    waiters = waiters.filter((w) => messages.length < w.n);
    for (const w of ready) w.resolve(messages.slice());
  };

  const server = new SMTPServer({
    name: 'smtp.harness.test',
    banner: 'ztrust test harness',
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    disableReverseLookup: true,
    logger: false,
    size: 50 * 1024 * 1024,
    // Tests stop the server while clients may still hold a pooled connection:
    // do not wait the default 30 s for them.
    closeTimeout: 500,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail: CapturedMail = {
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        };
        if (stream.sizeExceeded) {
          const err: Error & { responseCode?: number } = new Error('Message exceeds the size limit');
          err.responseCode = 552;
          return callback(err);
        }
        const code = Date.now() < refuseUntil ? refuseCode : failures.shift();
        if (code !== undefined) {
          rejected.push(mail);
          const err: Error & { responseCode?: number } = new Error(
            code >= 500 ? 'Rejected by the test harness (permanent)' : 'Try again later (temporary failure from the test harness)',
          );
          err.responseCode = code;
          return callback(err);
        }
        messages.push(mail);
        callback(null, 'Queued by the test harness');
        notify();
      });
    },
  });

  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
      break;
    } catch (e) {
      // Another process may have taken the port between freePort() and listen().
      if (attempt < 3 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      throw e;
    }
  }
  // A listener error after startup (a broken client) must not crash the test process.
  server.on('error', () => {});

  let stopped: Promise<void> | null = null;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    rejected,
    waitFor(n, timeoutMs = 10000) {
      if (messages.length >= n) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const w: Waiter = {
          n,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          reject(new Error(`harness smtp: waited ${timeoutMs} ms for ${n} message(s), got ${messages.length} (${rejected.length} refused)`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    failNext(n, code = 451) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`harness smtp: failNext(${n})`);
      if (!(code >= 400 && code <= 599)) throw new Error(`harness smtp: failNext code ${code} is not a 4xx/5xx reply`);
      failures = [...failures, ...Array<number>(n).fill(code)];
    },
    refuseFor(ms, code = 451) {
      if (!(ms >= 0)) throw new Error(`harness smtp: refuseFor(${ms})`);
      if (!(code >= 400 && code <= 599)) throw new Error(`harness smtp: refuseFor code ${code} is not a 4xx/5xx reply`);
      refuseUntil = Date.now() + ms;
      refuseCode = code;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopped;
    },
  };
}
