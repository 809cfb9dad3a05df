/**
 * CONFIRM <token> (unsigned ok): completes a SUBSCRIBE or UNSUBSCRIBE.
 *
 * The token is the proof: it was only ever mailed to the address it names.
 * Defence in depth, the CONFIRM must also come from that address, so a
 * token that leaked (a forwarded mail) cannot be used from elsewhere, and a
 * refusal never says which address a token belongs to. Single use and
 * expiry are decided again inside the store transaction (the effect fails
 * on a used or expired token), so two CONFIRMs at once cannot both win.
 */
import { render } from '../templates.js';
import { normalizeToken, tokenHash } from '../subscriptions/tokens.js';
import type { CommandResult, Handler } from './types.js';

function refusedConfirm(reason: string, fix: string, outcome: string): CommandResult {
  return { status: 'error', body: render('confirm-refused', { reason, fix }), outcome: `confirm:${outcome}` };
}

const AGAIN = 'Send SUBSCRIBE (or UNSUBSCRIBE) again from the address you want to change; the reply carries a new token.';

export const confirmHandler: Handler = async (req, ctx) => {
  const token = normalizeToken(req.command.args[0]);
  if (!token) {
    return refusedConfirm('the CONFIRM line does not carry a token (32 hexadecimal digits).',
      'Copy the line "CONFIRM <token>" exactly as it appears in the mail the bot sent you.', 'malformed');
  }
  const row = await ctx.store.getSubscriptionToken(tokenHash(token));
  if (!row) return refusedConfirm('this token is not known.', AGAIN, 'unknown');
  if (row.address !== req.sender.toLowerCase()) {
    return refusedConfirm('this token was sent to a different address, and only that address can use it.',
      'Send the CONFIRM from the address that received the token.', 'wrong-address');
  }
  if (row.usedAt) return refusedConfirm('this token was already used (tokens work once).', AGAIN, 'used');
  if (req.now.getTime() >= Date.parse(row.expiresAt)) {
    return refusedConfirm(`this token expired at ${row.expiresAt.replace(/\.\d{3}Z$/, 'Z')}.`, AGAIN, 'expired');
  }
  const subscribed = row.action === 'subscribe';
  return {
    status: 'applied',
    body: render('confirm-done', {
      subscribed, address: row.address, botName: ctx.config.bot.name, schedule: ctx.config.digest.schedule,
      botFingerprint: ctx.signer.fingerprint,
    }),
    outcome: `confirm:${row.action}`,
    effects: [{ kind: 'subscription-confirm', tokenHash: row.tokenHash, at: req.now.toISOString() }],
  };
};
