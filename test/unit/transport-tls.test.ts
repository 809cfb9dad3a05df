/**
 * The SMTP transport (queue/transport.ts) opens its TCP connections itself
 * (TCP_NODELAY, connectNoDelay) and hands them to nodemailer's SMTPConnection
 * (queue/smtp-pool.ts), which then does
 * TLS on top. So the three ways an operator points the bot at a relay are
 * checked here against a real SMTP server (npm smtp-server) with a real
 * certificate made by the openssl CLI: smtps:// (TLS from the first byte),
 * smtp:// with STARTTLS (required off loopback, taken when offered on it),
 * and plain smtp:// on loopback. Each asserts what the server saw: the
 * session's TLS state, the envelope and the exact bytes. And the failures:
 * a certificate nobody vouched for, a port nobody listens on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { parseConfig } from '../../src/config/load.js';
import { createTransport, isPermanentSmtpError } from '../../queue/transport.js';
import { TransportError } from '../../src/errors.js';
import { freePort } from '../harness/ports.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

interface Seen { secure: boolean; from: string; to: string[]; raw: Buffer }

/** A self-signed certificate for 127.0.0.1 (and localhost), made by openssl. */
function makeCert(dir: string): { key: Buffer; cert: Buffer; certFile: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

async function smtpServer(t: { after: (fn: () => Promise<void>) => void }, opts: { secure: boolean; starttls: boolean; key?: Buffer; cert?: Buffer; host?: string }):
  Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = new SMTPServer({
    secure: opts.secure,
    key: opts.key,
    cert: opts.cert,
    authOptional: true,
    disabledCommands: opts.starttls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    hideSTARTTLS: !opts.starttls,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 200,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        seen.push({ secure: session.secure, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
        cb();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host ?? '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, seen };
}

function transportFor(dir: string, url: string, tls: Record<string, unknown>) {
  const cfg = parseConfig({
    bot: { address: 'bot@ztrust.test', name: 'ztrust-bot' },
    dataDir: dir,
    mailbox: { url: `maildir:${path.join(dir, 'inbox')}` },
    outbox: { url, tls },
    maintainers: [],
  }, dir);
  return createTransport(cfg);
}

const RAW = Buffer.from('From: bot@ztrust.test\r\nTo: someone@example.org\r\nSubject: a reply\r\nMessage-ID: <r1@ztrust.test>\r\n\r\nHello.\r\n.leading dot\r\n');
const ENVELOPE = { from: 'bot@ztrust.test', to: ['someone@example.org'] };

test('SMTP over the transport\'s own sockets: smtps, STARTTLS and plain, each as the server saw it; refusals are clear', { skip: hasOpenssl ? false : 'openssl is not installed' }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-transport-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { key, cert, certFile } = makeCert(dir);

  // smtps://: TLS from the first byte, the certificate checked against the given CA.
  const smtps = await smtpServer(t, { secure: true, starttls: false, key, cert });
  const a = transportFor(dir, `smtps://127.0.0.1:${smtps.port}`, { caFile: certFile });
  await a.send('r1', ENVELOPE, RAW);
  await a.send('r2', ENVELOPE, RAW); // the pooled connection again
  a.close();
  assert.equal(smtps.seen.length, 2);
  for (const m of smtps.seen) {
    assert.deepEqual({ secure: m.secure, from: m.from, to: m.to }, { secure: true, from: ENVELOPE.from, to: ENVELOPE.to });
    assert.ok(m.raw.equals(RAW), 'the bytes as composed, dot-unstuffed by the server');
  }

  // smtp:// offering STARTTLS: taken (on loopback it is not required, but offered it is used).
  const starttls = await smtpServer(t, { secure: false, starttls: true, key, cert });
  const b = transportFor(dir, `smtp://127.0.0.1:${starttls.port}`, { caFile: certFile });
  await b.send('r3', ENVELOPE, RAW);
  b.close();
  assert.equal(starttls.seen.length, 1);
  assert.equal(starttls.seen[0].secure, true, 'upgraded by STARTTLS');
  assert.ok(starttls.seen[0].raw.equals(RAW));

  // Plain smtp:// on loopback with starttls off.
  const plain = await smtpServer(t, { secure: false, starttls: false });
  const c = transportFor(dir, `smtp://127.0.0.1:${plain.port}`, { starttls: false });
  await c.send('r4', ENVELOPE, RAW);
  c.close();
  assert.deepEqual(plain.seen.map((m) => m.secure), [false]);
  assert.ok(plain.seen[0].raw.equals(RAW));

  // An IPv6 literal (smtps://[::1]:port): the brackets are the URL's, not the host's,
  // for the connection and for the certificate check (IP:::1 in the certificate).
  const v6 = await smtpServer(t, { secure: true, starttls: false, key, cert, host: '::1' }).catch((err: Error) => err);
  if (v6 instanceof Error) t.diagnostic(`IPv6 loopback unavailable here (${v6.message}): the [::1] case is not run`);
  else {
    const f = transportFor(dir, `smtps://[::1]:${v6.port}`, { caFile: certFile });
    await f.send('r7', ENVELOPE, RAW);
    f.close();
    assert.deepEqual(v6.seen.map((m) => m.secure), [true]);
  }

  // A certificate no configured CA vouches for: refused, nothing delivered.
  const before = smtps.seen.length;
  const d = transportFor(dir, `smtps://127.0.0.1:${smtps.port}`, {});
  await assert.rejects(d.send('r5', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /self[- ]signed certificate/i.test(err.message));
  d.close();
  assert.equal(smtps.seen.length, before);

  // Nobody listening: a temporary failure (no SMTP reply code), so the reply is retried, not dropped.
  const closed = await freePort();
  const e = transportFor(dir, `smtp://127.0.0.1:${closed}`, { starttls: false });
  await assert.rejects(e.send('r6', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /ECONNREFUSED/.test(err.message) && !isPermanentSmtpError(err));
  e.close();
});

// A worker stopping without its queue (queue/runner.ts, cutShort) closes the
// transport so that no send starts after it: the process exits next, and a
// send cut there could reach the server and still be retried. nodemailer's
// closed pool would take the mail and never answer for it.
test('a closed SMTP transport refuses a send at once, and the server sees nothing more', { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-transport-closed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plain = await smtpServer(t, { secure: false, starttls: false });
  const tr = transportFor(dir, `smtp://127.0.0.1:${plain.port}`, { starttls: false });
  await tr.send('r1', ENVELOPE, RAW);
  tr.close();
  await assert.rejects(tr.send('r2', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /^SMTP: the transport is closed/.test(err.message) && !isPermanentSmtpError(err));
  assert.equal(plain.seen.length, 1);
});
