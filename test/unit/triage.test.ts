/**
 * The intake triage (src/commands/triage.ts) against the dispatcher it
 * stands in for: whenever the triage says "ignore", the dispatcher, given
 * the same bytes, must ignore the message too, with no reply. Checked on
 * hand-picked attacks (a command hidden by UTF-16, EBCDIC, format=flowed,
 * a BOM, a non-breaking space, quoted-printable, base64, an inline
 * signature, a multipart) and on fast-check's combinations of headers and
 * first lines. The bench's list posts must be triaged (that is the point).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { quietListPost, TRIAGED_OUTCOME } from '../../src/commands/triage.js';
import { community, flat, World } from './commands-world.js';
import { listMessage } from '../../bench/corpus.js';

const LIMITS = { maxMessageBytes: 1024 * 1024 };
let w: World;
before(async () => {
  w = await World.create();
});

function message(headers: string[], body: Buffer | string): Buffer {
  const head = ['From: Poster <poster@example.com>', 'To: LINUX-390@lists.example.net', 'Subject: Re: the new kernel',
    `Message-ID: <${Math.random().toString(36).slice(2)}@example.com>`, 'Date: Thu, 03 Dec 2026 10:00:00 +0000', ...headers];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : body]);
}

/** The triage's verdict, checked against the dispatcher when it says ignore. */
async function triaged(raw: Buffer): Promise<boolean> {
  const verdict = quietListPost(raw, LIMITS);
  if (verdict !== null) {
    assert.equal(verdict, TRIAGED_OUTCOME);
    const sent = await w.send(raw);
    assert.match(sent.outcome, /^ignored:/, `triaged, but the dispatcher said ${sent.outcome}:\n${raw.toString('latin1')}`);
    assert.deepEqual(sent.replies, []);
  }
  return verdict !== null;
}

const LIST = ['List-Id: Linux on 390 Port <LINUX-390.lists.example.net>', 'Precedence: list'];
const PLAIN = ['MIME-Version: 1.0', 'Content-Type: text/plain; charset="us-ascii"', 'Content-Transfer-Encoding: 7bit'];

