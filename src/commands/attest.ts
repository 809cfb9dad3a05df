/**
 * ATTEST: a collection key able to sign vouches for artifact digests, given
 * as SHA256SUMS lines in the signed text. Every accepted line becomes one
 * log entry (type attestation, subject `sha256:<hex>`).
 *
 * The log has one writer, the apply step (concurrency 1), so this handler
 * does not log: it checks the request, refuses bad lines one by one with a
 * reason, and records a change request (kind `attest`) in the message's own
 * transaction. The reply says what will be logged (Status: accepted); the
 * apply step then logs the lines in one batch and sends the second signed
 * mail (Status: applied) with each line's log index, the signed checkpoint
 * and the proofs (src/changes/attest-apply.ts). The signer is checked again
 * there: a key revoked or removed in between attests nothing.
 *
 * The signature on the request passed the dispatcher's checks (a good
 * signature by a collection key, within the age window, never used before),
 * so a replayed request is refused before it gets here.
 */
import { attestRefusal, identityOfKey } from '../ledger/standing.js';
import { parseAttestLines, type AttestBad, type AttestGood, type AttestPayload } from '../ledger/attest.js';
import { goodLines, hanging, shown } from '../ledger/replies.js';
import { render } from '../templates.js';
import { refused } from './common.js';
import type { Handler } from './types.js';
import { line } from '../outbound/wording.js';

const CMD = 'ATTEST';

export function refusedLines(bad: readonly AttestBad[], over: { first: number; last: number; count: number } | null, limit: number): string {
  const out: string[] = [];
  for (const b of bad) {
    out.push(...hanging(`  line ${b.line}: `, b.reason, '    '));
    out.push(`    "${shown(b.raw, 60)}"`);
  }
  if (over) {
    const where = over.count === 1 ? `line ${over.first}` : `lines ${over.first} to ${over.last} (${over.count} lines)`;
    out.push(...hanging(`  ${where}: `, line('reason-attest-over-limit', { limit }), '    '));
  }
  return out.join('\n');
}

export const attestHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const cmd = req.command;
  // cmd.lineIndex is 0-based in the signed text; the lines after it start at lineIndex + 2 (1-based).
  const parsed = parseAttestLines(cmd.following, cmd.lineIndex + 2, cfg.limits.maxAttestLines);
  const total = parsed.lines.length + (parsed.overLimit?.count ?? 0);
  if (total === 0) {
    return refused(CMD, 'no-lines', line('reason-no-lines', {}), line('fix-no-lines', {}));
  }
  let good = parsed.lines.filter((l): l is AttestGood => l.ok);
  let bad = parsed.lines.filter((l): l is AttestBad => !l.ok);

  const refusal = await attestRefusal(req.signer, ctx.keyring, { policy: ctx.policy, now: req.now });
  if (refusal) {
    bad = parsed.lines.map((l) => ({ ok: false as const, line: l.line, raw: l.raw, reason: l.ok ? refusal : `${l.reason}; and ${refusal}` }));
    good = [];
  }
  if (good.length === 0) {
    return {
      status: 'error',
      body: render('attest-refused', { botAddress: cfg.bot.address, total, refusedLines: refusedLines(bad, parsed.overLimit, cfg.limits.maxAttestLines) }),
      outcome: `${CMD}:refused`,
    };
  }

  const signer = req.signer!;
  const key = ctx.keyring.findByFingerprint(signer);
  const payload: AttestPayload = { kind: 'attest', signer, total, lines: good.map((l) => ({ line: l.line, subject: l.subject, name: l.name })) };
  return {
    status: 'accepted',
    body: render('attest-accepted', {
      goodCount: good.length, total, origin: cfg.log.origin, signer,
      identity: key ? await identityOfKey(key, ctx.policy, req.now) : null,
      goodLines: goodLines(good),
      hasRefused: bad.length > 0 || parsed.overLimit !== null,
      refusedLines: refusedLines(bad, parsed.overLimit, cfg.limits.maxAttestLines),
    }),
    effects: [{
      kind: 'change-create',
      change: {
        id: `c-${req.spoolKey}`, kind: 'attest', ticketId: null, subject: good[0].subject,
        payload: JSON.stringify(payload),
        requester: req.sender, parentMessageId: req.mail.messageId ?? null, sourceDigest: req.sourceDigest,
        signers: [signer], approvers: [], createdAt: req.now.toISOString(),
      },
    }],
    outcome: `${CMD}:accepted:${good.length}`,
  };
};
