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
import net from 'node:net';
import { connectNoDelay, isPermanentSmtpError } from '../../queue/transport.js';
import { SmtpPool, type SmtpPoolOptions } from '../../queue/smtp-pool.js';
import { TransportError } from '../../src/errors.js';
import { freePort } from '../harness/ports.js';
import { ENVELOPE, makeCert, noOpenssl, RAW, smtpServer, tmpDir, transportFor } from './smtp-servers.js';

/** The transport for `url` (STARTTLS off unless `outbox` says), with `concurrency` connections. */
const transport = (dir: string, url: string, extra: { outbox?: Record<string, unknown>; concurrency?: number } = {}) =>
  transportFor(dir, { url, tls: { starttls: false }, ...extra.outbox }, extra.concurrency ?? 8);
const tmp = (t: Parameters<typeof tmpDir>[0]) => tmpDir(t, 'zt-smtp-pool-');

test('credentials: used after STARTTLS when the server offers AUTH; a wrong password is refused (temporary), nothing delivered',
  { skip: noOpenssl }, async (t) => {
    const dir = tmp(t);
    const { key, cert, certFile } = makeCert(dir);
    const server = await smtpServer(t, {
      authOptional: false, disabledCommands: [], hideSTARTTLS: false, key, cert, authMethods: ['PLAIN', 'LOGIN'],
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
    // Temporary: a refusal while opening the session says nothing about the mail
    // (a permanent one would make every reply sent until the operator mends it dead).
    await assert.rejects(bad.send('a2', ENVELOPE, RAW), (err: unknown) =>
      err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /Invalid username or password/.test(err.message) && !isPermanentSmtpError(err));
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
  const server = await smtpServer(t, { delayMs: 5 });
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

type Say = (line: string, sock: net.Socket) => void;

/**
 * A scripted SMTP server on a bare socket: `greet` at connect (default 220),
 * then `answer` for each command line (default: accept everything); the
 * body is taken to the lone dot and answered by `answer('<EOD>')`.
 */
interface Seen { conns: number; open: number; maxOpen: number; lines: string[]; bodies: number }

async function scripted(t: { after: (fn: () => Promise<void>) => void }, o: { greet?: (sock: net.Socket, seen: Seen) => void; answer?: Partial<Record<string, Say>> } = {}) {
  const seen: Seen = { conns: 0, open: 0, maxOpen: 0, lines: [], bodies: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    seen.conns++;
    seen.maxOpen = Math.max(seen.maxOpen, ++seen.open);
    sockets.add(sock);
    sock.on('close', () => { seen.open--; sockets.delete(sock); });
    sock.on('error', () => undefined);
    let buf = '';
    let data = false;
    const say = (verb: string, line: string, dflt: string): void => {
      const f = o.answer?.[verb];
      if (f) f(line, sock);
      else if (verb === 'QUIT') sock.end(dflt);
      else sock.write(dflt);
    };
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data) {
          if (line === '.') {
            data = false;
            seen.bodies++;
            say('<EOD>', line, '250 queued\r\n');
          }
          continue;
        }
        seen.lines.push(line);
        const verb = line.split(/[ :]/)[0].toUpperCase();
        if (verb === 'DATA') data = true;
        say(verb, line, verb === 'EHLO' ? '250-scripted\r\n250 8BITMIME\r\n' : verb === 'DATA' ? '354 go ahead\r\n' : verb === 'QUIT' ? '221 bye\r\n' : '250 ok\r\n');
      }
    });
    if (o.greet) o.greet(sock, seen);
    else sock.write('220 scripted ESMTP\r\n');
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => {
    for (const sock of sockets) sock.destroy();
    server.close(() => r());
  }));
  return { port, seen };
}

function poolFor(port: number, o: Partial<SmtpPoolOptions> = {}): SmtpPool {
  return new SmtpPool({
    max: 2, maxMessages: 1000,
    smtp: { host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 5000, logger: false },
    openSocket: () => new Promise((resolve, reject) => connectNoDelay('127.0.0.1', port, (err, s) => (s ? resolve(s.connection) : reject(err ?? new Error('no socket'))))),
    ...o,
  });
}

const settled = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => `failed: ${e.message}`);

