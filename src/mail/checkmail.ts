/**
 * `check-mail`: verify raw messages on disk. A path is a message file, a
 * Maildir folder (its cur/ and new/; tmp/ holds half-delivered mail and is
 * skipped), or a plain directory of .eml files. Results stream out in a
 * stable order (each directory's entries sorted by name).
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_LIMITS, messageReadBytes } from '../limits.js';
import { describeError } from '../errors.js';
import type { Keyring } from '../pgp/keyring.js';
import { verifyMail, type SigKind, type Verdict, type VerifyOptions } from './verify-mail.js';

export interface CheckMailResult {
  file: string;
  kind: SigKind;
  verdict: Verdict;
  signer: string | null;
  detail: string;
  keyId: string | null;
  hint?: string | null;
  signedPartPath?: string;
  /** A good signature that may carry the sender's command (see MailVerification.authorises). */
  authorises: boolean;
  /** The policy's code when it refused the signature's algorithms or version (MailVerification.policyCode). */
  policyCode: string | null;
}

export async function* checkMailPaths(paths: string[], keyring: Keyring, opts: VerifyOptions = {}): AsyncGenerator<CheckMailResult> {
  for (const p of paths) {
    let files: string[];
    try {
      files = await messageFiles(p);
    } catch (err) {
      yield unreadable(p, err);
      continue;
    }
    for (const file of files) yield await checkFile(file, keyring, opts);
  }
}

/** The message files a path stands for. */
export async function messageFiles(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const subdirs = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
  if (subdirs.has('cur') || subdirs.has('new')) {
    const out: string[] = [];
    for (const sub of ['cur', 'new']) {
      if (!subdirs.has(sub)) continue;
      const inner = await readdir(join(path, sub), { withFileTypes: true });
      // Maildir file names carry no extension; dot files are not messages.
      out.push(...inner.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => join(path, sub, e.name)).sort());
    }
    return out;
  }
  return entries.filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.eml')).map((e) => join(path, e.name)).sort();
}

async function checkFile(file: string, keyring: Keyring, opts: VerifyOptions): Promise<CheckMailResult> {
  const cap = messageReadBytes(opts.limits ?? DEFAULT_LIMITS);
  let raw: Buffer;
  try {
    // Read at most one byte over the limit: enough for verifyMail to report
    // the size, without pulling a huge file into memory.
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(cap);
      let total = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, total, buf.length - total, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total === buf.length) break;
      }
      raw = buf.subarray(0, total);
    } finally {
      await fh.close();
    }
  } catch (err) {
    return unreadable(file, err);
  }
  const r = await verifyMail(raw, keyring, opts);
  return {
    file, kind: r.kind, verdict: r.verdict, signer: r.signer, detail: r.detail, keyId: r.signingKeyId,
    hint: r.hint, signedPartPath: r.signedPartPath, authorises: r.authorises, policyCode: r.policyCode,
  };
}

function unreadable(file: string, err: unknown): CheckMailResult {
  return {
    file, kind: 'unsigned', verdict: 'malformed', signer: null, keyId: null,
    detail: `cannot read: ${describeError(err)}`, hint: null, signedPartPath: '', authorises: false, policyCode: null,
  };
}
