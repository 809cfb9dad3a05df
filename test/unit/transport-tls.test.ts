/**
 * The SMTP transport (queue/transport.ts) opens its TCP connections itself
 * (TCP_NODELAY, connectNoDelay) and hands them to nodemailer's SMTPConnection
 * (queue/smtp-pool.ts), which then does TLS on top. So the three ways an operator points the bot at a relay are
 * checked here against a real SMTP server (npm smtp-server) with a real
 * certificate made by the openssl CLI: smtps:// (TLS from the first byte),
 * smtp:// with STARTTLS (required off loopback, taken when offered on it),
 * and plain smtp:// on loopback. Each asserts what the server saw: the
 * session's TLS state, the envelope and the exact bytes. And the failures:
 * a certificate nobody vouched for, a port nobody listens on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPermanentSmtpError } from '../../queue/transport.js';
import { TransportError } from '../../src/errors.js';
import { freePort } from '../harness/ports.js';
import { ENVELOPE, makeCert, noOpenssl, RAW, smtpServer, tmpDir, transportFor } from './smtp-servers.js';

/** The transport for `url` with these outbox.tls settings. */
const transport = (dir: string, url: string, tls: Record<string, unknown>) => transportFor(dir, { url, tls });
/** STARTTLS offered (AUTH still off). */
const STARTTLS = { disabledCommands: ['AUTH'], hideSTARTTLS: false };

test('SMTP over the transport\'s own sockets: smtps, STARTTLS and plain, each as the server saw it; refusals are clear', { skip: noOpenssl }, async (t) => {
  const dir = tmpDir(t, 'zt-transport-tls-');
  const { key, cert, certFile } = makeCert(dir);

  // smtps://: TLS from the first byte, the certificate checked against the given CA.
  const smtps = await smtpServer(t, { secure: true, key, cert });
  const a = transport(dir, `smtps://127.0.0.1:${smtps.port}`, { caFile: certFile });
  await a.send('r1', ENVELOPE, RAW);
  await a.send('r2', ENVELOPE, RAW); // the pooled connection again
  a.close();
  assert.equal(smtps.mails.length, 2);
  for (const m of smtps.mails) {
    assert.deepEqual({ secure: m.secure, from: m.from, to: m.to }, { secure: true, from: ENVELOPE.from, to: ENVELOPE.to });
    assert.ok(m.raw.equals(RAW), 'the bytes as composed, dot-unstuffed by the server');
  }

  // smtp:// offering STARTTLS: taken (on loopback it is not required, but offered it is used).
  const starttls = await smtpServer(t, { ...STARTTLS, key, cert });
  const b = transport(dir, `smtp://127.0.0.1:${starttls.port}`, { caFile: certFile });
  await b.send('r3', ENVELOPE, RAW);
  b.close();
  assert.equal(starttls.mails.length, 1);
  assert.equal(starttls.mails[0].secure, true, 'upgraded by STARTTLS');
  assert.ok(starttls.mails[0].raw.equals(RAW));

  // Plain smtp:// on loopback with starttls off.
  const plain = await smtpServer(t);
  const c = transport(dir, `smtp://127.0.0.1:${plain.port}`, { starttls: false });
  await c.send('r4', ENVELOPE, RAW);
  c.close();
  assert.deepEqual(plain.mails.map((m) => m.secure), [false]);
  assert.ok(plain.mails[0].raw.equals(RAW));

  // An IPv6 literal (smtps://[::1]:port): the brackets are the URL's, not the host's,
  // for the connection and for the certificate check (IP:::1 in the certificate).
  const v6 = await smtpServer(t, { secure: true, key, cert, host: '::1' }).catch((err: Error) => err);
  if (v6 instanceof Error) t.diagnostic(`IPv6 loopback unavailable here (${v6.message}): the [::1] case is not run`);
  else {
    const f = transport(dir, `smtps://[::1]:${v6.port}`, { caFile: certFile });
    await f.send('r7', ENVELOPE, RAW);
    f.close();
    assert.deepEqual(v6.mails.map((m) => m.secure), [true]);
  }

  // A certificate no configured CA vouches for: refused, nothing delivered.
  const before = smtps.mails.length;
  const d = transport(dir, `smtps://127.0.0.1:${smtps.port}`, {});
  await assert.rejects(d.send('r5', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /self[- ]signed certificate/i.test(err.message));
  d.close();
  assert.equal(smtps.mails.length, before);

  // Nobody listening: a temporary failure (no SMTP reply code), so the reply is retried, not dropped.
  const closed = await freePort();
  const e = transport(dir, `smtp://127.0.0.1:${closed}`, { starttls: false });
  await assert.rejects(e.send('r6', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /ECONNREFUSED/.test(err.message) && !isPermanentSmtpError(err));
  e.close();
});

// A worker stopping without its queue (queue/runner.ts, cutShort) closes the
// transport so that no send starts after it: the process exits next, and a
// send cut there could reach the server and still be retried. nodemailer's
// closed pool would take the mail and never answer for it.
test('a closed SMTP transport refuses a send at once, and the server sees nothing more', { timeout: 10_000 }, async (t) => {
  const dir = tmpDir(t, 'zt-transport-closed-');
  const plain = await smtpServer(t);
  const tr = transport(dir, `smtp://127.0.0.1:${plain.port}`, { starttls: false });
  await tr.send('r1', ENVELOPE, RAW);
  tr.close();
  await assert.rejects(tr.send('r2', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /^SMTP: the transport is closed/.test(err.message) && !isPermanentSmtpError(err));
  assert.equal(plain.mails.length, 1);
});
