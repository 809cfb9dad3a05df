// Proves the real-stack harness works: a private Dovecot (IMAP + LMTP), Redis,
// a capturing SMTP listener and GnuPG, each started, used through the same
// clients the bot uses, and stopped without leaving processes or files behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import { Redis } from 'ioredis';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { startDovecot, type DovecotHandle } from '../harness/dovecot.js';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { freePort } from '../harness/ports.js';
import { processesInGroup, processesWithArg } from '../harness/procs.js';
import { startRedis } from '../harness/redis.js';
import { startSmtp } from '../harness/smtp.js';

const stops: (() => Promise<void>)[] = [];
after(async () => {
  // Whatever a failed test left running.
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

const crlf = (b: Buffer | string) => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

async function fetchAll(d: DovecotHandle, user = d.user, pass = d.password): Promise<{ uid: number; source: Buffer }[]> {
  const client = new ImapFlow({ host: d.host, port: d.imapPort, secure: false, auth: { user, pass }, logger: false });
  await client.connect();
  try {
    const lock = await client.getMailboxLock('INBOX');
    try {
      const out: { uid: number; source: Buffer }[] = [];
      if (client.mailbox && client.mailbox.exists === 0) return out; // "1:*" is an error on an empty mailbox
      // Only collect inside the fetch loop: another IMAP command there would deadlock.
      for await (const m of client.fetch('1:*', { uid: true, source: true })) {
        if (m.source) out.push({ uid: m.uid, source: m.source });
      }
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

/** The delivered copy must be the original (in CRLF) with only the delivery headers on top. */
function assertDeliveredCopy(source: Buffer, original: Buffer | string): void {
  const want = crlf(original);
  assert.ok(source.length > want.length, 'delivered copy is shorter than the original');
  assert.ok(source.subarray(source.length - want.length).equals(want), 'delivered copy does not end with the exact original bytes');
  const prefix = source.subarray(0, source.length - want.length).toString('latin1');
  const names = prefix
    .split('\r\n')
    .filter((l) => l && !/^[ \t]/.test(l))
    .map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
  assert.ok(names.length > 0);
  for (const n of names) assert.ok(['return-path', 'delivered-to', 'received'].includes(n), `unexpected added header ${n}`);
}

describe('ports', () => {
  test('freePort gives distinct, bindable loopback ports', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
    for (const p of ports) assert.ok(p > 0 && p < 65536);
    assert.ok(await portClosed(ports[0]));
  });
});

describe('dovecot', () => {
  test('LMTP delivery lands byte-exact in INBOX, IMAP reads it; stop leaves nothing behind', async (t) => {
    const t0 = performance.now();
    const d = await startDovecot();
    stops.push(() => d.stop());
    t.diagnostic(`dovecot started in ${(performance.now() - t0).toFixed(0)} ms (imap ${d.imapPort}, lmtp ${d.lmtpPort})`);
    assert.equal(d.imapUrl, `imap://${d.user}@127.0.0.1:${d.imapPort}/INBOX`);
    assert.ok(processesInGroup(d.pid).length >= 2, 'expected a master and workers');

    // LF line endings (as files hold them), a line starting with a dot
    // (dot-stuffing), a line that is only a dot, 8-bit text and trailing space.
    const m1 = 'From: Alice <alice@example.org>\nTo: bot@harness.test\nSubject: first\nMessage-ID: <m1@example.org>\n\n.leading dot\n.\nGr\u00fc\u00dfe  \nend\n';
    const m2 = Buffer.from('From: bob@example.org\r\nSubject: second\r\nMessage-ID: <m2@example.org>\r\n\r\nbody two\r\n');
    await d.deliver(m1);
    await d.deliver(m2, { from: '' }); // null sender, as a bounce has

    const got = await fetchAll(d);
    assert.equal(got.length, 2);
    assert.ok(got[0].uid < got[1].uid);
    assertDeliveredCopy(got[0].source, Buffer.from(m1, 'utf8'));
    assertDeliveredCopy(got[1].source, m2);
    assert.match(got[0].source.toString('latin1'), /^Return-Path: <sender@harness\.test>\r\n/);
    assert.match(got[1].source.toString('latin1'), /^Return-Path: <>\r\n/);

    // A wrong password is refused.
    const bad = new ImapFlow({ host: d.host, port: d.imapPort, secure: false, auth: { user: d.user, pass: 'wrong' }, logger: false });
    bad.on('error', () => {});
    await assert.rejects(bad.connect());
    bad.close();

    // LMTP refuses an unknown recipient, and deliver() reports it.
    await assert.rejects(d.deliver('Subject: x\n\nx\n', { user: 'nobody' }), /nobody|550|User doesn't exist/i);

    // The messages are files in the user's Maildir (new/, or cur/ once an
    // IMAP session has seen them), with LF line endings.
    const onDisk = ['new', 'cur'].flatMap((sub) =>
      readdirSync(`${d.maildir()}/${sub}`).map((f) => readFileSync(`${d.maildir()}/${sub}/${f}`).toString('latin1')),
    );
    assert.equal(onDisk.length, 2);
    assert.ok(onDisk.every((text) => !text.includes('\r')), 'Maildir files hold LF line endings');
    assert.ok(onDisk.some((text) => text.endsWith(m2.toString('latin1').replace(/\r\n/g, '\n'))));

    // An added user gets its own mailbox; a user name is taken once.
    await d.addUser('alice', 'alice-pw');
    await assert.rejects(d.addUser('alice', 'again'), /exists already/);
    await d.deliver('Subject: for alice\n\nhi alice\n', { user: 'alice' });
    const alice = await fetchAll(d, 'alice', 'alice-pw');
    assert.equal(alice.length, 1);
    assert.match(alice[0].source.toString(), /Subject: for alice/);
    assert.equal((await fetchAll(d)).length, 2);

    const t1 = performance.now();
    await d.stop();
    t.diagnostic(`dovecot stopped in ${(performance.now() - t1).toFixed(0)} ms`);
    assert.deepEqual(processesInGroup(d.pid), []);
    assert.equal(existsSync(d.dir), false);
    assert.ok(await portClosed(d.imapPort));
    assert.ok(await portClosed(d.lmtpPort));
    await d.stop(); // idempotent
  });

  test('two instances run side by side, independently', async () => {
    const [a, b] = await Promise.all([startDovecot(), startDovecot()]);
    stops.push(() => a.stop(), () => b.stop());
    assert.notEqual(a.imapPort, b.imapPort);
    await a.deliver('Subject: only in a\n\na\n');
    assert.equal((await fetchAll(a)).length, 1);
    assert.equal((await fetchAll(b)).length, 0);
    await Promise.all([a.stop(), b.stop()]);
    assert.deepEqual([...processesInGroup(a.pid), ...processesInGroup(b.pid)], []);
  });
});

describe('redis', () => {
  test('answers PING via ioredis; stop leaves nothing behind', async (t) => {
    const t0 = performance.now();
    const r = await startRedis();
    stops.push(() => r.stop());
    t.diagnostic(`redis started in ${(performance.now() - t0).toFixed(0)} ms (port ${r.port})`);
    assert.equal(r.url, `redis://127.0.0.1:${r.port}`);
    const client = new Redis(r.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    assert.equal(await client.ping(), 'PONG');
    await client.set('k', 'v');
    assert.equal(await client.get('k'), 'v');
    assert.equal(await client.config('GET', 'save').then((x) => (x)[1]), '');
    client.disconnect();
    const t1 = performance.now();
    await r.stop();
    t.diagnostic(`redis stopped in ${(performance.now() - t1).toFixed(0)} ms`);
    assert.deepEqual(processesInGroup(r.pid), []);
    assert.equal(existsSync(r.dir), false);
    assert.ok(await portClosed(r.port));
  });
});

describe('smtp', () => {
  test('captures what nodemailer sends; failNext gives a 451 the client sees', async () => {
    const s = await startSmtp();
    stops.push(() => s.stop());
    assert.equal(s.url, `smtp://127.0.0.1:${s.port}`);
    const tx = nodemailer.createTransport({ host: '127.0.0.1', port: s.port, secure: false, ignoreTLS: true });
    try {
      await tx.sendMail({
        envelope: { from: 'bounces+1@bot.example', to: ['a@example.org', 'b@example.org'] },
        from: 'bot@bot.example',
        to: 'a@example.org',
        subject: 'hello',
        text: 'line one\n.dot line\n',
      });
      const [m] = await s.waitFor(1);
      assert.equal(m.envelopeFrom, 'bounces+1@bot.example');
      assert.deepEqual(m.recipients, ['a@example.org', 'b@example.org']);
      const parsed = await simpleParser(m.raw);
      assert.equal(parsed.subject, 'hello');
      assert.equal(parsed.text, 'line one\n.dot line\n');
      assert.match(m.raw.toString(), /\r\n\.dot line\r\n/); // dot-unstuffed, CRLF

      s.failNext(1);
      await assert.rejects(
        tx.sendMail({ from: 'bot@bot.example', to: 'a@example.org', subject: 'retry me', text: 'x' }),
        (e: Error & { responseCode?: number }) => e.responseCode === 451,
      );
      assert.equal(s.messages.length, 1);
      assert.equal(s.rejected.length, 1);
      await tx.sendMail({ from: 'bot@bot.example', to: 'a@example.org', subject: 'retry me', text: 'x' });
      assert.equal((await s.waitFor(2)).length, 2);

      s.failNext(1, 550);
      await assert.rejects(
        tx.sendMail({ from: 'bot@bot.example', to: 'a@example.org', subject: 'no', text: 'x' }),
        (e: Error & { responseCode?: number }) => e.responseCode === 550,
      );
      await assert.rejects(s.waitFor(3, 200), /waited 200 ms for 3 message\(s\), got 2/);
      await tx.sendMail({ envelope: { from: '', to: ['a@example.org'] }, raw: 'Subject: bounce\r\n\r\nx\r\n' });
      assert.equal((await s.waitFor(3))[2].envelopeFrom, '');
    } finally {
      tx.close();
    }
    await s.stop();
    assert.ok(await portClosed(s.port));
  });
});

describe('gpg', () => {
  let g: GpgHome;
  let other: GpgHome;
  let fpr: string;
  const headers = { from: 'Alice <alice@example.org>', to: 'bot@harness.test', subject: 'ADD key, Gr\u00fc\u00dfe' };
  const body = 'Hello bot,\nFrom here on  \n-- \nAlice\n';

  test('setup: a key in a temporary GNUPGHOME', async (t) => {
    const t0 = performance.now();
    g = await makeGpgHome();
    other = await makeGpgHome();
    stops.push(() => g.cleanup(), () => other.cleanup());
    fpr = await g.genKey('Alice <alice@example.org>');
    t.diagnostic(`ed25519 key in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.match(fpr, /^[0-9A-F]{40}$/);
    const listed = await g.run(['--with-colons', '--list-keys', fpr]);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout.toString(), new RegExp(`^fpr:+${fpr}:`, 'm'));
    assert.match(listed.stdout.toString(), /^sub:[^\n]*:e:/m, 'expected an encryption subkey');
  });

  test('PGP/MIME: gpg verifies it (LF and CRLF); an independent split + openpgp.js agree; tampering fails', async () => {
    const lf = await g.pgpMimeMessage(fpr, headers, body);
    assert.ok(!lf.includes('\r\n'), 'default output has LF line endings');
    const text = lf.toString('latin1');
    assert.match(text, /Content-Type: multipart\/signed; micalg=pgp-sha512;\n protocol="application\/pgp-signature";/);

    const v = await g.verifyMail(lf);
    assert.deepEqual([v.ok, v.kind, v.signer], [true, 'pgpmime', fpr], v.status);
    const v2 = await g.verifyMail(await g.pgpMimeMessage(fpr, headers, body, { crlf: true }));
    assert.equal(v2.ok, true, v2.status);

    // Second opinion with none of the harness's parsing: take the first part
    // by plain string search in CRLF form and check it with openpgp.js.
    const c = crlf(lf).toString('latin1');
    const b = /boundary="([^"]+)"/.exec(c)![1];
    const first = c.indexOf(`--${b}\r\n`) + b.length + 4;
    const signed = c.slice(first, c.indexOf(`\r\n--${b}\r\n`, first));
    const armored = /-----BEGIN PGP SIGNATURE-----[\s\S]*?-----END PGP SIGNATURE-----/.exec(c)![0];
    const key = await openpgp.readKey({ armoredKey: await g.exportPublic(fpr) });
    const res = await openpgp.verify({
      message: await openpgp.createMessage({ binary: Buffer.from(signed, 'latin1') }),
      signature: await openpgp.readSignature({ armoredSignature: armored }),
      verificationKeys: key,
      expectSigned: true,
    });
    assert.equal(res.signatures[0].keyID.toHex().toUpperCase(), fpr.slice(-16));

    // mailparser sees the body text and the signature part.
    const parsed = await simpleParser(lf);
    assert.equal(parsed.subject, headers.subject);
    assert.equal(parsed.text, body);
    assert.ok(parsed.attachments.some((a) => a.contentType === 'application/pgp-signature'));

    // One changed byte in the signed part (even one only QP-visible) fails.
    const tampered = Buffer.from(text.replace('Hello bot', 'Hello bit'), 'latin1');
    const tv = await g.verifyMail(tampered);
    assert.deepEqual([tv.ok, tv.kind, tv.signer], [false, 'pgpmime', null]);
    assert.match(tv.status, /BADSIG/);
    const padded = Buffer.from(text.replace('=46rom here on =20', '=46rom here on  =20'), 'latin1');
    assert.notDeepEqual(padded, lf);
    assert.equal((await g.verifyMail(padded)).ok, false);

    // A verifier without the key cannot vouch for it; after importing, it can.
    const unknown = await other.verifyMail(lf);
    assert.equal(unknown.ok, false);
    assert.match(unknown.status, /NO_PUBKEY|ERRSIG/);
    await other.importKeys(await g.exportPublic(fpr));
    assert.equal((await other.verifyMail(lf)).signer, fpr);
  });

  test('PGP/MIME with attachments, protected headers, text-mode signature and SHA-256', async () => {
    const m = await g.pgpMimeMessage(fpr, headers, 'see attached\n', {
      attachments: [{ filename: 'SHA256SUMS', contentType: 'text/plain', content: `${'a'.repeat(64)}  tool.tar.gz\n` }],
      protectedHeaders: true,
      textmode: true,
      digest: 'SHA256',
    });
    const v = await g.verifyMail(m);
    assert.equal(v.ok, true, v.status);
    assert.match(m.toString(), /micalg=pgp-sha256;/);
    assert.match(v.status, /VALIDSIG \S+ \S+ \S+ \S+ \S+ \S+ \S+ 8 01 /, 'sha256 (8), text signature (01)');
    assert.match(m.toString(), /protected-headers="v1"/);
    const parsed = await simpleParser(m);
    const sums = parsed.attachments.find((a) => a.filename === 'SHA256SUMS');
    assert.equal(sums?.content.toString(), `${'a'.repeat(64)}  tool.tar.gz\n`);
  });

  test('inline: clearsigned body verifies (UTF-8 and Latin-1); tampering fails; unsigned is unsigned', async () => {
    const m = await g.inlineMessage(fpr, headers, body);
    const v = await g.verifyMail(m);
    assert.deepEqual([v.ok, v.kind, v.signer], [true, 'inline', fpr], v.status);
    const tampered = Buffer.from(m.toString('latin1').replace('Hello bot', 'Hello bat'), 'latin1');
    const tv = await g.verifyMail(tampered);
    assert.deepEqual([tv.ok, tv.kind], [false, 'inline']);
    assert.match(tv.status, /BADSIG/);

    const latin = await g.inlineMessage(fpr, headers, 'Caf\u00e9\n', { charset: 'ISO-8859-1' });
    assert.match(latin.toString('latin1'), /charset=ISO-8859-1/);
    assert.match(latin.toString('latin1'), /Caf=E9/);
    assert.equal((await g.verifyMail(latin)).ok, true);

    const plain = g.plainMessage(headers, body);
    assert.deepEqual(await g.verifyMail(plain), { ok: false, kind: 'unsigned', signer: null, signingKey: null, status: '' });
  });

  test('cross-signing, detached signatures, clearsign', async () => {
    const bobFpr = await other.genKey('Bob <bob@example.org>', { algo: 'rsa2048', encryptSubkey: false, expire: '2y' });
    await g.importKeys(await other.exportPublic(bobFpr));
    await g.signKey(fpr, bobFpr);
    const sigs = await g.run(['--with-colons', '--check-sigs', bobFpr]);
    assert.match(sigs.stdout.toString(), new RegExp(`^sig:!:[^\\n]*:${fpr}:`, 'm'), 'Bob carries a good certification by Alice');

    const data = Buffer.from('-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n');
    const sig = await g.detachSign(fpr, data);
    assert.equal(sig[0] & 0x80, 0x80, 'binary OpenPGP packet');
    const sigFile = `${g.home}/data.sig`;
    writeFileSync(sigFile, sig);
    const ok = await g.run(['--status-fd', '1', '--verify', sigFile, '-'], data);
    assert.match(ok.stdout.toString(), /VALIDSIG [^\n]* 00 /, 'binary document signature (class 00)');
    const bad = await g.run(['--status-fd', '1', '--verify', sigFile, '-'], Buffer.concat([data, Buffer.from('x')]));
    assert.notEqual(bad.code, 0);
    const asc = await g.detachSign(fpr, data, { armor: true, textmode: true });
    assert.match(asc.toString(), /^-----BEGIN PGP SIGNATURE-----/);

    const cs = await g.clearsign(fpr, 'VERIFY abc\n');
    assert.match(cs, /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nVERIFY abc\n-----BEGIN PGP SIGNATURE-----/);
  });

  test('a signed message survives LMTP delivery and IMAP fetch', async () => {
    const d = await startDovecot();
    stops.push(() => d.stop());
    const m = await g.pgpMimeMessage(fpr, headers, body, { attachments: [{ filename: 'k.asc', contentType: 'application/pgp-keys', content: await g.exportPublic(fpr) }] });
    const inline = await g.inlineMessage(fpr, headers, body);
    await d.deliver(m);
    await d.deliver(inline);
    const got = await fetchAll(d);
    assert.equal(got.length, 2);
    assertDeliveredCopy(got[0].source, m);
    const v = await g.verifyMail(got[0].source);
    assert.deepEqual([v.ok, v.kind, v.signer], [true, 'pgpmime', fpr], v.status);
    const vi = await g.verifyMail(got[1].source);
    assert.deepEqual([vi.ok, vi.kind, vi.signer], [true, 'inline', fpr], vi.status);
    await d.stop();
  });

  test('cleanup ends gpg-agent and removes the home', async () => {
    const h = await makeGpgHome();
    await h.genKey('Temp <t@example.org>', { encryptSubkey: false });
    assert.ok(processesWithArg(h.home).length > 0, 'gpg-agent runs for the home');
    await h.cleanup();
    assert.deepEqual(processesWithArg(h.home), []);
    assert.equal(existsSync(h.home), false);
  });
});

describe('exit cleanup', () => {
  const harness = (name: string) => fileURLToPath(new URL(`../harness/${name}.ts`, import.meta.url));
  // A child test process that starts everything and then dies in two ways the
  // test runner sees: an uncaught exception, and SIGTERM from outside.
  const script = `
    import { startDovecot } from ${JSON.stringify(harness('dovecot'))};
    import { startRedis } from ${JSON.stringify(harness('redis'))};
    import { makeGpgHome } from ${JSON.stringify(harness('gpg'))};
    const d = await startDovecot();
    const r = await startRedis();
    const g = await makeGpgHome();
    await g.genKey('x <x@example.org>', { encryptSubkey: false });
    console.log(JSON.stringify({ dovecot: d.pid, redis: r.pid, dirs: [d.dir, r.dir, g.home] }));
    if (process.argv[1] === 'throw') setTimeout(() => { throw new Error('test failed'); }, 50);
    else setInterval(() => {}, 1000);
  `;

  for (const how of ['throw', 'SIGTERM'] as const) {
    test(`a process that ends by ${how} leaves no service or temp dir behind`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, how], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (how === 'SIGTERM' && out.includes('\n')) child.kill('SIGTERM');
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
      const info = JSON.parse(out.trim().split('\n')[0]) as { dovecot: number; redis: number; dirs: string[] };
      if (how === 'throw') {
        assert.notEqual(code, 0);
        assert.match(err, /test failed/);
      } else {
        assert.equal(signal, 'SIGTERM');
      }
      assert.deepEqual(processesInGroup(info.dovecot), []);
      assert.deepEqual(processesInGroup(info.redis), []);
      for (const dir of info.dirs) {
        assert.equal(existsSync(dir), false, `${dir} was left behind`);
        assert.deepEqual(processesWithArg(dir), [], `a process for ${dir} was left behind`);
      }
    });
  }
});
