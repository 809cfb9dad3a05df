/**
 * A pending ticket with a vote that no longer counts: Carol approved Dave's
 * ticket, then her key was revoked through the bot (REVOKE KEY, applied).
 * Shared by the STATUS and `ztrust-bot tickets` tests.
 */
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { pendingTicket, TO_BOT, type Person, type World } from './commands-world.js';

/** A revocation certificate for `p`'s key, as gpg --gen-revoke writes it (the colon included). */
export async function revocationCertOf(p: Person): Promise<string> {
  const { privateKey } = await openpgp.revokeKey({ key: p.key, reasonForRevocation: { flag: openpgp.enums.reasonForRevocation.keyCompromised, string: 'stolen' }, format: 'object' });
  const list = new openpgp.PacketList<openpgp.SignaturePacket>();
  list.push(privateKey.revocationSignatures[0]);
  return `:${openpgp.armor(openpgp.enums.armor.publicKey, list.write())}`;
}

/** Revoke `p`'s key through the bot: REVOKE KEY (unsigned, allowed) and the apply step. */
export async function revokeThroughBot(w: World, p: Person): Promise<void> {
  const rev = await w.send(await w.mail(null, `REVOKE KEY\n\n${await revocationCertOf(p)}`, { from: 'someone@people.test' }));
  assert.equal(rev.replies[0].status, 'accepted', rev.replies[0].text);
  assert.deepEqual((await w.applyAll()).outcomes.map((o) => o.state), ['applied']);
}

export async function lapsedVote() {
  const c = await pendingTicket();
  const { w, carol, t } = c;
  assert.equal((await w.send(await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`))).outcome, `APPROVE:recorded:${t.id}`);
  await revokeThroughBot(w, carol);
  return c;
}
