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

/**
 * The bot's signer as the running process holds it: the key a trust-root
 * version rotates to replaces the old one in place (src/root/rotation.ts),
 * so every part of a running worker that was handed the signer signs with
 * the new key from then on, without a restart.
 */
export class SwitchableSigner implements BotSigner {
  constructor(private inner: BotSigner) {}
  get fingerprint(): string { return this.inner.fingerprint; }
  get publicArmored(): string { return this.inner.publicArmored; }
  signDetached(data: Uint8Array): Promise<{ armored: string; hash: string }> { return this.inner.signDetached(data); }
  signCleartext(text: string): Promise<string> { return this.inner.signCleartext(text); }
  switchTo(next: BotSigner): void { this.inner = next; }
}

/**
 * One signer that signs with several keys: every signature it makes holds
 * one signature packet per key (the primary's first), which `gpg --verify`
 * checks one by one. Used for the digest that announces a rotated bot key:
 * a reader who knows only the old key and one who knows only the new key
 * can both check it, and the two together show the old key handing over.
 * Identity (fingerprint, public key) is the primary's.
 */
export function coSigner(primary: BotSigner, others: readonly BotSigner[]): BotSigner {
  if (others.length === 0) return primary;
  const all = [primary, ...others];
  return {
    fingerprint: primary.fingerprint,
    publicArmored: primary.publicArmored,
    async signDetached(data: Uint8Array) {
      const made = await Promise.all(all.map((s) => s.signDetached(data)));
      const packets = new openpgp.PacketList<openpgp.SignaturePacket>();
      for (const m of made) packets.push(...(await openpgp.readSignature({ armoredSignature: m.armored })).packets);
      return { armored: new openpgp.Signature(packets).armor(), hash: made[0].hash };
    },
    async signCleartext(text: string) {
      const made = await Promise.all(all.map((s) => s.signCleartext(text)));
      // openpgp.js's .d.ts leaves out CleartextMessage's `signature` field
      // and its (text, signature) constructor, both public at run time.
      type Cleartext = { signature: openpgp.Signature; getText(): string };
      type CleartextCtor = new (text: string, signature: openpgp.Signature) => openpgp.CleartextMessage;
      const read = (await Promise.all(made.map((m) => openpgp.readCleartextMessage({ cleartextMessage: m })))) as unknown as Cleartext[];
      const packets = new openpgp.PacketList<openpgp.SignaturePacket>();
      for (const r of read) packets.push(...r.signature.packets);
      return new (openpgp.CleartextMessage as unknown as CleartextCtor)(read[0].getText(), new openpgp.Signature(packets)).armor();
    },
  };
}
