/**
 * Walking the chain of roots (TUF's rule, as sigstore's root ceremony uses
 * it): from a root already trusted (pinned by the user, or version 1 taken on
 * first use) to the newest one, each version must
 *
 *   - be the next number and name the SHA-256 of the one before it;
 *   - be approved by the threshold of the PREVIOUS version's maintainers
 *     (those who held the power decide who holds it next),
 *   - and by its own threshold of its own maintainers, every maintainer it
 *     adds among them (a key cannot be made a maintainer without its
 *     holder's signature).
 *
 * A pinned root newer than anything published is a rollback; a pinned root
 * that differs from the published one of the same version is a fork or a
 * forgery. Only the newest root's expiry matters: an expired root in the
 * middle was valid when its successor was approved.
 */
import type { CryptoPolicy } from '../policy/index.js';
import type { Keyring } from '../pgp/keyring.js';
import { checkApproval, type ApprovalFile } from './approval.js';
import { isoSeconds, parseRoot, rootDigest, type RootDocument } from './document.js';
import { RootError } from './errors.js';

export interface RootVersionFiles {
  version: number;
  /** The exact bytes of root/<version>.txt. */
  text: string;
  /** The files of root/<version>.sig/. */
  approvals: ApprovalFile[];
}

export interface ChainStep {
  version: number;
  digest: string;
  /** Fingerprints whose approvals counted, sorted. */
  approvedBy: string[];
  /** Approvals that did not count, and why (for the report). */
  notCounted: string[];
}

export interface ChainResult {
  current: RootDocument;
  currentText: string;
  currentDigest: string;
  /** One step per version checked after the trusted one (version 1's own approvals first when it was taken on first use). */
  steps: ChainStep[];
  /** The newest root has expired (only when `allowExpired`; otherwise that throws ROOT_EXPIRED). */
  expired: boolean;
  /**
   * Every bot key the walked versions named, oldest first, without
   * repeats: a digest made before a rotation is signed by an earlier one.
   */
  botKeys: string[];
}

export interface WalkOptions {
  /** A root the user already trusts (its bytes); null: version 1 is taken on first use, checked against its own maintainers. */
  trusted: string | null;
  /** Every published version, any order. */
  versions: readonly RootVersionFiles[];
  /** Keys to check approvals with (the collection's keys). */
  keys: Keyring;
  policy: CryptoPolicy;
  now: Date;
  /** Report an expired newest root instead of throwing (`root verify` says so; the tools refuse). */
  allowExpired?: boolean;
}

/**
 * Who approved `next`: valid approvals of exactly this version and digest,
 * one per key. Throws ROOT_THRESHOLD when the rule is not met.
 */
export async function checkVersionApprovals(
  prev: RootDocument | null,
  next: RootDocument,
  digest: string,
  approvals: readonly ApprovalFile[],
  keys: Keyring,
  policy: CryptoPolicy,
): Promise<ChainStep> {
  const approvedBy = new Set<string>();
  const notCounted: string[] = [];
  for (const a of approvals) {
    const r = await checkApproval(a, keys, policy);
    if (!r.ok) {
      notCounted.push(r.reason);
      continue;
    }
    if (r.version !== next.version || r.digest !== digest) {
      notCounted.push(`${a.name}: approves ROOT-${r.version} ${r.digest.slice(0, 16)}..., not ROOT-${next.version} ${digest.slice(0, 16)}...`);
      continue;
    }
    approvedBy.add(r.signer);
  }
  const problems = approvalProblems(prev, next, approvedBy);
  if (problems.length) {
    throw new RootError('ROOT_THRESHOLD', `root version ${next.version} is not approved: ${problems.join('; ')}${notCounted.length ? ` (not counted: ${notCounted.join('; ')})` : ''}`);
  }
  return { version: next.version, digest, approvedBy: [...approvedBy].sort(), notCounted };
}

/**
 * What keeps `approvedBy` from making `next` current after `prev` (TUF's
 * rule, see the module comment); empty when nothing does. The one statement
 * of the rule: the chain walk and the bot's own count of approvals by mail
 * (src/root/draft.ts) both come here.
 */
