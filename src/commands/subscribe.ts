/**
 * SUBSCRIBE and UNSUBSCRIBE (unsigned ok): double opt-in. The reply, which
 * the dispatcher sends to the From address and nowhere else, carries a
 * single-use `CONFIRM <token>`; the token is recorded in the same store
 * transaction as that reply. Nothing about the subscription changes here.
 *
 * A forged From therefore achieves only one mail to the forged address (and
 * the dispatcher's per-recipient reply limit caps even that). A new request
 * never invalidates an earlier token, so a forger cannot cancel a real
 * request by sending more of them.
 */
import { render } from '../templates.js';
import { newToken, tokenRecord, TOKEN_TTL_HOURS } from '../subscriptions/tokens.js';
import type { SubscriptionAction } from '../store/types.js';
import type { CommandRequest, CommandResult, Handler, HandlerContext } from './types.js';

function tokenReply(req: CommandRequest, ctx: HandlerContext, action: SubscriptionAction): CommandResult {
  const token = newToken();
  const rec = tokenRecord(token, req.sender, action, req.now, req.spoolKey);
  return {
    status: 'pending',
    body: render('subscribe-token', {
      botName: ctx.config.bot.name,
      botAddress: ctx.config.bot.address,
      address: rec.address,
      verb: action === 'subscribe' ? 'subscribe' : 'unsubscribe',
      direction: action === 'subscribe' ? 'to' : 'from',
      token,
      expires: rec.expiresAt.replace(/\.\d{3}Z$/, 'Z'),
      hours: TOKEN_TTL_HOURS,
    }),
    outcome: `${action}:token-sent`,
    effects: [{ kind: 'subscription-token', token: rec }],
  };
}

export const subscribeHandler: Handler = async (req, ctx) => {
  if (await ctx.store.getSubscriber(req.sender)) {
    return {
      status: 'found',
      body: render('subscribe-already', { address: req.sender, botName: ctx.config.bot.name }),
      outcome: 'subscribe:already',
    };
  }
  return tokenReply(req, ctx, 'subscribe');
};

export const unsubscribeHandler: Handler = async (req, ctx) => {
  if (!(await ctx.store.getSubscriber(req.sender))) {
    return {
      status: 'not-found',
      body: render('unsubscribe-not-subscribed', {
        address: req.sender, botName: ctx.config.bot.name, lists: ctx.config.lists.filter((l) => l.postDigests),
      }),
      outcome: 'unsubscribe:not-subscribed',
    };
  }
  return tokenReply(req, ctx, 'unsubscribe');
};
