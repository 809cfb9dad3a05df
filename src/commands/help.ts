/** HELP: usage with copy-paste examples; signed or unsigned. */
import { line, render } from '../templates.js';
import type { MailVerification } from '../mail/verify-mail.js';
import type { Handler } from './types.js';

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

export const helpHandler: Handler = (req, ctx) => Promise.resolve({
  status: 'found',
  body: render('help', {
    botName: ctx.config.bot.name,
    botFingerprint: ctx.signer.fingerprint,
    botAddress: ctx.config.bot.address,
    signatureNote: signatureNote(req.verification),
  }),
  outcome: 'help',
});
