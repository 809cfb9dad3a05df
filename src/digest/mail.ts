/**
 * The mails a digest cycle causes, as outbox rows with deterministic ids, so
 * that a crash and a retry never send one twice (the store ignores an id it
 * already has, and the outbound worker never resends a row marked sent):
 *
 *   digest-<n>-<16 hex of SHA-256(recipient)>   one per recipient and digest
 *   expiry-<fingerprint>-<expiry date>-<stage>  one per key, expiry and stage
 *
 * Signed for where it goes: lists get the inline cleartext signature (it
 * survives LISTSERV and Mailman footers appended after the armour), people
 * get PGP/MIME. One recipient per mail: subscribers never see each other.
 */
import { createHash } from 'node:crypto';
import type { LoadedConfig } from '../config/load.js';
import { composeSigned, messageIdFor, type SigningStyle } from '../mail/compose.js';
import { reflow } from '../mail/text.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { OutboxRecord, SubscriberRow } from '../store/types.js';
import { unsubscribeMailto } from '../subscriptions/tokens.js';
import { render } from '../templates.js';
import { asciiValue, field } from './text.js';
import type { ExpiringKeyInfo } from './expiry.js';
import { reminderOutboxId } from './expiry.js';

export interface DigestRecipient {
  address: string;
  signing: SigningStyle;
  /** list: a configured list (postDigests); recipient: config digest.recipients; subscriber: confirmed by CONFIRM. */
  via: 'list' | 'recipient' | 'subscriber';
}

/** Every address a digest goes to, once each: a list's style wins over a subscription of the same address. */
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
  return [...out.values()].filter((r) => r.address !== cfg.bot.address.toLowerCase());
}

export function digestOutboxId(n: number, address: string): string {
  return `digest-${n}-${createHash('sha256').update(address.toLowerCase()).digest('hex').slice(0, 16)}`;
}

function domainOf(address: string): string {
  return address.split('@')[1] ?? 'localhost';
}

async function compose(cfg: LoadedConfig, signer: BotSigner, o: {
  id: string; to: string[]; subject: string; body: string; signing: SigningStyle; kind: OutboxRecord['kind']; date: Date;
  headers?: Record<string, string>;
}): Promise<OutboxRecord> {
  const messageId = messageIdFor(o.id, domainOf(cfg.bot.address));
  const raw = await composeSigned({
    from: { name: cfg.bot.name, address: cfg.bot.address },
    to: o.to,
    subject: o.subject,
    messageId,
    date: o.date,
    autoSubmitted: 'auto-generated',
    loopHeader: { name: cfg.bot.loopHeader, value: cfg.bot.address },
    headers: o.headers,
    body: o.body,
    signing: o.signing,
  }, signer);
  return { id: o.id, spoolKey: null, kind: o.kind, envelopeFrom: cfg.outbox.envelopeFrom ?? cfg.bot.address, recipients: o.to, messageId, raw };
}

/** One signed mail per recipient carrying the digest text, with List-Unsubscribe. */
export async function digestMail(cfg: LoadedConfig, signer: BotSigner, digest: { number: number; text: string; subject: string },
  r: DigestRecipient, date: Date): Promise<OutboxRecord> {
  return compose(cfg, signer, {
    id: digestOutboxId(digest.number, r.address), to: [r.address], subject: digest.subject, body: digest.text, signing: r.signing,
    kind: 'digest', date,
    headers: {
      'List-Unsubscribe': unsubscribeMailto(cfg.bot.address),
      'X-Ztrust-Digest': String(digest.number),
    },
  });
}

/** The reminder due for a key: one mail to all its owner addresses; null when the key names none. */
export async function reminderMail(cfg: LoadedConfig, signer: BotSigner, k: ExpiringKeyInfo, now: Date): Promise<OutboxRecord | null> {
  if (k.addresses.length === 0) return null;
  const body = reflow(render('digest-expiry-reminder', {
    keyId: k.keyId, fingerprint: k.fingerprint, userIdLines: field(2, 'User ID:     ', asciiValue(k.userId)).join('\n'), expires: k.expires.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    part: k.part, botAddress: cfg.bot.address, botName: cfg.bot.name, botFingerprint: signer.fingerprint,
    windowDays: cfg.digest.expiryWindowDays,
  }));
  return compose(cfg, signer, {
    id: reminderOutboxId(k, now), to: k.addresses, subject: `Your OpenPGP key 0x${k.keyId} expires on ${k.expires.toISOString().slice(0, 10)}`,
    body, signing: cfg.replies.signing, kind: 'notice', date: now,
  });
}
