/**
 * GET KEY <fingerprint, key id or email>: the collection's copy, armoured in
 * the reply; unsigned ok.
 *
 * By address, the reply gives the key that holds the address (and any
 * revoked key that named it, so the revocation reaches the asker), never
 * a key whose own user ID for it is revoked. When two keys hold one address
 * (imported data, or one person's two keys), it gives out neither and names
 * both: picking one would hand the asker a key chosen by file order.
 */
import type { StoredKey } from '../collection/collection.js';
import { addressUses } from '../pgp/addresses.js';
import { inspectKey } from '../pgp/inspect.js';
import { render } from '../templates.js';
import { contentValue } from '../text/value.js';
import { readCollection } from './common.js';
import type { CommandResult, Handler } from './types.js';
import { COMMAND_BOUNDS, REPLY_BOUNDS } from '../limits.js';

export const getKeyHandler: Handler = async (req, ctx) => {
  const query = req.command.rest.trim().replace(/^<|>$/g, '');
  const safe = query.slice(0, COMMAND_BOUNDS.queryShownChars).replace(/[^\x21-\x7e]/g, '?') || '(nothing)';
  const collection = await readCollection(ctx.config);
  let found: StoredKey[] = [];
  if (collection && query.includes('@')) {
    const all = await collection.keys();
    const uses = await addressUses(all.map((k) => k.key), query, { policy: ctx.policy, now: req.now });
    const holders = uses.filter((u) => u.claims);
    if (holders.length > 1) return ambiguous(safe, holders);
    found = all.filter((k) => uses.some((u) => u.fingerprint === k.fingerprint && (u.claims || u.keyRevoked)));
  } else if (collection && query) {
    found = await collection.findKeys(query);
  }
  if (found.length === 0) {
    return { status: 'not-found', body: render('get-key-not-found', { query: safe }), outcome: 'GET KEY:not-found' };
  }
  const keys = [];
  for (const k of found.slice(0, REPLY_BOUNDS.getKeyMatches)) {
    const r = await inspectKey(k.key, { collection: [], policy: ctx.policy, now: req.now });
    keys.push({
      fingerprint: k.fingerprint,
      file: k.file,
      revoked: r.revoked,
      // The stored bytes, as published; armour blocks are kept verbatim in the reply.
      armored: k.bytes.toString('utf8').replace(/\r\n?/g, '\n').trimEnd(),
    });
  }
  return {
    status: 'found',
    body: render('get-key-found', { count: keys.length, plural: keys.length === 1 ? '' : 's', query: safe, keys }),
    outcome: 'GET KEY:found',
  };
};

function ambiguous(query: string, holders: { fingerprint: string; userId: string }[]): CommandResult {
  return {
    status: 'error',
    body: render('get-key-ambiguous', {
      count: holders.length, query, example: holders[0].fingerprint,
      holders: holders.map((h) => ({ fingerprint: h.fingerprint, userId: contentValue(h.userId, 60) })),
    }),
    outcome: 'GET KEY:refused:one-key-per-address',
  };
}
