/**
 * One maintainer's approval of a root version, as kept beside it in
 * `root/<version>.sig/` so that anyone can check it with GnuPG alone:
 *
 *   <fingerprint>.asc              an inline (cleartext) signed text:
 *                                  `gpg --verify <fingerprint>.asc`
 *   <fingerprint>.txt + .txt.sig   the exact signed bytes of a PGP/MIME
 *                                  approval and its detached signature:
 *                                  `gpg --verify <fingerprint>.txt.sig <fingerprint>.txt`
 *
 * The signed text's first non-blank line must be `APPROVE ROOT-<version>`
 * and the root's SHA-256, on that line or the next: the same words a
 * maintainer mails, so an approval says which bytes were approved and
 * cannot be moved to another version or another draft.
 *
 * Signature checks are kept apart from the decision: this module says
 * whose valid signature an approval carries and what it approves; the chain
 * walk (src/root/chain.ts) decides whether enough of the right people approved.
 */
import * as openpgp from 'openpgp';
import { simpleParser } from '../mail/parser.js';
import { fingerprintOf } from '../pgp/inspect.js';
import type { Keyring } from '../pgp/keyring.js';
import { judgeSignatureAlgorithms, messageVerifyConfig, type CryptoPolicy } from '../policy/index.js';

export interface ApprovalFile {
  /** File name in root/<version>.sig/, for messages. */
  name: string;
  /** Cleartext-signed form (.asc). */
  cleartext?: string;
  /** Detached form: the signed bytes (.txt) and the signature (.txt.sig, armoured or binary). */
  data?: Buffer;
  signature?: Buffer;
}

export type ApprovalCheck =
  | { ok: true; signer: string; version: number; digest: string; signedAt: Date }
  | { ok: false; reason: string };

/** `APPROVE ROOT-<n> <digest>` as the first non-blank line (the digest may stand on the next line). */
export function readRootApproval(text: string): { version: number; digest: string } | null {
  const lines = text.replace(/\r\n?/g, '\n').split('\n').map((l) => l.trim());
  const first = lines.findIndex((l) => l !== '');
  if (first < 0) return null;
  const m = /^APPROVE\s+ROOT-([1-9][0-9]{0,8})(?:\s+(.*))?$/i.exec(lines[first]);
  if (!m) return null;
  const digestText = (m[2] ?? lines[first + 1] ?? '').replace(/\s+/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(digestText)) return null;
  return { version: Number(m[1]), digest: digestText };
}

/** The text a PGP/MIME signed part carries (its bytes are a MIME entity: headers, transfer encoding). */
async function partText(data: Buffer): Promise<string> {
  const parsed = await simpleParser(data, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  return parsed.text ?? '';
}

/**
 * Whose valid signature the approval carries, and what it approves. `keys`
 * finds the signing key by fingerprint or key id (the collection's keys).
 * The signature is checked as of its own creation time (the key was valid
 * when the maintainer approved), under the crypto policy's algorithms.
 */
export async function checkApproval(file: ApprovalFile, keys: Keyring, policy: CryptoPolicy): Promise<ApprovalCheck> {
  const config = messageVerifyConfig(policy);
  let text: string;
  let message: openpgp.Message<Uint8Array> | openpgp.CleartextMessage;
  let signature: openpgp.Signature | undefined;
  try {
    if (file.cleartext !== undefined) {
      const m = await openpgp.readCleartextMessage({ cleartextMessage: file.cleartext, config });
      message = m;
      text = m.getText();
      // The signature block of the cleartext text, read on its own to judge its packet before verifying.
      const block = /-----BEGIN PGP SIGNATURE-----[\s\S]*?-----END PGP SIGNATURE-----/.exec(file.cleartext)?.[0];
      if (block) signature = await openpgp.readSignature({ armoredSignature: block, config });
    } else if (file.data && file.signature) {
      const sigBytes = file.signature;
      signature = /^-----BEGIN PGP SIGNATURE-----/m.test(sigBytes.toString('latin1'))
        ? await openpgp.readSignature({ armoredSignature: sigBytes.toString('utf8'), config })
        : await openpgp.readSignature({ binarySignature: sigBytes, config });
      message = await openpgp.createMessage({ binary: file.data });
      text = await partText(file.data);
    } else {
      return { ok: false, reason: `${file.name}: neither a cleartext-signed text nor signed bytes with a signature` };
    }
  } catch (err) {
    return { ok: false, reason: `${file.name}: not a readable OpenPGP signature (${(err as Error).message})` };
  }
  const packets = signature?.packets ?? [];
  if (packets.length !== 1) return { ok: false, reason: `${file.name}: carries ${packets.length} signatures, an approval carries one` };
  const packet = packets[0];
  const judged = judgeSignatureAlgorithms(policy, { version: packet.version, hashId: packet.hashAlgorithm ?? -1, publicKeyId: packet.publicKeyAlgorithm ?? -1 });
  if (!judged.ok) return { ok: false, reason: `${file.name}: ${judged.reason}` };
  const issuer = packet.issuerFingerprint ? Buffer.from(packet.issuerFingerprint).toString('hex').toUpperCase() : packet.issuerKeyID.toHex().toUpperCase();
  const key = issuer.length > 16 ? keys.findByFingerprint(issuer) : keys.findByKeyId(issuer);
  if (!key) return { ok: false, reason: `${file.name}: signed by ${issuer}, a key the collection does not hold` };
  const signedAt = packet.created ?? new Date(0);
  try {
    const r = file.cleartext !== undefined
      ? await openpgp.verify({ message: message, verificationKeys: [key], date: signedAt, config, expectSigned: false })
      : await openpgp.verify({ message: message as openpgp.Message<Uint8Array>, signature: signature!, verificationKeys: [key], date: signedAt, config, expectSigned: false });
    if (r.signatures.length !== 1) throw new Error(`${r.signatures.length} signatures`);
    await r.signatures[0].verified;
  } catch (err) {
    return { ok: false, reason: `${file.name}: the signature does not verify (${(err as Error).message})` };
  }
  const approved = readRootApproval(text);
  if (!approved) return { ok: false, reason: `${file.name}: the signed text does not start with "APPROVE ROOT-<version> <digest>"` };
  return { ok: true, signer: fingerprintOf(key), ...approved, signedAt };
}
