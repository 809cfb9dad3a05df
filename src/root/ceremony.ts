/**
 * Opening a root draft: the store records it (superseding a pending draft
 * of the same version) together with the notices that ask each maintainer
 * who may approve it, in one transaction. Used by `root init`, `root
 * propose` (the CLI signs the notices through src/outbound/notice.ts) and
 * ROOT PROPOSE by mail (the dispatcher sends them as the command's notices).
 */
import type { LoadedConfig } from '../config/load.js';
import { maintainerContacts } from '../outbound/recipients.js';
import { line } from '../outbound/wording.js';
import type { Keyring } from '../pgp/keyring.js';
import type { CryptoPolicy } from '../policy/index.js';
import type { StoreEffect } from '../store/types.js';
import { render } from '../templates.js';
import { rootDeciders } from './chain.js';
import { formatRoot, isoSeconds, rootDigest, type RootDocument } from './document.js';

export interface DraftContext {
  config: LoadedConfig;
  keyring: Keyring;
  policy: CryptoPolicy;
  now: Date;
}

/** One maintainer's notice, before it is signed (the fields of src/outbound/notice.ts's Notice and of a command's notices alike). */
export interface RootNotice {
  /** Distinguishes the notices of one draft: `root-<version>-<digest prefix>-<key id>`. */
  tag: string;
  to: string[];
  subject: string;
  status: 'pending';
  fields: Record<string, string>;
  body: string;
}

export interface OpenedDraft {
  version: number;
  text: string;
  digest: string;
  effect: StoreEffect;
  notices: RootNotice[];
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
  const notices: RootNotice[] = [];
  const notTold: string[] = [];
  const added = prev ? doc.maintainers.filter((f) => !prev.maintainers.includes(f)) : [];
  for (const c of contacts) {
    if (!c.address || c.problem) {
      notTold.push(`${c.fingerprint}: ${c.problem ?? line('maintainer-no-address', {})}`);
      continue;
    }
    notices.push({
      tag: `root-${doc.version}-${digest.slice(0, 16)}-${c.keyId}`, to: [c.address], status: 'pending',
      subject: line('subject-root-notify', { version: doc.version }),
      fields: { Root: `ROOT-${doc.version}`, 'Root-Digest': digest },
      body: render('root-notify', {
        version: doc.version, digest, proposer, first: prev === null, threshold: doc.threshold, count: doc.maintainers.length,
        previous: prev?.version ?? null, previousThreshold: prev?.threshold ?? null, added: added.length > 0,
        changes: describeChanges(prev, doc), botAddress: ctx.config.bot.address, root: text,
      }),
    });
  }
  return {
    version: doc.version, text, digest, notices, notTold,
    effect: { kind: 'root-draft', draft: { version: doc.version, text, digest, proposer, createdAt: ctx.now.toISOString() } },
  };
}