export function approvalProblems(prev: RootDocument | null, next: RootDocument, approvedBy: ReadonlySet<string>): string[] {
  const by = (list: readonly string[]): number => list.filter((f) => approvedBy.has(f)).length;
  const problems: string[] = [];
  const deciders = prev ?? next;
  if (by(deciders.maintainers) < deciders.threshold) {
    problems.push(`${by(deciders.maintainers)} of ${prev ? `the previous version's (${prev.version})` : 'its own'} maintainers approved it, ${deciders.threshold} must`);
  }
  if (prev) {
    if (by(next.maintainers) < next.threshold) problems.push(`${by(next.maintainers)} of its own maintainers approved it, ${next.threshold} must`);
    const added = next.maintainers.filter((f) => !prev.maintainers.includes(f) && !approvedBy.has(f));
    if (added.length) problems.push(`the new maintainer key${added.length === 1 ? '' : 's'} ${added.join(', ')} did not approve it`);
  }
  return problems;
}

/** Whose approvals can count for `next`: the previous version's maintainers and its own. */
export function rootDeciders(prev: RootDocument | null, next: RootDocument): string[] {
  return [...new Set([...(prev?.maintainers ?? []), ...next.maintainers])].sort();
}

export async function walkRootChain(o: WalkOptions): Promise<ChainResult> {
  const byVersion = new Map<number, RootVersionFiles>();
  for (const v of o.versions) {
    if (byVersion.has(v.version)) throw new RootError('ROOT_CHAIN', `root version ${v.version} is published twice`);
    byVersion.set(v.version, v);
  }
  const newest = Math.max(0, ...byVersion.keys());
  if (newest === 0) throw new RootError('ROOT_CHAIN', 'no root version is published');
  const steps: ChainStep[] = [];
  const botKeys: string[] = [];

  let prevText: string;
  let prev: RootDocument;
  if (o.trusted !== null) {
    prev = parseRoot(o.trusted);
    prevText = o.trusted;
    if (prev.version > newest) {
      throw new RootError('ROOT_ROLLBACK', `the trusted root is version ${prev.version}, but the newest published is version ${newest}: the published roots were rolled back`);
    }
    const same = byVersion.get(prev.version);
    if (!same || same.text !== o.trusted) {
      throw new RootError('ROOT_CHAIN', `the published root version ${prev.version} ${same ? 'differs from' : 'is missing, unlike'} the trusted one (digest ${rootDigest(o.trusted)})`);
    }
  } else {
    const first = byVersion.get(1);
    if (!first) throw new RootError('ROOT_CHAIN', 'root version 1 is not published');
    prev = parseRoot(first.text);
    if (prev.version !== 1) throw new RootError('ROOT_CHAIN', `root/1.txt holds version ${prev.version}`);
    prevText = first.text;
    steps.push(await checkVersionApprovals(null, prev, rootDigest(first.text), first.approvals, o.keys, o.policy));
  }

  for (let v = prev.version + 1; v <= newest; v++) {
    const files = byVersion.get(v);
    if (!files) throw new RootError('ROOT_CHAIN', `root version ${v} is missing between ${prev.version} and ${newest}`);
    const doc = parseRoot(files.text);
    if (doc.version !== v) throw new RootError('ROOT_CHAIN', `root/${v}.txt holds version ${doc.version}`);
    const prevDigest = rootDigest(prevText);
    if (doc.previous !== prevDigest) {
      throw new RootError('ROOT_CHAIN', `root version ${v} names previous ${doc.previous ?? 'none'}, but version ${prev.version} is ${prevDigest}`);
    }
    if (doc.issued.getTime() < prev.issued.getTime()) {
      throw new RootError('ROOT_CHAIN', `root version ${v} is issued (${isoSeconds(doc.issued)}) before version ${prev.version} (${isoSeconds(prev.issued)})`);
    }
    steps.push(await checkVersionApprovals(prev, doc, rootDigest(files.text), files.approvals, o.keys, o.policy));
    botKeys.push(prev.botKey);
    prev = doc;
    prevText = files.text;
  }

  const expired = prev.expires.getTime() <= o.now.getTime();
  if (expired && !o.allowExpired) {
    throw new RootError('ROOT_EXPIRED', `the current root (version ${prev.version}) expired at ${isoSeconds(prev.expires)}; the maintainers must approve a renewed one`);
  }
  botKeys.push(prev.botKey);
  return { current: prev, currentText: prevText, currentDigest: rootDigest(prevText), steps, expired, botKeys: [...new Set(botKeys)] };
}
