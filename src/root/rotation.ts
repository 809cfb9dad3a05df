/**
 * Rotating the bot's OpenPGP key through the trust root (issue 12, item 3).
 *
 * The operator makes the new key beside the old one (`root propose
 * --new-bot-key` writes keys/bot-next.key and drafts a root naming it); the
 * key is used only once the maintainers have approved a root version whose
 * Bot-Key is its fingerprint. From then on `promoteBotKey` (at every start,
 * and in a running worker right after the apply step publishes a root)
 * makes it the bot's key: the old key moves to keys/retired/<FPR>.key, where
 * the digest cycle finds it to co-sign the digest that announces the change
 * (src/digest/run.ts), and the new key takes the old one's file.
 *
 * Why the root decides and not the operator: a key the maintainers did not
 * name would make every reply fail `verify-digest --root` and the start-up
 * check, so the waiting key is used only once k of n maintainers named it.
 *
 * Every step is idempotent and ordered so that a crash between two of them
 * leaves a state the next call finishes: the retired copy is written before
 * the key file is replaced, and the leftover next-key file is removed last.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import type { LoadedConfig } from '../config/load.js';
import { dataLayout } from '../datadir.js';
import { fsyncDir, writeFileAtomic } from '../fsync/atomic.js';
import { generateBotKey, loadBotSigner, writePrivateFile, type BotSigner } from '../pgp/botkey.js';
import { currentRootOf } from './draft.js';
import { PgpError } from '../errors.js';

export interface Promotion {
  /** The key the bot signed with until now (kept in keys/retired/). */
  from: string;
  /** The key the current root names, now the bot's key. */
  to: string;
  /** The root version that named it. */
  version: number;
}

/** The fingerprint of the (first) key in an armoured key file, or null when there is none or it cannot be read. */
export async function keyFileFingerprint(file: string): Promise<string | null> {
  if (!existsSync(file)) return null;
  try {
    const key = await openpgp.readKey({ armoredKey: readFileSync(file, 'utf8') });
    return key.getFingerprint().toUpperCase();
  } catch {
    return null;
  }
}

/** Where a retired bot key is kept. */
export function retiredKeyFile(cfg: LoadedConfig, fingerprint: string): string {
  return path.join(dataLayout(cfg.dataDir).retiredKeys, `${fingerprint.toUpperCase()}.key`);
}

/**
 * Make the waiting next key the bot's key when the current root names it
 * (and the bot's key file holds another). Returns what changed, or null
 * when nothing had to (no root, the root names the key in use, or no
 * waiting key matches, or it is no private key the bot's passphrase
 * unlocks: the start-up check then reports the mismatch).
 */
export async function promoteBotKey(cfg: LoadedConfig, passphrase: string | undefined): Promise<Promotion | null> {
  const layout = dataLayout(cfg.dataDir);
  const current = currentRootOf(layout.collection);
  if (!current) return null;
  const keyFile = layout.resolve(cfg.bot.keyFile);
  const inUse = await keyFileFingerprint(keyFile);
  const next = await keyFileFingerprint(layout.botKeyNext);
  if (inUse === current.doc.botKey) {
    // A crash after the swap left the public file or the next-key file
    // behind: the public file is written again from the key in use (verify-digest
    // and import read it), then the next-key file, the key in use now, goes.
    if (next === inUse) {
      if (await keyFileFingerprint(layout.botPublicKey) !== inUse) {
        await writeFileAtomic(layout.botPublicKey, (await openpgp.readKey({ armoredKey: readFileSync(keyFile, 'utf8') })).toPublic().armor());
      }
      rmSync(layout.botKeyNext, { force: true });
    }
    return null;
  }
  if (inUse === null || next !== current.doc.botKey) return null;
  // Only a key the bot can sign with replaces the one it has: a public key
  // or one locked with another passphrase would leave it with none.
  try {
    await loadBotSigner(layout.botKeyNext, passphrase);
  } catch {
    return null;
  }

  const nextText = readFileSync(layout.botKeyNext, 'utf8');
  await writePrivateFile(retiredKeyFile(cfg, inUse), readFileSync(keyFile, 'utf8'));
  await writePrivateFile(keyFile, nextText);
  const pub = (await openpgp.readKey({ armoredKey: nextText })).toPublic().armor();
  await writeFileAtomic(layout.botPublicKey, pub);
  rmSync(layout.botKeyNext, { force: true });
  await fsyncDir(path.dirname(layout.botKeyNext));
  return { from: inUse, to: current.doc.botKey, version: current.doc.version };
}

/**
 * The signer of a retired bot key, named by fingerprint or by key ID (a
 * signature may carry only the 16-digit ID, a signing subkey's), or null
 * when none is kept.
 * Retired keys are unlocked with the bot's passphrase: `root propose
 * --new-bot-key` makes the new key with the same one.
 */
export async function retiredSigner(cfg: LoadedConfig, issuer: string, passphrase: string | undefined): Promise<BotSigner | null> {
  const dir = dataLayout(cfg.dataDir).retiredKeys;
  if (!existsSync(dir)) return null;
  const id = issuer.toUpperCase();
  const names = readdirSync(dir).filter((f) => /^[0-9A-F]{40,64}\.key$/.test(f));
  let name = names.find((f) => f.slice(0, -4).endsWith(id));
  // A key with a signing subkey signs with the subkey: its key ID names no file.
  for (const f of name ? [] : names) {
    const key = await openpgp.readKey({ armoredKey: readFileSync(path.join(dir, f), 'utf8') }).catch(() => null);
    if (key?.getKeyIDs().some((k) => k.toHex().toUpperCase() === id)) {
      name = f;
      break;
    }
  }
  return name ? loadBotSigner(path.join(dir, name), passphrase) : null;
}

/**
 * The key a root proposal rotates to: the one already waiting in
 * keys/bot-next.key (a proposal made again), or a new one made now with
 * the bot's name, address and passphrase. It stays unused until a root
 * names it.
 */
export async function nextBotKey(cfg: LoadedConfig, passphrase: string | undefined): Promise<{ fingerprint: string; made: boolean }> {
  const file = dataLayout(cfg.dataDir).botKeyNext;
  const waiting = await keyFileFingerprint(file);
  if (waiting) return { fingerprint: waiting, made: false };
  // Never overwrite a private key file, even one that cannot be read.
  if (existsSync(file)) throw new PgpError('PGP_KEY_GEN', `${file} is there but holds no readable key: move it away first`);
  const key = await generateBotKey(cfg.bot.name, cfg.bot.address, passphrase ?? '');
  await writePrivateFile(file, key.privateArmored);
  return { fingerprint: key.fingerprint, made: true };
}
