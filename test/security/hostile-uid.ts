/**
 * The path a hostile user ID travels (not a test file): a newcomer whose
 * only user ID is hostile, certified by Alice and Bob, submits their key
 * (SUBMIT KEY), two maintainers approve, the apply step stores it. Every
 * mail the bot sends on the way (the receipt, the maintainers' notices,
 * the approval and applied notices) is kept raw; checkBotMails reads them
 * with Python's email package and gpg. The stored file names are returned
 * for the test to judge.
 */
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { assertBotMail, type PythonReading } from '../harness/mailcheck.js';
import { certify, community, TO_BOT, type Person } from '../unit/commands-world.js';

/** The header fields a bot mail may carry; anything else was injected. */
export const BOT_HEADERS = new Set(['from', 'to', 'subject', 'date', 'message-id', 'in-reply-to', 'references', 'mime-version',
  'auto-submitted', 'x-ztrust-loop', 'x-ztrust-status', 'content-type', 'content-transfer-encoding']);

export async function submitHostile(name: string, email = 'eve@people.test') {
  const c = await community();
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email }], format: 'object', config: { v6Keys: false },
  });
  const eve: Person = { name: 'Eve', email, key: privateKey, fpr: privateKey.getFingerprint().toUpperCase(), pub: privateKey.toPublic() };
  assert.ok(privateKey.getUserIDs()[0].includes(name), 'openpgp.js kept the hostile user ID');
  const certified = await certify(eve.pub, [c.alice, c.bob]);
  const mails: Buffer[] = [];
  const opened = await c.w.send(await c.w.mail(eve, `SUBMIT KEY\n${TO_BOT}\n\n${certified.armor()}`, { from: `Eve <${email}>` }));
  mails.push(...opened.replies.map((r) => r.row.raw));
  const ticketId = opened.replies[0]?.fields.Ticket;
  let stored: string[] = [];
  if (ticketId) {
    const t = (await c.w.store.getTicket(ticketId))!;
    for (const p of [c.alice, c.bob]) mails.push(...(await c.w.send(await c.w.mail(p, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`))).replies.map((r) => r.row.raw));
    const { notices } = await c.w.applyAll();
    mails.push(...notices.map((n) => n.row.raw));
    const col = await c.w.collection();
    stored = (await col.git(['ls-files'])).split('\n').filter((f) => f.toLowerCase().includes(privateKey.getKeyID().toHex()));
  }
  return { ...c, eve, opened, ticketId, stored, mails };
}

/** assertBotMail on every mail: Python reads it without a defect and gpg verifies it. */
export async function checkBotMails(mails: Buffer[], botPublicKey: string): Promise<PythonReading[]> {
  const out: PythonReading[] = [];
  for (const m of mails) out.push(await assertBotMail(m, botPublicKey));
  return out;
}

/** Every header of every bot mail is one the bot writes; no value holds CR, LF or another control character. */
export function assertNoInjectedHeader(readings: PythonReading[]): void {
  assert.ok(readings.length > 0);
  for (const r of readings) {
    for (const [name, value] of r.headers) {
      assert.ok(BOT_HEADERS.has(name.toLowerCase()), `unexpected header ${name}: ${value}`);
      // eslint-disable-next-line no-control-regex -- hostile input must leave no control character: matching them is the test
      assert.doesNotMatch(value, /[\x00-\x1f\x7f]/, `control character in ${name}: ${JSON.stringify(value)}`);
    }
  }
}

/** Stored key files follow 0x<keyid>-<identity>-<role>.asc with a harmless identity, inside pgp/. */
export function assertSaneFileNames(stored: string[], keyId: string): void {
  assert.ok(stored.length > 0, 'the key was stored');
  for (const f of stored) {
    assert.match(f, new RegExp(`^pgp/(all|signing|email)/0x${keyId}-[A-Za-z0-9._@+=-]*-(public|signing|email)\\.asc$`), f);
    // eslint-disable-next-line no-control-regex -- hostile input must leave no control character: matching them is the test
    assert.doesNotMatch(f, /\.\.|\/\/|[\x00-\x1f\x7f]/, f);
  }
}
