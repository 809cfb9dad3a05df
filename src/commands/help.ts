/** HELP: usage with copy-paste examples; signed or unsigned. */
import { line, render } from '../templates.js';
import type { MailVerification } from '../mail/verify-mail.js';
import type { Handler } from './types.js';
import { describeError } from '../errors.js';
import { isoSeconds } from '../root/document.js';
import { rootStanding, type RootStanding } from '../root/start.js';

/** One sentence telling the sender what the bot made of their signature. */
export function signatureNote(v: MailVerification): string | null {
  switch (v.verdict) {
    case 'good':
      return line('note-signature-good', { signer: v.signer });
    case 'unsigned':
      return v.unsupported === 'smime'
        ? line('note-signature-smime', {})
        : null;
    case 'nokey':
      return line('note-signature-nokey', { keyId: v.signingKeyId });
    default:
      return line('note-signature-refused', { verdict: v.verdict, detail: v.detail });
  }
}

/** Where the bot stands with its trust root, in one sentence (src/root/start.ts): HELP says it to everyone who asks. */
function rootNote(ctx: Parameters<Handler>[1], now: Date): string {
  let standing: RootStanding;
  try {
    standing = rootStanding(ctx.config, ctx.signer.fingerprint, now);
  } catch (err) {
    return line('note-root-unreadable', { reason: describeError(err) });
  }
  if (standing.state === 'unrooted') return line('note-root-unrooted', {});
  const c = standing.current;
  return line(standing.state === 'rooted' ? 'note-root-current' : 'note-root-problem', {
    version: c.doc.version, digest: c.digest, expires: isoSeconds(c.doc.expires), threshold: c.doc.threshold, maintainers: c.doc.maintainers.length,
    state: standing.state,
  });
}

export const helpHandler: Handler = (req, ctx) => Promise.resolve({
  status: 'found',
  body: render('help', {
    botName: ctx.config.bot.name,
    botFingerprint: ctx.signer.fingerprint,
    botAddress: ctx.config.bot.address,
    signatureNote: signatureNote(req.verification),
    rootNote: rootNote(ctx, req.now),
  }),
  outcome: 'help',
});
