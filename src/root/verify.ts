/**
 * Checking a published collection's root: read root/ (src/root/files.ts),
 * walk the chain from a root the user trusts (or version 1 on first use)
 * with the collection's keys and the approvers' keys kept beside their
 * approvals, and check that root/current names the newest version. What the
 * verifying tools then take from the current root: the maintainers, the
 * bot's key fingerprint and the log's verifier key.
 */
import path from 'node:path';
import { Collection } from '../collection/collection.js';
import { Keyring } from '../pgp/keyring.js';
import { readKeysAny } from '../pgp/inspect.js';
import type { CryptoPolicy } from '../policy/index.js';
import { walkRootChain, type ChainResult } from './chain.js';
import { RootError } from './errors.js';
import { readPublishedRoots } from './files.js';

export interface RootCheckOptions {
  /** The bytes of a root the user saved earlier; null: trust version 1 on first use. */
  trusted: string | null;
  policy: CryptoPolicy;
  now: Date;
  allowExpired?: boolean;
}

export async function verifyPublishedRoot(collectionDir: string, o: RootCheckOptions): Promise<ChainResult> {
  const published = await readPublishedRoots(collectionDir);
  if (published.versions.length === 0) {
    throw new RootError('ROOT_CHAIN', `${path.join(collectionDir, 'root')} holds no root: the collection is unrooted`);
  }
  const col = await Collection.open(collectionDir, { readOnly: true });
  const kept = (await Promise.all(published.keys.map((k) => readKeysAny(k).catch(() => [])))).flat();
  const keys = Keyring.fromKeys([...(await col.keyring()).all(), ...kept.map((k) => (k.isPrivate() ? k.toPublic() : k))]);
  const r = await walkRootChain({ trusted: o.trusted, versions: published.versions, keys, policy: o.policy, now: o.now, allowExpired: o.allowExpired });
  const cur = published.current;
  if (!cur || cur.version !== r.current.version || cur.digest !== r.currentDigest) {
    throw new RootError('ROOT_CHAIN', cur
      ? `root/current names version ${cur.version} (${cur.digest}), but the newest approved root is version ${r.current.version} (${r.currentDigest})`
      : 'root/current is missing');
  }
  return r;
}
