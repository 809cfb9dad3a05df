/**
 * Expiry reminders for the trust root: signed notices to the current root's
 * maintainers when it has root.reminderDays (default 30, 14 and 3) or fewer
 * days left, one per step reached, each sent once (the outbox id names the
 * version, the step and the key, so a later sweep finds it and skips it).
 * A sweep that starts late sends only the nearest step, not every step it
 * missed. Run by the periodic sweep in `run` and by `run --once`.
 */
import { dataLayout } from '../datadir.js';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../logger.js';
import { composeNotice, type BotSigner } from '../outbound/notice.js';
import { maintainerContacts } from '../outbound/recipients.js';
import { line } from '../outbound/wording.js';
import { Collection } from '../collection/collection.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { StateStore } from '../store/types.js';
import { render } from '../templates.js';
import { isoSeconds } from './document.js';
import { currentRootOf } from './draft.js';

const DAY = 86_400_000;

export interface ReminderDeps {
  config: LoadedConfig;
  store: StateStore;
  signer: BotSigner;
  policy: CryptoPolicy;
  logger?: Logger;
}

/** The reminder step due now (the smallest of reminderDays not below the days left), or null. */
export function reminderStep(expires: Date, now: Date, reminderDays: readonly number[]): number | null {
  const left = (expires.getTime() - now.getTime()) / DAY;
  if (left <= 0) return null;
  const due = reminderDays.filter((d) => left <= d);
  return due.length ? Math.min(...due) : null;
}

/** Queue the reminders due now; returns their outbox ids (to enqueue). */
export async function rootReminders(deps: ReminderDeps, now: Date = new Date()): Promise<string[]> {
  const cfg = deps.config;
  const dir = dataLayout(cfg.dataDir).collection;
  const current = currentRootOf(dir);
  if (!current) return [];
  const step = reminderStep(current.doc.expires, now, cfg.root.reminderDays);
  if (step === null) return [];
  const keyring = await (await Collection.open(dir, { readOnly: true })).keyring();
  const contacts = await maintainerContacts({ ...cfg, maintainers: current.doc.maintainers }, keyring, deps.policy, now);
  const drafts = (await deps.store.listRootDrafts(['pending'])).filter((d) => d.version === current.doc.version + 1);
  const rows = [];
  for (const c of contacts) {
    if (!c.address) continue;
    const id = `root-expiry:${current.doc.version}:${step}:${c.keyId}`;
    if (await deps.store.getOutbox(id)) continue;
    const days = Math.max(1, Math.ceil((current.doc.expires.getTime() - now.getTime()) / DAY));
    rows.push(...(await composeNotice(cfg, deps.signer, {
      id, to: [c.address], status: 'pending',
      subject: line('subject-root-expiry', { version: current.doc.version, days }),
      fields: { Root: `ROOT-${current.doc.version}`, 'Root-Digest': current.digest },
      prose: render('notice-root-expiry', {
        version: current.doc.version, expires: isoSeconds(current.doc.expires), days, drafts: drafts.map((d) => ({ version: d.version, digest: d.digest })),
      }),
    }, deps.logger)).rows);
  }
  if (!rows.length) return [];
  await deps.store.commitEffects([], rows);
  deps.logger?.info({ version: current.doc.version, step, reminders: rows.length }, 'trust root expiry reminders queued');
  return rows.map((r) => r.id);
}
