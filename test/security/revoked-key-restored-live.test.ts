/**
 * Attack (issue 8, items 12 and 14): Carol's maintainer key was revoked
 * through the bot (REVOKE KEY, applied and committed). While the worker keeps
 * running, someone with write access to the data directory puts her key file
 * back to its old, unrevoked copy, without committing it. The running worker
 * does not run the start check for every message, so it must not read the
 * keys from the work tree at all: the keys that decide who may sign and vote
 * are the ones the bot committed (src/pgp/known.ts reads git HEAD).
 *
 * One World (one KnownKeys index, as in a running worker) from start to end.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { flat, pendingTicket, stateOf, TO_BOT } from '../unit/commands-world.js';
import { revokeThroughBot } from '../unit/lapsed-vote-world.js';

describe('security: a revoked maintainer key file put back in the work tree of a running worker', () => {
  test("the owner's APPROVE is refused as signed by a revoked key; nothing changes", async () => {
    const { w, alice, carol, t } = await pendingTicket();
    const col = await w.collection();
    const file = (await col.findKeys(carol.fpr))[0].file;
    const old = readFileSync(path.join(col.dir, file));
    await w.known.get(); // the running worker has loaded the keys

    // Carol's key is revoked through the bot.
    await revokeThroughBot(w, carol);
    const a = await w.send(await w.mail(alice, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(a.outcome, `APPROVE:recorded:${t.id}`);

    // Behind the bot's back: the old, unrevoked copy in the work tree.
    writeFileSync(path.join(col.dir, file), old);
    const before = await stateOf(w);

    const c = await w.send(await w.mail(carol, `APPROVE ${t.id}\n${t.digest}\n${TO_BOT}\n`));
    assert.equal(c.outcome, 'refused:revoked-key');
    assert.equal(c.replies.length, 1);
    assert.equal(c.replies[0].status, 'error');
    assert.match(flat(c.replies[0].text), new RegExp(`the signature made \\S+ is by a revoked key ${carol.fpr} \\(Primary key is revoked\\) How to fix it: The key is revoked; sign with a key that is not revoked\\.`));
    // The worker's index still serves the committed keys, from its cache while HEAD does not move.
    assert.equal(await w.known.get(), await w.known.get());
    assert.deepEqual(await stateOf(w), before, 'no vote, no change request, no commit');
    assert.equal((await w.store.getTicket(t.id))!.state, 'pending');
    assert.deepEqual(await w.store.pendingChanges(), []);
  });
});
