/**
 * Shared by the attack tests on the reply gate (oversize mail, Message-ID
 * pre-emption, forged-From budgets, floods, hostile armour): one message
 * through the real Dispatcher and the real SQLite store, as the inbound
 * worker runs it, and a snapshot of everything an attack must not change.
 */
import { randomBytes } from 'node:crypto';
import { assertBotMail } from '../harness/mailcheck.js';
import type { CompletionResult, OutboxRecord, SpoolRow } from '../../src/store/types.js';
import type { World } from '../unit/commands-world.js';

export interface Delivered {
  key: string;
  outcome: string;
  /** What the store made of it (a duplicate is decided there). */
  result: CompletionResult;
  /** The outcome the store recorded on the spool row. */
  stored: string | null;
  outbox: OutboxRecord[];
}

let uid = 0;

/** Spool `raw` under a new (mailbox, UIDVALIDITY, UID), process and complete it. */
export async function deliver(w: World, raw: Buffer, over: Partial<SpoolRow> = {}): Promise<Delivered> {
  uid++;
  const key = over.key ?? `g${uid}-${randomBytes(4).toString('hex')}`;
  await w.store.spool({ key, mailbox: 'INBOX', uidValidity: 1, uid: String(uid), messageId: null, raw, receivedAt: new Date().toISOString() });
  const row = { ...(await w.store.getSpooled(key))!, ...over, key };
  const out = await (await w.dispatcher()).processMessage(row);
  const result = await w.store.complete(out.completion);
  const stored = (await w.store.getSpooled(key))!.outcome;
  return { key, outcome: out.completion.outcome, result, stored, outbox: result.applied ? out.completion.outbox : [] };
}

/** Everything a refused or ignored message must leave as it was. */
export async function snapshot(w: World): Promise<string> {
  const col = await w.collection();
  const tickets = await w.store.listTickets();
  const votes = await Promise.all(tickets.map((t) => w.store.getVotes(t.id)));
  return JSON.stringify({
    head: (await col.git(['rev-parse', 'HEAD'])).trim(),
    tickets: tickets.map((t) => [t.id, t.state, t.version]),
    votes: votes.flat().map((v) => [v.ticketId, v.voter, v.vote]),
    changes: (await w.store.listChanges()).map((c) => [c.id, c.state]),
    checkpoints: await w.store.checkpointSizes(),
  });
}

/** A bot mail read by Python's email package and gpg; returns its X-Ztrust-Status. */
export async function botMail(w: World, o: OutboxRecord, status: string): Promise<void> {
  await assertBotMail(o.raw, w.bot.publicArmored, { status });
}
