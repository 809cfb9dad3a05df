/**
 * The trust root as published in the collection:
 *
 *   root/<version>.txt             the canonical root document (src/root/document.ts)
 *   root/<version>.sig/            the maintainers' approvals of its digest
 *     <fingerprint>.asc              cleartext-signed (inline) approval
 *     <fingerprint>.txt, .txt.sig    the signed bytes of a PGP/MIME approval, and its signature
 *     <fingerprint>.key              the approver's armoured public key, so the chain can still be
 *                                    walked after the key leaves pgp/all (a key counts only for
 *                                    the fingerprint a root names: its fingerprint is its identity)
 *   root/current                   the current version number and digest: `<version> <sha256>`
 *
 * Reading only, and only what a checkout holds: anyone with a copy of the
 * collection (git clone, download) can walk the chain (src/root/chain.ts)
 * with the collection's keys and nothing from the bot.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ApprovalFile } from './approval.js';
import type { RootVersionFiles } from './chain.js';
import { RootError } from './errors.js';
import { ROOT_BOUNDS } from '../limits.js';

export const ROOT_DIR = 'root';
export const ROOT_CURRENT = 'root/current';

export interface PublishedRoots {
  versions: RootVersionFiles[];
  /** The armoured keys kept beside the approvals (<fingerprint>.key). */
  keys: string[];
  /** What root/current says, or null when there is none. */
  current: { version: number; digest: string } | null;
}

/** `<version> <sha256>` and a line feed: what root/current holds. */
export function formatCurrent(version: number, digest: string): string {
  return `${version} ${digest}\n`;
}

export function parseCurrent(text: string): { version: number; digest: string } {
  const m = /^([1-9][0-9]{0,8}) ([0-9a-f]{64})\n$/.exec(text);
  if (!m) throw new RootError('ROOT_MALFORMED', 'root/current must hold "<version> <sha256>" and a line feed');
  return { version: Number(m[1]), digest: m[2] };
}

/** An approval as the bot keeps it: the approver's fingerprint, the signed form, and their public key. */
export interface KeptApproval {
  fingerprint: string;
  /** Inline approval: the cleartext-signed text. */
  cleartext?: string;
  /** PGP/MIME approval: the signed part's bytes and the detached signature. */
  data?: Buffer;
  signature?: Buffer;
  /** The approver's armoured public key. */
  key: string;
}

/**
 * The files that publish an approved root version (relative path -> bytes),
 * for the collection commit that makes it current. The file names come from
 * fingerprints only (hex), never from mail.
 */
export function rootVersionFiles(version: number, text: string, digest: string, approvals: readonly KeptApproval[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  files.set(`${ROOT_DIR}/${version}.txt`, Buffer.from(text, 'latin1'));
  for (const a of approvals) {
    if (!/^[0-9A-F]{40}(?:[0-9A-F]{24})?$/.test(a.fingerprint)) throw new RootError('ROOT_MALFORMED', `not a fingerprint: ${a.fingerprint}`);
    const base = `${ROOT_DIR}/${version}.sig/${a.fingerprint}`;
    if (a.cleartext !== undefined) files.set(`${base}.asc`, Buffer.from(a.cleartext, 'utf8'));
    else if (a.data && a.signature) {
      files.set(`${base}.txt`, a.data);
      files.set(`${base}.txt.sig`, a.signature);
    } else throw new RootError('ROOT_MALFORMED', `the approval by ${a.fingerprint} has neither form`);
    files.set(`${base}.key`, Buffer.from(a.key, 'utf8'));
  }
  files.set(ROOT_CURRENT, Buffer.from(formatCurrent(version, digest), 'latin1'));
  return files;
}

async function readBounded(file: string): Promise<Buffer> {
  const st = await fs.stat(file);
  if (st.size > ROOT_BOUNDS.fileBytes) throw new RootError('ROOT_MALFORMED', `${file} is ${st.size} bytes; a root file is at most ${ROOT_BOUNDS.fileBytes}`);
  return fs.readFile(file);
}

async function readApprovals(dir: string, keys: string[]): Promise<ApprovalFile[]> {
  if (!existsSync(dir)) return [];
  const names = (await fs.readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  if (names.length > ROOT_BOUNDS.approvalFiles) throw new RootError('ROOT_MALFORMED', `${dir} holds ${names.length} files; at most ${ROOT_BOUNDS.approvalFiles}`);
  const out: ApprovalFile[] = [];
  for (const n of names) {
    if (n.endsWith('.key')) {
      keys.push((await readBounded(path.join(dir, n))).toString('utf8'));
    } else if (n.endsWith('.asc')) {
      out.push({ name: n, cleartext: (await readBounded(path.join(dir, n))).toString('utf8') });
    } else if (n.endsWith('.txt.sig')) {
      const data = path.join(dir, n.slice(0, -4));
      if (!existsSync(data)) continue; // a signature without its bytes approves nothing
      out.push({ name: n.slice(0, -4), data: await readBounded(data), signature: await readBounded(path.join(dir, n)) });
    }
  }
  return out;
}

/** Every root version published in a collection directory, with its approvals, and root/current. */
export async function readPublishedRoots(collectionDir: string): Promise<PublishedRoots> {
  const dir = path.join(collectionDir, ROOT_DIR);
  if (!existsSync(dir)) return { versions: [], keys: [], current: null };
  const versions: RootVersionFiles[] = [];
  const keys: string[] = [];
  for (const n of (await fs.readdir(dir)).sort()) {
    const m = /^([1-9][0-9]{0,8})\.txt$/.exec(n);
    if (!m) continue;
    const version = Number(m[1]);
    versions.push({
      version,
      text: (await readBounded(path.join(dir, n))).toString('latin1'),
      approvals: await readApprovals(path.join(dir, `${version}.sig`), keys),
    });
  }
  versions.sort((a, b) => a.version - b.version);
  const currentFile = path.join(collectionDir, ...ROOT_CURRENT.split('/'));
  const current = existsSync(currentFile) ? parseCurrent((await readBounded(currentFile)).toString('latin1')) : null;
  return { versions, keys, current };
}
