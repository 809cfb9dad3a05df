/**
 * The never-answer gate: which mail the bot may send, to whom. Three kinds
 * of mail leave the bot, and not every rule applies to each:
 *
 * - reply: the direct answer to a received message. It is the only kind an
 *   outsider causes one-for-one, so every rule applies: the never-answer
 *   rules on the received message (RFC 3834: auto-submitted mail, bounces
 *   and robot senders, delivery reports, auto-replies, our own mail and mail
 *   carrying our loop header, mail with no sender: mail/classify.ts), list
 *   or bulk traffic without a command (answering it spams the list), the
 *   sender's hourly budget and the global cap (budget.ts), and the
 *   recipient rules below.
 * - notice: mail the bot writes on its own to a person: maintainers told of
 *   a ticket or of approvals that lapsed, a submitter told of the outcome,
 *   key owners reminded of an expiry. It answers no received message, so
 *   the rules on a received message do not apply (its recipient came from
 *   a request that passed them, or from a collection key's user ID), and no
 *   budget applies: budgets bound what a flood of INCOMING mail can make
 *   the bot send, while notices follow a maintainer's vote, the apply step,
 *   a timer, or a ticket, which opens only for material that collection
 *   keys certified or signed (admission); and a maintainer must hear of a
 *   ticket even when its submitter's replies are spent (the store counts
 *   only `reply` rows).
 *   The recipient rules apply.
 * - digest: the signed digest to lists, configured recipients and
 *   subscribers (one row per recipient and digest number, so a cycle run
 *   twice adds nothing). No budget, for the same reason as notices, and
 *   lists are where it belongs. The recipient rules apply.
 *
 * Recipient rules, every kind: never the bot's own address. Mail to itself
 * is a loop the inbound side has to break (own-mail); a digest has always
 * been refused there, and a notice now is too (a key in the collection
 * naming the bot's address would otherwise be sent reminders by the bot).
 */
import type { MailHeaders } from '../mail/parser.js';
import type { LoadedConfig } from '../config/load.js';
import { classify, type Classification } from '../mail/classify.js';

/** A recipient the gate refused, with the outcome string recorded for it. */
export interface Refusal {
  address: string;
  outcome: `refused:${string}`;
}

/** The never-answer rules on a received message (its headers only; see mail/classify.ts). */
export function receivedMail(mail: MailHeaders, cfg: LoadedConfig): Classification {
  return classify(mail, { address: cfg.bot.address, loopHeader: cfg.bot.loopHeader });
}

/**
 * List or bulk traffic carrying no command (or whose body is not read: too
 * large, unparseable) gets no reply: the reply would go to the whole list's
 * worth of readers of a thread that was not for the bot.
 */
export function quietOnList(c: Classification): boolean {
  return c.listTraffic || c.bulk;
}

/** The recipient rules (the same for every kind today): who of `to` may get mail from the bot. */
export function recipientGate(to: readonly string[], cfg: LoadedConfig): { to: string[]; refused: Refusal[] } {
  const own = cfg.bot.address.toLowerCase();
  const ok: string[] = [];
  const refused: Refusal[] = [];
  for (const a of to) {
    if (a.trim().toLowerCase() === own) refused.push({ address: a, outcome: 'refused:own-address' });
    else ok.push(a);
  }
  return { to: ok, refused };
}
