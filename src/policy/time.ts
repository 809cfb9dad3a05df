/**
 * Every clock decision: how far in the future a signature may be dated
 * (clock skew) and how old a state-changing command's signature may be.
 * Key reports, admission, the mail verifier, the detached-signature check
 * and the dispatcher all ask here, so they cannot disagree on the bound.
 */
import type { PolicyCode } from './codes.js';
import type { CryptoPolicy } from './settings.js';
import { line } from '../templates.js';

/** Dated further ahead of `now` than the policy's clock skew allows. A missing date is not "future". */
export function isFutureDated(policy: CryptoPolicy, created: Date | null | undefined, now: Date): boolean {
  return created instanceof Date && created.getTime() - now.getTime() > policy.maxClockSkewSeconds * 1000;
}

/**
 * The latest moment a signature may claim and still be accepted: `now` plus
 * the clock skew. Passed to openpgp.js as its verification date, which
 * refuses anything dated after it.
 */
export function latestAcceptedDate(policy: CryptoPolicy, now: Date): Date {
  return new Date(now.getTime() + policy.maxClockSkewSeconds * 1000);
}

export type TimeJudgement = { ok: true } | { ok: false; code: PolicyCode; reason: string };

/**
 * Judge a signature's creation time. Every signature is refused when dated
 * more than maxClockSkewSeconds ahead; a signature used for a state-changing
 * command is also refused when older than maxSignatureAgeSeconds (an old
 * signed message replayed from a list archive must not change the collection).
 */
export function judgeSignatureTime(
  policy: CryptoPolicy,
  created: Date,
  now: Date,
  stateChanging: boolean,
): TimeJudgement {
  if (isFutureDated(policy, created, now)) {
    const ahead = (created.getTime() - now.getTime()) / 1000;
    return { ok: false, code: 'POLICY_TIME_FUTURE', reason: line('reason-policy-time-future', { ahead: Math.round(ahead), skew: policy.maxClockSkewSeconds }) };
  }
  if (stateChanging) {
    const age = (now.getTime() - created.getTime()) / 1000;
    if (age > policy.maxSignatureAgeSeconds) {
      return { ok: false, code: 'POLICY_TIME_TOO_OLD', reason: line('reason-policy-time-too-old', { hours: Math.round(age / 3600), maxHours: Math.round(policy.maxSignatureAgeSeconds / 3600) }) };
    }
  }
  return { ok: true };
}
