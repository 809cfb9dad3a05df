/**
 * Whose hourly reply budget a request spends. A From address is a claim
 * anyone can make, so unsigned mail (and mail signed by a key outside the
 * collection, which anyone can generate) spends the budget of the address it
 * claims, under the global cap; a good signature by a collection key is an
 * identity, so such a request spends its signer's own budget and forged
 * mail cannot silence it.
 */
import type { BudgetSpent, Limits } from '../limits.js';
import type { Keyring } from '../pgp/keyring.js';
import type { ReplyBudget, StateStore } from '../store/types.js';

const HOUR_MS = 3600_000;

/**
 * `signer`: the fingerprint of a GOOD signature by the sender (not one inside
 * a forwarded message), or null. Only a collection key gets its own budget.
 */
export function budgetKey(sender: string, signer: string | null, keyring: Keyring): string {
  if (signer && keyring.findByFingerprint(signer)) return `key:${signer.toUpperCase()}`;
  return `addr:${sender.toLowerCase()}`;
}

export function replyBudget(key: string, limits: Limits, now: Date): ReplyBudget {
  return {
    key,
    perHour: limits.maxRepliesPerSenderPerHour,
    // Signed requests by collection keys are bounded per key already and
    // cannot be forged: a flood of unsigned mail must not silence them.
    globalPerHour: key.startsWith('key:') ? null : limits.maxRepliesPerHour,
    since: new Date(now.getTime() - HOUR_MS).toISOString(),
  };
}

/** Whether `b` is spent (and which cap: the key's or the global one), as the store counts direct replies. */
export function budgetSpent(store: Pick<StateStore, 'replyBudgetSpent'>, b: ReplyBudget): Promise<BudgetSpent | null> {
  return store.replyBudgetSpent(b);
}