test('a connection counts against the bound until its socket has closed: a relay that allows two connections a client, and answers QUIT slowly, never sees a third', async (t) => {
  const server = await scripted(t, {
    greet: (sock, seen) => (seen.open > 2 ? sock.end('421 4.7.0 too many connections from you\r\n') : sock.write('220 ok\r\n')),
    answer: { QUIT: (_l, sock) => setTimeout(() => sock.end('221 bye\r\n'), 50) },
  });
  const pool = poolFor(server.port, { max: 2, maxMessages: 3 });
  const results = await Promise.all(Array.from({ length: 30 }, () => settled(pool.send(ENVELOPE, RAW))));
  pool.close();
  assert.deepEqual(results.filter((r) => r !== 'ok'), []);
  assert.equal(server.seen.bodies, 30);
  assert.ok(server.seen.maxOpen <= 2, `at most two at once (saw ${server.seen.maxOpen})`);
  assert.ok(server.seen.conns >= 10, `each connection retired after three mails (${server.seen.conns} opened)`);
});

test('a relay that refuses connections for a moment fails one send per attempt, spaced out, not every send waiting', async (t) => {
  const t0 = Date.now();
  const server = await scripted(t, { greet: (sock) => (Date.now() - t0 < 300 ? sock.end('421 4.3.2 restarting\r\n') : sock.write('220 ok\r\n')) });
  const pool = poolFor(server.port, { max: 2, reopenDelayMs: 50, reopenDelayMaxMs: 400 });
  const results = await Promise.all(Array.from({ length: 30 }, () => settled(pool.send(ENVELOPE, RAW))));
  pool.close();
  const failed = results.filter((r) => r !== 'ok');
  assert.ok(failed.length >= 1 && failed.length <= 6, `a few failed while it refused (${failed.length}): ${failed[0]}`);
  assert.ok(failed.every((r) => /421|restarting/.test(r)), failed.join('; '));
  assert.equal(server.seen.bodies, 30 - failed.length, 'the rest delivered once it took connections again');
  assert.ok(server.seen.conns <= failed.length + 2, `no storm of connections (${server.seen.conns})`);
});

test('an exchange has a deadline: a server that trickles its answer forever fails the send (temporary), and the slot comes free', async (t) => {
  const server = await scripted(t, {
    answer: { '<EOD>': (_l, sock) => { const i = setInterval(() => (sock.destroyed ? clearInterval(i) : sock.write('250-still thinking\r\n')), 100); } },
  });
  const pool = poolFor(server.port, { max: 1, sendMs: 600 });
  const t0 = Date.now();
  const r = await settled(pool.send(ENVELOPE, RAW));
  const took = Date.now() - t0;
  assert.match(r, /sending the mail took more than 600 ms/);
  assert.ok(took >= 550 && took < 3000, `ended at the deadline (${took} ms)`);
  // The one slot is free again: the next send gets a connection (and meets the same server).
  assert.match(await settled(pool.send(ENVELOPE, RAW)), /took more than 600 ms/);
  assert.equal(server.seen.conns, 2, 'the late connection was not reused');
  pool.close();
});

test('envelope domains go out in their ASCII form; a recipient refused among others is reported and the mail counts as sent; all refused is temporary if any refusal was', async (t) => {
  const server = await scripted(t, {
    answer: {
      RCPT: (line, sock) => sock.write(/refuse-perm/.test(line) ? '550 5.1.1 no such user\r\n' : /refuse-temp/.test(line) ? '450 4.2.1 try later\r\n' : '250 ok\r\n'),
    },
  });
  const pool = poolFor(server.port);
  assert.deepEqual(await pool.send({ from: 'bot@ztrust.test', to: ['user@bücher.example'] }, RAW), { refused: [] });
  assert.ok(server.seen.lines.includes('RCPT TO:<user@xn--bcher-kva.example>'), server.seen.lines.join(' | '));
  assert.deepEqual(await pool.send({ from: 'bot@ztrust.test', to: ['a@example.org', 'refuse-perm@example.org'] }, RAW), { refused: ['refuse-perm@example.org'] });
  const dir = tmp(t);
  const tr = transport(dir, `smtp://127.0.0.1:${server.port}`);
  await assert.rejects(tr.send('x1', { from: 'bot@ztrust.test', to: ['refuse-temp@example.org', 'refuse-perm@example.org'] }, RAW),
    (err: unknown) => err instanceof TransportError && !isPermanentSmtpError(err));
  await assert.rejects(tr.send('x2', { from: 'bot@ztrust.test', to: ['refuse-perm@example.org'] }, RAW),
    (err: unknown) => err instanceof TransportError && isPermanentSmtpError(err) && /550/.test(err.message));
  // A refusal at the greeting is temporary too, whatever its code.
  const closedShop = await scripted(t, { greet: (sock) => sock.end('554 5.3.2 not accepting mail\r\n') });
  const tr2 = transport(dir, `smtp://127.0.0.1:${closedShop.port}`);
  await assert.rejects(tr2.send('x3', ENVELOPE, RAW), (err: unknown) => err instanceof TransportError && !isPermanentSmtpError(err) && /554/.test(err.message));
  tr.close();
  tr2.close();
  pool.close();
});
