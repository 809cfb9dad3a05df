/**
 * Opening a root draft: the store records it (superseding a pending draft
 * of the same version) together with the signed notices that ask each
 * maintainer who may approve it, in one transaction. Used by `root init`,
 * `root propose` and ROOT PROPOSE by mail.
 */
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../logger.js';
import { composeNotice } from '../outbound/notice.js';
import { maintainerContacts } from '../outbound/recipients.js';
import { line } from '../outbound/wording.js';
import type { BotSigner } from '../pgp/botkey.js';
import type { Keyring } from '../pgp/keyring.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { StoreEffect } from '../store/types.js';
import { render } from '../templates.js';
import { rootDeciders } from './chain.js';
import { formatRoot, isoSeconds, rootDigest, type RootDocument } from './document.js';

export interface DraftContext {
  config: LoadedConfig;
  signer: BotSigner;
  keyring: Keyring;
  policy: CryptoPolicy;
  logger?: Logger;
  now: Date;
}

export interface OpenedDraft {
  version: number;
  text: string;
  digest: string;
  effect: StoreEffect;
  /** The signed notices (outbox rows made by src/outbound/), recorded with the draft. */
  notices: Awaited<ReturnType<typeof composeNotice>>['rows'];
  /** Deciders who could not be told (no key in the collection, no address). */
  notTold: string[];
}

/** What a draft changes from `prev`, one line each, for people. */
export function describeChanges(prev: RootDocument | null, next: RootDocument): string[] {
  if (!prev) return [`the first root: ${next.maintainers.length} maintainers, threshold ${next.threshold}, the bot's and the log's keys`];
  const out: string[] = [];
  for (const f of next.maintainers.filter((x) => !prev.maintainers.includes(x))) out.push(`adds maintainer ${f}`);
  for (const f of prev.maintainers.filter((x) => !next.maintainers.includes(x))) out.push(`removes maintainer ${f}`);
  if (prev.threshold !== next.threshold) out.push(`threshold ${prev.threshold} -> ${next.threshold}`);
  if (prev.botKey !== next.botKey) out.push(`bot key ${prev.botKey} -> ${next.botKey}`);
  if (prev.logKey !== next.logKey) out.push(`log key ${prev.logKey} -> ${next.logKey}`);
  out.push(`valid until ${isoSeconds(next.expires)} (was ${isoSeconds(prev.expires)})`);
  return out;
}

export async function openRootDraft(ctx: DraftContext, prev: RootDocument | null, doc: RootDocument, proposer: string): Promise<OpenedDraft> {
  const text = formatRoot(doc);
  const digest = rootDigest(text);
  const deciders = rootDeciders(prev, doc);
  const contacts = await maintainerContacts({ ...ctx.config, maintainers: deciders }, ctx.keyring, ctx.policy, ctx.now);
  const notices: OpenedDraft['notices'] = [];
  const notTold: string[] = [];
  const added = prev ? doc.maintainers.filter((f) => !prev.maintainers.includes(f)) : [];
  for (const c of contacts) {
    if (!c.address || c.problem) {
      notTold.push(`${c.fingerprint}: ${c.problem ?? line('maintainer-no-address', {})}`);
      continue;
    }
    notices.push(...(await composeNotice(ctx.config, ctx.signer, {
      id: `root-${doc.version}-${digest.slice(0, 16)}-${c.keyId}`, to: [c.address], status: 'pending',
      subject: line('subject-root-notify', { version: doc.version }),
      fields: { Root: `ROOT-${doc.version}`, 'Root-Digest': digest },
      prose: render('root-notify', {
        version: doc.version, digest, proposer, first: prev === null, threshold: doc.threshold, count: doc.maintainers.length,
        previous: prev?.version ?? null, previousThreshold: prev?.threshold ?? null, added: added.length > 0,
        changes: describeChanges(prev, doc), botAddress: ctx.config.bot.address, root: text,
      }),
    }, ctx.logger)).rows);
  }
  return {
    version: doc.version, text, digest, notices, notTold,
    effect: { kind: 'root-draft', draft: { version: doc.version, text, digest, proposer, createdAt: ctx.now.toISOString() } },
  };
}
