/**
 * Who gets the mails a digest cycle causes, and their deterministic outbox
 * ids, so that a crash and a retry never send one twice (the outbound
 * module leaves a row the outbox already holds alone, and the outbound
 * worker never resends a row marked sent):
 *
 *   digest-<n>-<16 hex of SHA-256(recipient)>   one per recipient and digest
 *   expiry-<fingerprint>-<expiry date>-<stage>  one per key, expiry and stage
 *
 * Composing, signing, the gate and the outbox write are src/outbound/digest.ts.
 */
import { createHash } from 'node:crypto';
import type { LoadedConfig } from '../config/load.js';
import type { SigningStyle } from '../mail/compose.js';
import type { ReminderMail } from '../outbound/digest.js';
import { line } from '../outbound/wording.js';
import type { SubscriberRow } from '../store/types.js';
import { render } from '../templates.js';
import { asciiValue, field } from './text.js';
import type { ExpiringKeyInfo } from './key-expiry.js';
import { reminderOutboxId } from './key-expiry.js';

export interface DigestRecipient {
  address: string;
  signing: SigningStyle;
  /** list: a configured list (postDigests); recipient: config digest.recipients; subscriber: confirmed by CONFIRM. */
  via: 'list' | 'recipient' | 'subscriber';
}

/**
 * Every address a digest goes to, once each: a list's style wins over a
 * subscription of the same address. (The bot's own address among them is
 * refused by the outbound gate.)
 */
export function digestRecipients(cfg: LoadedConfig, subscribers: readonly SubscriberRow[]): DigestRecipient[] {
  const out = new Map<string, DigestRecipient>();
  for (const l of cfg.lists) {
    if (l.postDigests && l.address) {
      const a = l.address.toLowerCase();
      if (!out.has(a)) out.set(a, { address: a, signing: l.signing, via: 'list' });
    }
  }
  for (const r of cfg.digest.recipients) {
    const a = r.toLowerCase();
    if (!out.has(a)) out.set(a, { address: a, signing: 'pgpmime', via: 'recipient' });
  }
  for (const s of subscribers) {
    const a = s.address.toLowerCase();
    if (!out.has(a)) out.set(a, { address: a, signing: 'pgpmime', via: 'subscriber' });
  }
  return [...out.values()];
}

export function digestOutboxId(n: number, address: string): string {
  return `digest-${n}-${createHash('sha256').update(address.toLowerCase()).digest('hex').slice(0, 16)}`;
}

/** The reminder due for a key: one mail to all its owner addresses; null when the key names none. */
export function reminderFor(cfg: LoadedConfig, botFingerprint: string, k: ExpiringKeyInfo, now: Date): ReminderMail | null {
  if (k.addresses.length === 0) return null;
  const prose = render('digest-expiry-reminder', {
    keyId: k.keyId, fingerprint: k.fingerprint, userIdLines: field(2, 'User ID:     ', asciiValue(k.userId)).join('\n'), expires: k.expires.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    part: k.part, botAddress: cfg.bot.address, botName: cfg.bot.name, botFingerprint,
    windowDays: cfg.digest.expiryWindowDays,
  });
  return {
    id: reminderOutboxId(k, now), to: k.addresses, subject: line('subject-expiry-reminder', { keyId: k.keyId, date: k.expires.toISOString().slice(0, 10) }),
    prose, date: now,
  };
}
