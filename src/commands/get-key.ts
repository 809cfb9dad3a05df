/** GET KEY <fingerprint, key id or email>: the collection's copy, armoured in the reply; unsigned ok. */
import { inspectKey } from '../pgp/inspect.js';
import { render } from '../templates.js';
import { readCollection } from './common.js';
import type { Handler } from './types.js';

const MAX_KEYS = 5;

export const getKeyHandler: Handler = async (req, ctx) => {
  const query = req.command.rest.trim().replace(/^<|>$/g, '');
  const safe = query.slice(0, 100).replace(/[^\x21-\x7e]/g, '?') || '(nothing)';
  const collection = await readCollection(ctx.config);
  const found = collection && query ? await collection.findKeys(query) : [];
  if (found.length === 0) {
    return { status: 'not-found', body: render('get-key-not-found', { query: safe }), outcome: 'GET KEY:not-found' };
  }
  const keys = [];
  for (const k of found.slice(0, MAX_KEYS)) {
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
