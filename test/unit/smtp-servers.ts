/**
 * What the SMTP transport tests (transport-tls, smtp-pool) share: a real
 * SMTP server (npm smtp-server) on a free loopback port that records each
 * mail as it saw it, a certificate made by the openssl CLI, and the
 * transport a config with a given outbox makes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { parseConfig } from '../../src/config/load.js';
import { createTransport, type Transport } from '../../queue/transport.js';
import { freePort } from '../harness/ports.js';

export const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed';

export const RAW = Buffer.from('From: bot@ztrust.test\r\nTo: someone@example.org\r\nSubject: a reply\r\nMessage-ID: <r1@ztrust.test>\r\n\r\nHello.\r\n.leading dot\r\n');
export const ENVELOPE = { from: 'bot@ztrust.test', to: ['someone@example.org'] };

type After = { after: (fn: () => void | Promise<void>) => void };

/** A directory removed after the test. */
export function tmpDir(t: After, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A self-signed certificate for 127.0.0.1 (and ::1 and localhost), made by openssl. */
export function makeCert(dir: string): { key: Buffer; cert: Buffer; certFile: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

export interface SeenMail { secure: boolean; from: string; to: string[]; user: string | undefined; raw: Buffer }

export interface RecordingServer {
  port: number;
  mails: SeenMail[];
  /** Connections opened, and the most open at once. */
  connections: number;
  maxOpen: number;
  /** How long the server takes over each mail before its answer (so sends overlap). */
  delayMs: number;
}

/**
 * smtp-server on 127.0.0.1 (or `host`): no STARTTLS and no AUTH unless
 * `opts` says otherwise; each mail recorded as the server saw it.
 */
export async function smtpServer(t: After, opts: Partial<SMTPServerOptions> & { host?: string; delayMs?: number } = {}): Promise<RecordingServer> {
  const { host, delayMs, ...serverOpts } = opts;
  const s: RecordingServer = { port: await freePort(), mails: [], connections: 0, maxOpen: 0, delayMs: delayMs ?? 0 };
  let open = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], hideSTARTTLS: true, disableReverseLookup: true, logger: false, closeTimeout: 200,
    onConnect(_session, cb) {
      s.connections++;
      s.maxOpen = Math.max(s.maxOpen, ++open);
      cb();
    },
    onClose() { open--; },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        s.mails.push({
          secure: session.secure, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), user: session.user as string | undefined, raw: Buffer.concat(chunks),
        });
        if (s.delayMs) setTimeout(cb, s.delayMs);
        else cb();
      });
    },
    ...serverOpts,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(s.port, host ?? '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return s;
}

/** The transport createTransport makes for `outbox` (url, tls, credentials), with `outboundConcurrency` connections. */
export function transportFor(dir: string, outbox: Record<string, unknown>, outboundConcurrency = 8): Transport {
  const cfg = parseConfig({
    bot: { address: 'bot@ztrust.test', name: 'ztrust-bot' },
    dataDir: dir,
    mailbox: { url: `maildir:${path.join(dir, 'inbox')}` },
    outbox,
    queue: { outboundConcurrency },
    maintainers: [],
  }, dir);
  return createTransport(cfg);
}
