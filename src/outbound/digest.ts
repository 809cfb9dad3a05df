/**
 * The digest job's mail (digest/run.ts): one signed copy of each digest per
 * recipient, and the expiry reminders to key owners, through the gate's
 * digest and notice rules (gate.ts: the recipient rules; no budget) and
 * into the outbox. Each row has a deterministic id chosen by the caller
 * (digest/mail.ts), so a crash and a retry never send one twice: a row the
 * outbox already holds is left as it is.
 *
 * Signed for where it goes: lists get the inline cleartext signature (it
 * survives LISTSERV and Mailman footers appended after the armour), people
 * get PGP/MIME. One recipient per mail: subscribers never see each other.
 */
import type { LoadedConfig } from '../config/load.js';
import type { SigningStyle } from '../mail/compose.js';
import { reflow } from '../mail/text.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { OutboxRecord, StateStore } from '../store/types.js';
import { unsubscribeMailto } from '../subscriptions/tokens.js';
import { outboxRow, type MailSpec } from './outbox-row.js';
import { UNTHREADED } from './frame.js';
import { recipientGate, type Refusal } from './gate.js';

export interface DigestCopy {
  /** Outbox id: one per digest number and recipient (digest/mail.ts digestOutboxId). */
  id: string;
  number: number;
  to: string;
  signing: SigningStyle;
  subject: string;
  /** The digest text, as signed and archived. */
  text: string;
  date: Date;
}

export interface ReminderMail {
  /** Outbox id: one per key, expiry date and stage (digest/key-expiry.ts reminderOutboxId). */
  id: string;
  to: string[];
  subject: string;
  /** From templates/digest-expiry-reminder.txt; reflowed here to 72 columns. */
  prose: string;
  date: Date;
}

/**
 * What became of one mail: a new outbox row (`queued`), a row the outbox
 * already held (`in-outbox` while still to send, `done` once sent or given
 * up), or a refusal by the gate.
 */
export interface Queued {
  id: string;
  outcome: 'queued' | 'in-outbox' | 'done' | Refusal['outcome'];
}

export interface DigestMailDeps {
  config: LoadedConfig;
  signer: BotSigner;
  store: Pick<StateStore, 'getOutbox' | 'addOutbox'>;
}

type Draft = Omit<MailSpec, 'threading' | 'autoSubmitted'>;

async function queue(deps: DigestMailDeps, drafts: readonly Draft[]): Promise<Queued[]> {
  const out: Queued[] = [];
  const rows: OutboxRecord[] = [];
  for (const d of drafts) {
    const g = recipientGate(d.to, deps.config);
    if (g.to.length === 0) {
      out.push({ id: d.id, outcome: g.refused[0].outcome });
      continue;
    }
    const have = await deps.store.getOutbox(d.id);
    if (have) {
      out.push({ id: d.id, outcome: have.status === 'pending' || have.status === 'sending' ? 'in-outbox' : 'done' });
      continue;
    }
    rows.push(await outboxRow(deps.config, deps.signer, { ...d, to: g.to, threading: UNTHREADED, autoSubmitted: 'auto-generated' }));
    out.push({ id: d.id, outcome: 'queued' });
  }
  await deps.store.addOutbox(rows);
  return out;
}

/** One signed mail per recipient carrying the digest text, with List-Unsubscribe. */
export function queueDigestCopies(deps: DigestMailDeps, copies: readonly DigestCopy[]): Promise<Queued[]> {
  const cfg = deps.config;
  return queue(deps, copies.map((c) => ({
    id: c.id, kind: 'digest', to: [c.to], subject: c.subject, body: c.text, signing: c.signing, date: c.date,
    headers: { 'List-Unsubscribe': unsubscribeMailto(cfg.bot.address), 'X-Ztrust-Digest': String(c.number) },
  })));
}

/** The expiry reminders due: one mail to all the owner addresses of each key. */
export function queueReminders(deps: DigestMailDeps, reminders: readonly ReminderMail[]): Promise<Queued[]> {
  return queue(deps, reminders.map((r) => ({
    id: r.id, kind: 'notice', to: r.to, subject: r.subject, body: reflow(r.prose), signing: deps.config.replies.signing, date: r.date,
  })));
}
