/**
 * Checking a digest offline (`ztrust-bot verify-digest`), with only the
 * bot's public key and the log's key:
 *
 *   1. the OpenPGP signature, by the bot's key, on any copy: the stored
 *      cleartext-signed .txt, an inline-signed mail (list copy, footers
 *      after the armour ignored), or a PGP/MIME mail (also inside a Mailman
 *      wrapper); the digest text is only ever read from what the signature
 *      covers;
 *   2. the digest's own consistency: its header (Tree-Size, Root-Hash,
 *      Log-Origin, Log-Entries, numbering) agrees with the proof block it
 *      carries;
 *   3. the consistency proof against the log key: both checkpoints signed by
 *      the log, and the new tree an append-only extension of the old one;
 *   4. with the previous digest: its number is one less, this digest's
 *      Previous-SHA256 is the SHA-256 of its text, and this digest's proof
 *      starts exactly at the checkpoint the previous one published (same
 *      size, same root), so the log cannot have been forked in between.
 */
import type { Keyring } from '../pgp/keyring.js';
import { verifyMail } from '../mail/verify-mail.js';
import { verifyConsistencyBlock } from '../tlog/index.js';
import { describeError } from '../errors.js';
import { parseDigest, type ParsedDigest } from './format.js';
import { asciiValue, digestSha256, ZERO_SHA256 } from './text.js';

export interface SignedDigestCheck {
  ok: boolean;
  reason: string;
  /** stored: a cleartext-signed file without mail headers. */
  kind: 'stored' | 'inline' | 'pgpmime' | 'unsigned';
  signer: string | null;
  signedAt: Date | null;
  digest: ParsedDigest | null;
}

export interface VerifyDigestResult {
  ok: boolean;
  /** Why it failed (empty when ok). */
  reason: string;
  digest: ParsedDigest | null;
  /** What was checked, one line each, for people. */
  checked: string[];
  /** What could not be checked (no --previous). */
  notes: string[];
}

const CLEARTEXT_START = /^\s*-----BEGIN PGP SIGNED MESSAGE-----/;

/** Verify the signature on one copy of a digest and read the digest text it covers. */
export async function readSignedDigest(bytes: Buffer, botKeys: Keyring): Promise<SignedDigestCheck> {
  const stored = CLEARTEXT_START.test(bytes.subarray(0, 200).toString('latin1'));
  // A stored .txt is a bare cleartext-signed text: give it a minimal header
  // section so the one mail verifier (with its footer handling) reads it.
  const raw = stored ? Buffer.concat([Buffer.from('Content-Type: text/plain; charset=us-ascii\r\n\r\n'), bytes]) : bytes;
  const v = await verifyMail(raw, botKeys);
  const kind = stored ? 'stored' : v.kind;
  const base = { kind, signer: v.verdict === 'good' ? v.signer : null, signedAt: v.signatureCreated, digest: null } as const;
  if (v.verdict !== 'good') {
    const what = v.verdict === 'unsigned' ? 'it is not signed' : v.verdict === 'nokey' ? `it is signed by key ${v.signingKeyId ?? '?'}, not by the bot's key` : `${v.verdict}: ${v.detail}`;
    return { ...base, ok: false, reason: `signature: ${what}` };
  }
  if (v.signedText === null) return { ...base, ok: false, reason: 'signature: the signed text could not be read' };
  try {
    return { ...base, ok: true, reason: '', digest: parseDigest(v.signedText) };
  } catch (err) {
    return { ...base, ok: false, reason: `the signed text is not a digest: ${describeError(err)}` };
  }
}

function fail(reason: string, digest: ParsedDigest | null, checked: string[]): VerifyDigestResult {
  return { ok: false, reason, digest, checked, notes: [] };
}

