/**
 * Double opt-in tokens for digest subscriptions.
 *
 * Why this is safe against "subscribing someone else": the From address of
 * an unsigned SUBSCRIBE is attacker-chosen, so it proves nothing. The token
 * is therefore sent only TO that address (never to Reply-To, never to the
 * list), and nothing changes until the token comes back. Only the owner of
 * the mailbox can read it, so only they can confirm.
 *
 * Tokens are 128 random bits (hex, so they survive any mail path and every
 * EBCDIC code page), single-use, and expire. The store keeps only their
 * SHA-256: a leaked state.db holds no usable token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { NewSubscriptionToken, SubscriptionAction } from '../store/types.js';

/** How long a token stays usable. Two days: long enough for a weekend, short enough to bound guessing. */
export const TOKEN_TTL_HOURS = 48;

const TOKEN_RE = /^[0-9a-f]{32}$/;

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

/** Accepts what a person may paste (any case, surrounding angle brackets or quotes); null when it cannot be a token. */
export function normalizeToken(input: string | undefined): string | null {
  if (!input) return null;
  // The trailing trim walks back once: /[>"'.,;]+$/ was retried from every
  // character of a long run of dots before a letter (an unsigned CONFIRM
  // line of 64K dots held the thread for 28 s).
  const t = trimEndOf(input.trim().replace(/^[<"']+/, ''), '>"\'.,;').toLowerCase();
  return TOKEN_RE.test(t) ? t : null;
}

function trimEndOf(s: string, chars: string): string {
  let end = s.length;
  while (end > 0 && chars.includes(s[end - 1])) end--;
  return s.slice(0, end);
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(`ztrust-subscription-token\n${token}`).digest('hex');
}

export function tokenRecord(token: string, address: string, action: SubscriptionAction, now: Date, spoolKey: string | null,
  ttlHours = TOKEN_TTL_HOURS): NewSubscriptionToken {
  return {
    tokenHash: tokenHash(token),
    address: address.toLowerCase(),
    action,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlHours * 3600_000).toISOString(),
    spoolKey,
  };
}

/** The mailto: URI for List-Unsubscribe: a mail to the bot whose body is the command. */
export function unsubscribeMailto(botAddress: string): string {
  return `<mailto:${botAddress}?subject=UNSUBSCRIBE&body=UNSUBSCRIBE>`;
}
