/**
 * Where notices to the maintainers go: the address of a current
 * self-signed user ID of each maintainer's key in the collection. Identity
 * comes from the key, never from a mail header, so a forged From cannot
 * redirect a maintainer's notices. Used for ticket notifications (the
 * handlers) and for "approvals lapsed" (the apply step).
 */
import type { LoadedConfig } from '../config/load.js';
import { emailOfUserId } from '../pgp/addresses.js';
import { fingerprintOf, inspectKey } from '../pgp/inspect.js';
import type { Keyring } from '../pgp/keyring.js';
import type { CryptoPolicy } from '../policy/index.js';
import { line } from './wording.js';

export interface MaintainerContact {
  fingerprint: string;
  keyId: string;
  address: string | null;
  /** Why no notice can be sent, when address is null. */
  problem: string | null;
}

/**
 * The maintainers (config fingerprints) and where to write to them: the
 * address of a current self-signed user ID of their key in the collection.
 * Identity comes from the key, never from a mail header.
 */
export async function maintainerContacts(cfg: LoadedConfig, keyring: Keyring, policy: CryptoPolicy, now: Date): Promise<MaintainerContact[]> {
  const out: MaintainerContact[] = [];
  for (const fpr of cfg.maintainers) {
    const key = keyring.findByFingerprint(fpr);
    if (!key || fingerprintOf(key) !== fpr) {
      out.push({ fingerprint: fpr, keyId: fpr.slice(-16).toLowerCase(), address: null, problem: line('maintainer-key-absent', {}) });
      continue;
    }
    const r = await inspectKey(key, { collection: [], policy, now });
    const uids = r.userIds.filter((u) => u.selfSigned && !u.revoked && !u.attribute);
    const ordered = [...uids.filter((u) => u.primary), ...uids.filter((u) => !u.primary)];
    const address = ordered.map((u) => emailOfUserId(u.userId)).find((e): e is string => !!e && /^[^\s@<>]+@[^\s@<>]+$/.test(e)) ?? null;
    out.push({ fingerprint: fpr, keyId: r.keyId, address: address?.toLowerCase() ?? null,
      problem: address ? (r.revoked ? line('maintainer-key-revoked', {}) : null) : line('maintainer-key-no-address', {}) });
  }
  return out;
}
