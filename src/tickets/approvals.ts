/**
 * THE rule that decides which approvals of a ticket count, used wherever
 * approvals are counted: at each vote (commands/vote.ts), by the apply step
 * just before it writes (changes/apply.ts), by STATUS and by
 * `ztrust-bot tickets`. It lives here, beside the tickets it counts, so that
 * the handlers and the apply step import it from one place and neither
 * imports the other.
 *
 * An approval counts when its voter is a configured maintainer and the
 * voter's key is, at the moment of counting, in the collection, not expired
 * and not revoked; each maintainer counts once. Whether a key is valid is
 * asked of the caller (`lapsed`, ledger/standing.ts approvalCheck): that is a
 * question about OpenPGP keys, which tickets/ does not read.
 */
import type { VoteRecord } from '../store/types.js';
import { tally } from './ticket.js';

/** Why an approval no longer counts: whose it is ("the approval by key X (...)") and why ("that key has been revoked"). */
export interface Lapse {
  who: string;
  why: string;
}

export interface ApprovalCheck {
  maintainers: readonly string[];
  /** Why the approval of `voter` (upper-case fingerprint) does not count now, or null when it does. */
  lapsed: (voter: string) => Promise<Lapse | null>;
}

export interface CountedVotes {
  /** Distinct maintainer fingerprints whose approval counts now. */
  approvals: string[];
  /** One sentence per approval that does not count because its key lapsed ("the approval by key X (...): that key ..."). */
  notCounted: string[];
  /** For each voter whose vote does not count: why, as a clause ("that key has been revoked", "no longer a maintainer"). */
  reasons: Map<string, string>;
}

/**
 * Count `votes` by the rule above. `fresh` is a vote whose key was checked
 * just now (its signature verified): counted without the key check.
 */
export async function countApprovals(votes: readonly VoteRecord[], check: ApprovalCheck, fresh?: VoteRecord): Promise<CountedVotes> {
  const valid: VoteRecord[] = [];
  const notCounted: string[] = [];
  const reasons = new Map<string, string>();
  const maintainers = new Set(check.maintainers.map((m) => m.toUpperCase()));
  for (const v of votes) {
    const voter = v.voter.toUpperCase();
    if (fresh && voter === fresh.voter.toUpperCase()) continue;
    if (!maintainers.has(voter)) {
      reasons.set(voter, 'no longer a maintainer');
      continue;
    }
    const why = v.vote === 'approve' ? await check.lapsed(voter) : null;
    if (why) {
      notCounted.push(`${why.who}: ${why.why}`);
      reasons.set(voter, why.why);
    } else valid.push(v);
  }
  const { approvals } = tally(fresh ? [...valid, fresh] : valid, check.maintainers);
  return { approvals, notCounted, reasons };
}