describe('intake triage', () => {
  test('an ordinary list post is triaged; the bench corpus is', async () => {
    assert.equal(await triaged(message([...LIST, ...PLAIN], 'I saw the same thing on our LPAR.\r\n')), true);
    for (let i = 0; i < 20; i++) assert.equal(await triaged(listMessage(i)), true);
  });

  test('each way of hiding a command sends the message down the full path (where the dispatcher answers it)', async () => {
    const cases: [string, Buffer][] = [
      ['a command on the first line', message([...LIST, ...PLAIN], 'VERIFY 0123\r\n')],
      ['lower case, after blank lines', message([...LIST, ...PLAIN], '\r\n  \r\nhelp\r\n')],
      ['UTF-16', message([...LIST, 'Content-Type: text/plain; charset=utf-16le'], Buffer.from('HELP\r\n', 'utf16le'))],
      ['EBCDIC', message([...LIST, 'Content-Type: text/plain; charset=ibm037'], Buffer.from([0xc8, 0xc5, 0xd3, 0xd7, 0x25]))],
      ['format=flowed', message([...LIST, 'Content-Type: text/plain; charset=us-ascii; format=flowed'], 'HE \r\nLP\r\n')],
      ['a BOM', message([...LIST, 'Content-Type: text/plain; charset=utf-8'], Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('HELP\r\n')]))],
      ['a non-breaking space line first', message([...LIST, 'Content-Type: text/plain; charset=iso-8859-1'], Buffer.from([0xa0, 0x0d, 0x0a, 0x48, 0x45, 0x4c, 0x50]))],
      ['quoted-printable', message([...LIST, 'Content-Type: text/plain', 'Content-Transfer-Encoding: quoted-printable'], 'HE=\r\nLP\r\n')],
      ['base64', message([...LIST, 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64'], `${Buffer.from('HELP\r\n').toString('base64')}\r\n`)],
      ['an inline signature', message([...LIST, ...PLAIN], 'Hello\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\n')],
      ['a multipart', message([...LIST, 'Content-Type: multipart/mixed; boundary=x'], '--x\r\nContent-Type: text/plain\r\n\r\nHELP\r\n--x--\r\n')],
      ['two Content-Type fields', message([...LIST, 'Content-Type: text/plain', 'Content-Type: text/html'], 'hello\r\n')],
      ['no list headers', message(PLAIN, 'hello\r\n')],
      ['a broken header section', message([...LIST, 'this is not a header'], 'hello\r\n')],
    ];
    for (const [what, raw] of cases) assert.equal(quietListPost(raw, LIMITS), null, what);
    // A post over the size limit has its own path.
    assert.equal(quietListPost(message([...LIST, ...PLAIN], 'x'.repeat(200)), { maxMessageBytes: 100 }), null);
  });

  // Review findings (attack16): each a message the triage once ignored while
  // the dispatcher, given the same bytes, answered it or acted on it.
  test('attack: no Content-Type and a Content-Disposition file name ending in .eml make the body a forwarded message to mailparser; the command in it is answered', async () => {
    // mailsplit takes the type from the file name when Content-Type is
    // missing (message/rfc822 here, inline: parsed as an embedded message),
    // so mail.text is the inner message's text, not the first body line.
    const raw = message([...LIST, 'Content-Disposition: inline; filename="fwd.eml"'], 'X-Inner: yes\r\n\r\nHELP\r\n');
    assert.equal(quietListPost(raw, LIMITS), null);
    const sent = await w.send(raw);
    assert.equal(sent.outcome, 'help');
    assert.equal(sent.replies.length, 1);
    // The file name is all it takes: an .html name makes it text/html, a .txt name keeps text/plain; none is triaged.
    assert.equal(quietListPost(message([...LIST, 'Content-Disposition: inline; filename=a.txt'], 'hello\r\n'), LIMITS), null);
    // With a Content-Type, the disposition cannot change the type: still triaged (mutt writes "Content-Disposition: inline").
    assert.equal(await triaged(message([...LIST, ...PLAIN, 'Content-Disposition: inline'], 'hello\r\n')), true);
    assert.equal(await triaged(message([...LIST, ...PLAIN, 'Content-Disposition: inline; filename="fwd.eml"'], 'X-Inner: yes\r\n\r\nHELP\r\n')), true);
  });

  test('attack: a REVOKE KEY inside such a forwarded message, its certificate base64-encoded (no armour in the raw bytes), is applied by the dispatcher: never triaged', async () => {
    const { w: cw, carol } = await community();
    const { privateKey } = await openpgp.revokeKey({ key: carol.key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised, string: 'stolen' }, format: 'object' });
    const list = new openpgp.PacketList<openpgp.SignaturePacket>();
    list.push(privateKey.revocationSignatures[0]);
    const cert = openpgp.armor(openpgp.enums.armor.publicKey, list.write());
    const inner = `Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n${
      (Buffer.from(`REVOKE KEY\r\n\r\n${cert.replace(/\r?\n/g, '\r\n')}`).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')}\r\n`;
    const raw = message([...LIST, 'Content-Disposition: inline; filename=revocation.eml'], inner);
    assert.equal(raw.includes('-----BEGIN PGP'), false);
    assert.equal(quietListPost(raw, LIMITS), null);
    const sent = await cw.send(raw);
    assert.equal(sent.replies[0]?.status, 'accepted', sent.outcome);
    assert.match(flat(sent.replies[0].text), /revocation of key 0x[0-9a-f]{16} Carol Sysprog/);
    assert.equal((await cw.store.pendingChanges()).length, 1);
  });

  test('attack: a List-Id whose value is only folding whitespace is no List-Id to classify.ts: the dispatcher answers "no command", so it is not triaged', async () => {
    for (const folded of ['List-Id:\r\n ', 'List-Id: \r\n\t', 'List-Id:\r\n \r\n \t']) {
      const raw = message([folded, ...PLAIN], 'hello\r\n');
      assert.equal(quietListPost(raw, LIMITS), null, JSON.stringify(folded));
      const sent = await w.send(raw);
      assert.equal(sent.outcome, 'no-command');
      assert.equal(sent.replies.length, 1);
    }
    // Folded with a value after the fold it is a List-Id to both.
    assert.equal(await triaged(message(['List-Id:\r\n <linux-390.lists.example.net>', ...PLAIN], 'hello\r\n')), true);
  });

  test('property: whatever the headers and first lines, a triaged message is one the dispatcher ignores', async () => {
    const pick = (...xs: (string | null)[]) => fc.constantFrom(...xs);
    const headerSets = fc.tuple(
      pick(null, 'List-Id: <linux-390.lists.example.net>', 'List-Id: <linux-390.lists.example.net>', 'Precedence: list', 'Precedence: bulk', 'Precedence: first-class',
        'List-Id:\r\n ', 'List-Id:\r\n <linux-390.lists.example.net>'),
      pick(null, null, 'Content-Type: text/plain', 'Content-Type: text/plain; charset=utf-8', 'Content-Type: text/plain; charset="iso-8859-1"',
        'Content-Type: text/plain; charset=utf-16', 'Content-Type: text/html', 'Content-Type: text/plain; format=flowed'),
      pick(null, null, 'Content-Transfer-Encoding: 7bit', 'Content-Transfer-Encoding: 8bit', 'Content-Transfer-Encoding: quoted-printable',
        'Content-Transfer-Encoding: base64'),
      pick(null, 'Auto-Submitted: auto-generated', 'MIME-Version: 1.0', 'Content-Disposition: inline; filename=fwd.eml', 'Content-Disposition: inline'),
    ).map((hs) => hs.filter((h): h is string => h !== null));
    const firstLine = fc.oneof(
      fc.constantFrom('HELP', 'help me', 'VERIFY abc', 'verify\tx', 'GET KEY 0x1', 'SUBSCRIBE', 'APPROVE ZT-1 ab', 'Hello all', '> VERIFY x',
        ' HELP', '\tHELP', 'HELPFUL hints', '-----BEGIN PGP SIGNED MESSAGE-----', 'Status: ok'),
      fc.string({ maxLength: 20 }));
    const blank = fc.constantFrom('', ' ', '\t', '\u00a0', '\ufeff');
    let yes = 0;
    let no = 0;
    await fc.assert(fc.asyncProperty(headerSets, fc.array(blank, { maxLength: 2 }), firstLine,
      async (headers, blanks, first) => {
        const body = Buffer.from(`${[...blanks, first, 'the rest of the post'].join('\r\n')}\r\n`, 'utf8');
        if (await triaged(message(headers, body))) yes++;
        else no++;
      }), { numRuns: 400, seed: 20261204 });
    // Not vacuous: both verdicts occur often.
    assert.ok(yes >= 20 && no >= 20, `triaged ${yes}, full path ${no}`);
  });
});