export async function verifyDigest(input: {
  file: Buffer; previous?: Buffer | null; botKeys: Keyring; logKey: string;
  /**
   * The keys the previous digest may be signed by (default botKeys): across
   * a rotation of the bot's key it was signed by the old key, which the
   * digest announcing the new one co-signs.
   */
  previousBotKeys?: Keyring;
}): Promise<VerifyDigestResult> {
  const checked: string[] = [];
  const cur = await readSignedDigest(input.file, input.botKeys);
  if (!cur.ok || !cur.digest) return fail(cur.reason, null, checked);
  const d = cur.digest;
  checked.push(`digest ${d.number}: signature good (${cur.kind}), by ${cur.signer}`);

  const cv = verifyConsistencyBlock(d.consistency, input.logKey);
  if (!cv.ok || !cv.newCheckpoint || cv.oldSize === null) return fail(`log consistency proof: ${cv.reason}`, d, checked);
  const oldSize = cv.oldSize;
  const size = cv.newCheckpoint.size;
  if (size !== d.treeSize) return fail(`Tree-Size says ${d.treeSize} but the signed checkpoint has ${size}`, d, checked);
  if (cv.newCheckpoint.root.toString('base64') !== d.rootHash) return fail('Root-Hash differs from the signed checkpoint\'s root', d, checked);
  if (asciiValue(cv.newCheckpoint.origin) !== d.origin) return fail(`Log-Origin ${d.origin} differs from the checkpoint's origin`, d, checked);
  const range = size > oldSize ? `${oldSize} to ${size - 1}` : 'none';
  if (d.logEntries !== range) return fail(`Log-Entries says ${d.logEntries} but the proof covers ${range}`, d, checked);
  if (d.changes + d.attestations !== size - oldSize) {
    return fail(`the digest counts ${d.changes + d.attestations} entries but the proof covers ${size - oldSize}`, d, checked);
  }
  checked.push(`log: consistency proof from tree size ${oldSize} to ${size} verifies with the log key (${cv.newCheckpoint.origin})`);

  if (d.number === 1) {
    if (d.previousNumber !== null || d.previousSha256 !== ZERO_SHA256 || oldSize !== 0) {
      return fail('digest 1 must name no previous digest (zeros) and start at tree size 0', d, checked);
    }
    checked.push('chain: digest 1 starts the chain');
  } else if (d.previousNumber !== d.number - 1) {
    return fail(`Previous-Digest is ${d.previousNumber ?? 'none'}, not ${d.number - 1}`, d, checked);
  }

  if (!input.previous) {
    const notes = d.number > 1 ? [`hash chain not checked: give the previous digest (${d.number - 1}) with --previous`] : [];
    return { ok: true, reason: '', digest: d, checked, notes };
  }
  const prev = await readSignedDigest(input.previous, input.previousBotKeys ?? input.botKeys);
  if (!prev.ok || !prev.digest) return fail(`previous digest: ${prev.reason}`, d, checked);
  const p = prev.digest;
  if (p.number !== d.number - 1) return fail(`the previous file is digest ${p.number}, not ${d.number - 1}`, d, checked);
  const want = digestSha256(p.text);
  if (d.previousSha256 !== want) {
    return fail(`hash chain broken: Previous-SHA256 is ${d.previousSha256}, but digest ${p.number}'s text hashes to ${want}`, d, checked);
  }
  const pv = verifyConsistencyBlock(p.consistency, input.logKey);
  if (!pv.ok || !pv.newCheckpoint) return fail(`previous digest's log proof: ${pv.reason}`, d, checked);
  const oldRoot = cv.oldCheckpoint?.root.toString('base64') ?? null;
  const prevRoot = pv.newCheckpoint.root.toString('base64');
  if (oldSize !== pv.newCheckpoint.size || (oldSize > 0 && oldRoot !== prevRoot)) {
    return fail(`log fork: digest ${d.number}'s proof starts at tree size ${oldSize}${oldRoot ? ` (root ${oldRoot})` : ''}, `
      + `but digest ${p.number} published tree size ${pv.newCheckpoint.size} (root ${prevRoot})`, d, checked);
  }
  checked.push(`chain: digest ${p.number} -> ${d.number}, Previous-SHA256 matches, proof starts at digest ${p.number}'s checkpoint`);
  return { ok: true, reason: '', digest: d, checked, notes: [] };
}
