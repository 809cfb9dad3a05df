/**
 * The SMTP connections the transport keeps (queue/smtp-pool.ts), against a
 * real SMTP server (npm smtp-server) and, for a connection lost in the
 * middle of a send, a bare socket server that drops it after the body:
 * credentials, a connection the server closes while idle, the bound on
 * connections at once and on mails per connection, and a lost send that
 * fails once rather than being sent again behind the store's back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { parseConfig } from '../../src/config/load.js';
import { createTransport, isPermanentSmtpError } from '../../queue/transport.js';
import { TransportError } from '../../src/errors.js';
import { freePort } from '../harness/ports.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const RAW = Buffer.from('From: bot@ztrust.test\r\nTo: someone@example.org\r\nSubject: a reply\r\nMessage-ID: <r1@ztrust.test>\r\n\r\nHello.\r\n');
const ENVELOPE = { from: 'bot@ztrust.test', to: ['someone@example.org'] };

interface Server { port: number; mails: { user: string | undefined; raw: Buffer }[]; connections: number; maxOpen: number; delayMs: number }

async function smtpServer(t: { after: (fn: () => Promise<void>) => void }, opts: Partial<SMTPServerOptions>): Promise<Server> {
  const s: Server = { port: await freePort(), mails: [], connections: 0, maxOpen: 0, delayMs: 5 };
  let open = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], hideSTARTTLS: true, disableReverseLookup: true, logger: false, closeTimeout: 200,
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
        s.mails.push({ user: (session.user as string | undefined), raw: Buffer.concat(chunks) });
        setTimeout(cb, s.delayMs); // a little time in the server, so sends overlap
      });
    },
    ...opts,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(s.port, '127.0.0.1', () => resolve());
  });
  server.on('error', () => undefined);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return s;
}

function transport(dir: string, url: string, extra: { outbox?: Record<string, unknown>; concurrency?: number } = {}) {
  const cfg = parseConfig({
    bot: { address: 'bot@ztrust.test', name: 'ztrust-bot' },
    dataDir: dir,
    mailbox: { url: `maildir:${path.join(dir, 'inbox')}` },
    outbox: { url, tls: { starttls: false }, ...extra.outbox },
    queue: { outboundConcurrency: extra.concurrency ?? 8 },
    maintainers: [],
  }, dir);
  return createTransport(cfg);
}

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'zt-smtp-pool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('credentials: used after STARTTLS when the server offers AUTH; a wrong password is the server\'s permanent refusal, nothing delivered',
  { skip: hasOpenssl ? false : 'openssl is not installed' }, async (t) => {
    const dir = tmp(t);
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const server = await smtpServer(t, {
      authOptional: false, disabledCommands: [], hideSTARTTLS: false, key: readFileSync(keyFile), cert: readFileSync(certFile), authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'relay-user' && auth.password === 'right horse') cb(null, { user: auth.username });
        else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
    });
    const url = `smtp://127.0.0.1:${server.port}`;
    process.env.ZT_POOL_TEST_PASS = 'right horse';
    const good = transport(dir, url, { outbox: { user: 'relay-user', passwordEnv: 'ZT_POOL_TEST_PASS', tls: { starttls: true, caFile: certFile } } });
    await good.send('a1', ENVELOPE, RAW);
    good.close();
    assert.deepEqual(server.mails.map((m) => m.user), ['relay-user']);
    assert.ok(server.mails[0].raw.equals(RAW));

    process.env.ZT_POOL_TEST_PASS = 'wrong horse';
    const bad = transport(dir, url, { outbox: { user: 'relay-user', passwordEnv: 'ZT_POOL_TEST_PASS', tls: { starttls: true, caFile: certFile } } });
    await assert.rejects(bad.send('a2', ENVELOPE, RAW), (err: unknown) =>
      err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /Invalid username or password/.test(err.message) && isPermanentSmtpError(err));
    bad.close();
    delete process.env.ZT_POOL_TEST_PASS;
    assert.equal(server.mails.length, 1, 'nothing delivered without the right credentials');
  });

test('a connection the server closed while idle is dropped, and the next send opens another and succeeds', async (t) => {
  const dir = tmp(t);
  const server = await smtpServer(t, { socketTimeout: 150 });
  const tr = transport(dir, `smtp://127.0.0.1:${server.port}`);
  await tr.send('i1', ENVELOPE, RAW);
  await new Promise((r) => setTimeout(r, 600)); // the server times the idle connection out (421) and closes it
  await tr.send('i2', ENVELOPE, RAW);
  tr.close();
  assert.equal(server.mails.length, 2);
  assert.equal(server.connections, 2, 'a second connection, not a send into the closed one');
});

test('at most outboundConcurrency connections at once, reused; a connection is replaced after 1,000 mails', async (t) => {
  const dir = tmp(t);
  const server = await smtpServer(t, {});
  const tr = transport(dir, `smtp://127.0.0.1:${server.port}`, { concurrency: 3 });
  await Promise.all(Array.from({ length: 30 }, (_, i) => tr.send(`c${i}`, ENVELOPE, RAW)));
  assert.equal(server.mails.length, 30);
  assert.equal(server.maxOpen, 3, 'three at once, no more');
  assert.equal(server.connections, 3, 'each reused for the next mail');
  tr.close();

  server.delayMs = 0;
  const one = transport(dir, `smtp://127.0.0.1:${server.port}`, { concurrency: 1 });
  for (let i = 0; i < 1001; i++) await one.send(`m${i}`, ENVELOPE, RAW);
  one.close();
  assert.equal(server.connections, 3 + 2, '1,000 mails on the first connection, the 1,001st on a new one');
});

test('a connection lost after the body was sent fails that send once (temporary), and the mail is not sent again by the transport', async (t) => {
  const dir = tmp(t);
  let bodies = 0;
  let conns = 0;
  const sockets = new Set<net.Socket>();
  // A bare SMTP server that takes the body and then drops the connection without an answer.
  const server = net.createServer((sock) => {
    conns++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let inData = false;
    let buf = '';
    sock.write('220 drop.test ESMTP\r\n');
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (inData) {
        if (buf.includes('\r\n.\r\n')) {
          bodies++;
          sock.destroy();
        }
        return;
      }
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (/^EHLO/i.test(line)) sock.write('250-drop.test\r\n250 8BITMIME\r\n');
        else if (/^DATA/i.test(line)) {
          sock.write('354 go ahead\r\n');
          inData = true;
          return;
        } else sock.write('250 ok\r\n');
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  const tr = transport(dir, `smtp://127.0.0.1:${port}`);
  await assert.rejects(tr.send('d1', ENVELOPE, RAW), (err: unknown) =>
    err instanceof TransportError && err.code === 'TRANSPORT_SEND' && !isPermanentSmtpError(err));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(bodies, 1, 'sent once; whether it is sent again is the store\'s decision');
  assert.equal(conns, 1);
  tr.close();
});
