/**
 * An in-memory set of OpenPGP public keys, looked up by the key id or
 * fingerprint a signature names (primary key or subkey).
 *
 * It decides nothing about validity: a revoked, expired or weak key is still
 * returned, because the verifier must be able to say "signed by a revoked
 * key" rather than "unknown key".
 */
import * as openpgp from 'openpgp';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import { PgpError } from '../errors.js';
import { verifyConfig } from '../policy/index.js';

// Each kind closed by its own END, found by a linear scan: the regex
// /BEGIN (PUBLIC|PRIVATE)[\s\S]*?END \1/ was retried from every BEGIN line.
const KEY_BLOCK = [blockKind('PGP PUBLIC KEY BLOCK'), blockKind('PGP PRIVATE KEY BLOCK')];

export class Keyring {
  private readonly keys: openpgp.PublicKey[];
  /** Upper-case 16-hex key id (primary and subkeys) -> keys holding it; collisions are possible, so a list. */
  private readonly byKeyId = new Map<string, openpgp.PublicKey[]>();
  /** Upper-case fingerprint (primary and subkeys) -> key. */
  private readonly byFingerprint = new Map<string, openpgp.PublicKey>();

  private constructor(keys: openpgp.PublicKey[]) {
    this.keys = keys;
    for (const key of keys) {
      for (const id of key.getKeyIDs()) {
        const hex = id.toHex().toUpperCase();
        const list = this.byKeyId.get(hex) ?? [];
        list.push(key);
        this.byKeyId.set(hex, list);
      }
      for (const k of key.getKeys()) this.byFingerprint.set(k.getFingerprint().toUpperCase(), key);
    }
  }

  /**
   * Read every key in `text`: one or several armour blocks, each holding one
   * or more keys. Private key blocks are reduced to their public part. Two
   * copies of the same key are merged (openpgp.js `update`), so signatures
   * from either copy are kept.
   * @throws PgpError PGP_PARSE when no block is found or a block cannot be read.
   */
  static async fromArmored(text: string): Promise<Keyring> {
    const blocks = armouredBlocks(text, KEY_BLOCK);
    if (blocks.length === 0) throw new PgpError('PGP_PARSE', 'no armoured OpenPGP key block found');
    const merged = new Map<string, openpgp.PublicKey>();
    const order: string[] = [];
    for (const block of blocks) {
      let read: openpgp.Key[];
      try {
        read = await openpgp.readKeys({ armoredKeys: block, config: verifyConfig() });
      } catch (err) {
        throw new PgpError('PGP_PARSE', `an armoured key block could not be read: ${(err as Error).message}`, { cause: err });
      }
      for (const k of read) {
        const pub = k.isPrivate() ? k.toPublic() : (k);
        const fpr = pub.getFingerprint().toUpperCase();
        const seen = merged.get(fpr);
        if (seen) {
          merged.set(fpr, await seen.update(pub, new Date(), verifyConfig()));
        } else {
          merged.set(fpr, pub);
          order.push(fpr);
        }
      }
    }
    return new Keyring(order.map((f) => merged.get(f)!));
  }

  /** Wrap keys already read. Duplicates by fingerprint: the first copy wins. */
  static fromKeys(keys: openpgp.PublicKey[]): Keyring {
    const seen = new Set<string>();
    const unique: openpgp.PublicKey[] = [];
    for (const k of keys) {
      const pub = k.isPrivate() ? (k).toPublic() : k;
      const fpr = pub.getFingerprint().toUpperCase();
      if (seen.has(fpr)) continue;
      seen.add(fpr);
      unique.push(pub);
    }
    return new Keyring(unique);
  }

  /** The key holding this 16-hex key id (any case) as primary key or subkey. */
  findByKeyId(keyIdHex: string): openpgp.PublicKey | undefined {
    return this.byKeyId.get(normaliseHex(keyIdHex))?.[0];
  }

  /** Every key holding this key id (64-bit ids can collide; a verifier should try each). */
  findAllByKeyId(keyIdHex: string): openpgp.PublicKey[] {
    return [...(this.byKeyId.get(normaliseHex(keyIdHex)) ?? [])];
  }

  /** The key whose primary key or a subkey has this fingerprint (hex, any case, spaces allowed). */
  findByFingerprint(fingerprintHex: string): openpgp.PublicKey | undefined {
    return this.byFingerprint.get(normaliseHex(fingerprintHex));
  }

  all(): openpgp.PublicKey[] {
    return [...this.keys];
  }

  get size(): number {
    return this.keys.length;
  }
}

function normaliseHex(hex: string): string {
  return hex.replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
}
