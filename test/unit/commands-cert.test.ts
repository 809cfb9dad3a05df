/**
 * SUBMIT CERT through the real Dispatcher and apply step, with CA
 * certificates made by the openssl CLI and detached signatures by
 * collection keys: admitted certificates are stored byte-exact after two
 * approvals; bad signatures, non-CA certificates, strangers' signatures,
 * bad and taken names are refused with the rule.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { signerFromKey } from '../../src/pgp/botkey.js';
import { community, flat, person, type Person, TO_BOT } from './commands-world.js';

const skip = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed';
const dir = mkdtempSync(path.join(tmpdir(), 'zt-cert-'));

function makeCert(name: string, ext = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']): Buffer {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-subj', `/CN=${name} Root`, ...ext.flatMap((e) => ['-addext', e])], { cwd: dir });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return readFileSync(path.join(dir, `${name}.crt`));
}

async function sign(p: Person, data: Buffer): Promise<string> {
  return (await signerFromKey(p.key).signDetached(data)).armored;
}

describe('SUBMIT CERT', { skip }, () => {
  test('a CA certificate with a detached signature by a collection key: ticket, two approvals, stored byte-exact', async () => {
    const { w, alice, bob, carol } = await community();
    const pem = makeCert('volunteer');
    const sig = await sign(carol, pem);
    const s = await w.send(await w.mail(alice, `SUBMIT CERT volunteer-root\n${TO_BOT}\n\nOur new root.\n`, {
      attachments: [
        { filename: 'volunteer-root.crt', contentType: 'application/x-x509-ca-cert', content: pem },
        { filename: 'volunteer-root.crt.asc', contentType: 'application/pgp-signature', content: sig },
      ],
    }));
    const r = s.replies[0];
    assert.equal(r.status, 'pending', r.text);
    assert.equal(s.replies.length, 4);
    const t = (await w.store.getTicket(r.fields.Ticket))!;
    assert.equal(t.kind, 'add-cert');
    assert.equal(t.subject, 'volunteer-root');
    assert.match(t.content, /^Certificate-Subject: CN=volunteer Root$/m);
    assert.match(t.content, new RegExp(`^Admitted-By: signature by ${carol.fpr}$`, 'm'));
    assert.ok(t.content.includes('-----BEGIN CERTIFICATE-----'));
    assert.ok(t.content.includes('-----BEGIN PGP SIGNATURE-----'));
    await w.send(await w.mail(bob, `APPROVE ${t.id} ${t.digest}\n${TO_BOT}`));
    await w.send(await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}`, { signing: 'inline' }));
    const { outcomes, notices } = await w.applyAll();
    assert.equal(outcomes[0].state, 'applied', outcomes[0].detail);
    assert.equal(notices[0].status, 'applied');
    assert.deepEqual(notices[0].to, ['alice@people.test']);
    const col = await w.collection();
    const stored = (await col.certs()).find((c) => c.name === 'volunteer-root')!;
    assert.ok(stored.pem.equals(pem), 'byte-exact');
    assert.equal(stored.signature, sig);
    assert.match(readFileSync(path.join(col.dir, 'pki', 'pki-bundle.pem'), 'utf8'), /BEGIN CERTIFICATE/);
    assert.match(readFileSync(path.join(col.dir, 'SHA256SUMS'), 'utf8'), / {2}pki\/all\/volunteer-root\.crt\n/);
    assert.match(await col.git(['log', '-1', '--format=%B']), /^Add certificate volunteer-root\n/);

    // The name is now taken.
    const again = await w.send(await w.mail(alice, `SUBMIT CERT volunteer-root\n${TO_BOT}`, {
      attachments: [{ filename: 'x.crt', contentType: 'application/x-x509-ca-cert', content: pem },
        { filename: 'x.crt.asc', contentType: 'application/pgp-signature', content: sig }],
    }));
    assert.match(flat(again.replies[0].text), /Rule: cert-name-taken/);
  });

  test('pasted into the signed text, PEM and signature, is accepted too', async () => {
    const { w, alice } = await community();
    const pem = makeCert('pasted');
    const sig = await sign(alice, pem);
    const s = await w.send(await w.mail(alice, `SUBMIT CERT pasted\n${TO_BOT}\n\n${pem.toString()}\n${sig}`, { signing: 'inline' }));
    assert.equal(s.replies[0].status, 'pending', s.replies[0].text);
  });

  test('refused: corrupted signature, signature over other bytes, a stranger\'s signature, not a CA, no certificate, bad name, unsigned mail', async () => {
    const { w, alice, bob } = await community();
    const pem = makeCert('refuse');
    const good = await sign(bob, pem);
    const att = (sig: string, cert = pem) => [
      { filename: 'r.crt', contentType: 'application/x-x509-ca-cert', content: cert },
      { filename: 'r.crt.asc', contentType: 'application/pgp-signature', content: sig },
    ];
    // Flip one bit in the signature value (the armour stays readable).
    const bytes = Buffer.from((await openpgp.readSignature({ armoredSignature: good })).write());
    bytes[bytes.length - 5] ^= 0x01;
    const corrupted = openpgp.armor(openpgp.enums.armor.signature, bytes);
    const r1 = await w.send(await w.mail(alice, `SUBMIT CERT refuse\n${TO_BOT}`, { attachments: att(corrupted) }));
    assert.equal(r1.replies[0].status, 'error');
    assert.match(flat(r1.replies[0].text), /Rule: certificate-signature/);
    assert.match(flat(r1.replies[0].text), /does not verify over these exact bytes/);

    const other = makeCert('other');
    const r2 = await w.send(await w.mail(alice, `SUBMIT CERT refuse\n${TO_BOT}`, { attachments: att(await sign(bob, other)) }));
    assert.match(flat(r2.replies[0].text), /Rule: certificate-signature/);

    const stranger = await person('Sid', 'sid@elsewhere.test');
    const r3 = await w.send(await w.mail(alice, `SUBMIT CERT refuse\n${TO_BOT}`, { attachments: att(await sign(stranger, pem)) }));
    assert.match(flat(r3.replies[0].text), /which is not in the collection/);

    const leaf = makeCert('leaf', ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature']);
    const r4 = await w.send(await w.mail(alice, `SUBMIT CERT leaf\n${TO_BOT}`, { attachments: att(await sign(bob, leaf), leaf) }));
    assert.match(flat(r4.replies[0].text), /Rule: ca-certificate/);
    assert.match(flat(r4.replies[0].text), /CA:FALSE/);

    const r5 = await w.send(await w.mail(alice, `SUBMIT CERT refuse\n${TO_BOT}\n\nforgot the file`));
    assert.match(flat(r5.replies[0].text), /Rule: no-certificate/);
    const r6 = await w.send(await w.mail(alice, `SUBMIT CERT ../../etc/passwd\n${TO_BOT}`, { attachments: att(good) }));
    assert.match(flat(r6.replies[0].text), /Rule: cert-name/);
    const r7 = await w.send(await w.mail(alice, `SUBMIT CERT\n${TO_BOT}`, { attachments: att(good) }));
    assert.match(flat(r7.replies[0].text), /Rule: cert-name/);
    const r8 = await w.send(await w.mail(null, `SUBMIT CERT refuse\n${TO_BOT}`, { attachments: att(good) }));
    assert.equal(r8.outcome, 'refused:unsigned');
    assert.deepEqual(await w.store.listTickets(), []);
  });
});
