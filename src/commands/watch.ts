/**
 * WATCH <fingerprint> / UNWATCH <fingerprint> (sigstore's monitoring idea):
 * the owner of a collection key asks for a signed alert whenever a log entry
 * touches that key (an update, a revocation, a new user ID or certification,
 * an attestation or a source vouch naming it: src/watch/alerts.ts), so they
 * learn at once if someone else changes their key in the collection.
 *
 * Only the key's holder may watch it: the mail must be signed by that very
 * key (identity is the signing key, never the From: address). Alerts go to
 * the address the signed request came from. Watching starts at the log's
 * current size: older entries are history, not news.
 */
import { line } from '../outbound/wording.js';
import { render } from '../templates.js';
import { refused } from './common.js';
import type { CommandResult, Handler } from './types.js';

function target(arg: string | undefined): string | null {
  const hex = (arg ?? '').replace(/^0x/i, '').toUpperCase();
  return /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/.test(hex) ? hex : null;
}

function check(cmd: 'WATCH' | 'UNWATCH', req: Parameters<Handler>[0]): CommandResult | string {
  const fpr = target(req.command.args[0]);
  if (!fpr || req.command.args.length > 1) {
    return refused(cmd, 'usage', line('reason-watch-usage', { command: cmd }), line('fix-watch-usage', { command: cmd, signer: req.signer }));
  }
  if (fpr !== req.signer?.toUpperCase()) {
    return refused(cmd, 'not-the-key', line('reason-watch-not-the-key', { fingerprint: fpr, signer: req.signer }), line('fix-watch-not-the-key', { command: cmd }));
  }
  return fpr;
}

export const watchHandler: Handler = async (req, ctx) => {
  const c = check('WATCH', req);
  if (typeof c !== 'string') return c;
  const since = (await ctx.store.checkpointSizes()).at(-1) ?? 0;
  const address = req.sender.toLowerCase();
  return {
    status: 'applied',
    fields: { 'Watched-Key': c },
    body: render('watch-started', { fingerprint: c, address, since }),
    effects: [{ kind: 'watch', watcher: { fingerprint: c, address, since, createdAt: req.now.toISOString() } }],
    outcome: 'WATCH:applied',
  };
};

export const unwatchHandler: Handler = async (req, ctx) => {
  const c = check('UNWATCH', req);
  if (typeof c !== 'string') return c;
  const address = req.sender.toLowerCase();
  const had = (await ctx.store.listWatchers()).some((w) => w.fingerprint === c && w.address === address);
  return {
    status: had ? 'applied' : 'not-found',
    fields: { 'Watched-Key': c },
    body: render('watch-ended', { fingerprint: c, address, had }),
    effects: had ? [{ kind: 'unwatch', fingerprint: c, address }] : [],
    outcome: `UNWATCH:${had ? 'applied' : 'not-watched'}`,
  };
};
