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
import { line, render } from '../templates.js';
import { normalizeToken, tokenHash } from '../subscriptions/tokens.js';
import type { CommandResult, Handler } from './types.js';

function refusedConfirm(reason: string, fix: string, outcome: string): CommandResult {
  return { status: 'error', body: render('confirm-refused', { reason, fix }), outcome: `confirm:${outcome}` };
}

export const confirmHandler: Handler = async (req, ctx) => {
  const AGAIN = line('fix-confirm-again', {});
  const token = normalizeToken(req.command.args[0]);
  if (!token) {
    return refusedConfirm(line('reason-confirm-no-token', {}), line('fix-confirm-no-token', {}), 'malformed');
  }
  const row = await ctx.store.getSubscriptionToken(tokenHash(token));
  if (!row) return refusedConfirm(line('reason-confirm-unknown', {}), AGAIN, 'unknown');
  if (row.address !== req.sender.toLowerCase()) {
    return refusedConfirm(line('reason-confirm-wrong-address', {}), line('fix-confirm-wrong-address', {}), 'wrong-address');
  }
  if (row.usedAt) return refusedConfirm(line('reason-confirm-used', {}), AGAIN, 'used');
  if (req.now.getTime() >= Date.parse(row.expiresAt)) {
    return refusedConfirm(line('reason-confirm-expired', { expires: row.expiresAt.replace(/\.\d{3}Z$/, 'Z') }), AGAIN, 'expired');
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
