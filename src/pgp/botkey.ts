/**
 * The bot's own OpenPGP key: generation at `init`, loading at start, and the
 * two signing forms replies use (detached for PGP/MIME, cleartext for lists).
 *
 * The key is a v4 EdDSA (legacy Ed25519) key with a Curve25519 encryption
 * subkey: GnuPG 2.2, still the default on Debian 12 and on many mainframe
 * admins' workstations, cannot read RFC 9580 v6 keys or the new Ed25519 algo.
 */
import * as openpgp from 'openpgp';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fsync/atomic.js';
import path from 'node:path';
import { PgpError } from '../errors.js';
import { signConfig } from '../policy/index.js';
import { fastSignerFor, type FastSigner } from './fast-sign.js';

export interface BotSigner {
  fingerprint: string;
  publicArmored: string;
  /** Detached armoured signature over exact bytes (binary-document signature). */
  signDetached(data: Uint8Array): Promise<{ armored: string; hash: string }>;
  /** Cleartext-signed armoured text (inline replies and list digests). */
  signCleartext(text: string): Promise<string>;
}

export async function generateBotKey(name: string, email: string, passphrase: string): Promise<{ privateArmored: string; publicArmored: string; fingerprint: string }> {
  if (!passphrase) throw new PgpError('PGP_KEY_GEN', 'refusing to create the bot key without a passphrase');
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email }],
    passphrase,
    format: 'armored',
    config: { v6Keys: false },
  });
  const pub = await openpgp.readKey({ armoredKey: publicKey });
  return { privateArmored: privateKey, publicArmored: publicKey, fingerprint: pub.getFingerprint().toUpperCase() };
}

/** Write a private key file with mode 0600 inside a 0700 folder. */
/**
 * A private key or passphrase file: created 0600 (the temp file already is,
 * so the secret is never readable by others, not even for a moment) and
 * written atomically, so a crash leaves the old file or the new one.
 */
export async function writePrivateFile(file: string, text: string): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export async function loadBotSigner(keyFile: string, passphrase: string | undefined): Promise<BotSigner> {
  let armored: string;
  try {
    armored = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new PgpError('PGP_KEY_GEN', `cannot read the bot key ${keyFile} (run \`ztrust-bot init\` first): ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let key = await openpgp.readPrivateKey({ armoredKey: armored });
  if (!key.isDecrypted()) {
    if (passphrase === undefined) throw new PgpError('PGP_KEY_GEN', 'the bot key is encrypted and no passphrase is configured (bot.keyPassphraseEnv or bot.keyPassphraseFile)');
    try {
      key = await openpgp.decryptKey({ privateKey: key, passphrase });
    } catch (err) {
      throw new PgpError('PGP_KEY_GEN', 'cannot unlock the bot key: wrong passphrase?', { cause: err });
    }
  }
  return signerFromKey(key);
}

export function signerFromKey(key: openpgp.PrivateKey): BotSigner {
  const config = signConfig();
  const publicArmored = key.toPublic().armor();
  // node:crypto makes the same packets much faster for the usual Ed25519 bot
  // key (src/pgp/fast-sign.ts, which checks itself against openpgp.js first);
  // any other key is signed by openpgp.js.
  let fast: Promise<FastSigner | null> | undefined;
  const fastSigner = (): Promise<FastSigner | null> => (fast ??= fastSignerFor(key, config));
  return {
    fingerprint: key.getFingerprint().toUpperCase(),
    publicArmored,
    async signDetached(data: Uint8Array) {
      const f = await fastSigner();
      if (f && Date.now() < f.expires) return { armored: f.signDetached(data), hash: 'sha512' };
      const message = await openpgp.createMessage({ binary: data });
      // openpgp's .d.ts names @openpgp/web-stream-tools, which is not installed: its stream types are unresolved, so say what a non-stream message gives.
      const armored = (await openpgp.sign({ message, signingKeys: key, detached: true, format: 'armored', config })) as string;
      const sig = await openpgp.readSignature({ armoredSignature: armored });
      const hashId = sig.packets[0]?.hashAlgorithm ?? openpgp.enums.hash.sha512;
      const hash = openpgp.enums.read(openpgp.enums.hash, hashId).toLowerCase();
      return { armored, hash };
    },
    async signCleartext(text: string) {
      const f = await fastSigner();
      if (f && Date.now() < f.expires) return f.signCleartext(text);
      const message = await openpgp.createCleartextMessage({ text });
      return openpgp.sign({ message, signingKeys: key, format: 'armored', config });
    },
  };
}
