/** HELP: usage with copy-paste examples; signed or unsigned. */
import { render } from '../templates.js';
import type { MailVerification } from '../mail/verify-mail.js';
import type { Handler } from './types.js';

/** One sentence telling the sender what the bot made of their signature. */
export function signatureNote(v: MailVerification): string | null {
  switch (v.verdict) {
    case 'good':
      return `Your mail was signed by ${v.signer}; the signature verified.`;
    case 'unsigned':
      return v.unsupported === 'smime'
        ? 'Your mail was signed with S/MIME, which this bot does not read; use OpenPGP for signed commands.'
        : null;
    case 'nokey':
      return `Your mail was signed by key ${v.signingKeyId ?? '(unknown)'}, which is not in the collection, so the signature could not be checked.`;
    default:
      return `The signature on your mail was not accepted (${v.verdict}): ${v.detail}`;
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
