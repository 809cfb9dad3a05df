/**
 * <data>/digests/: every digest sent, numbered (DESIGN.md, "The data
 * directory"). `<NNNNNN>.txt` holds the digest text cleartext-signed by the
 * bot, exactly as it is also committed to the collection's `digests/`
 * folder. The files are the authority on numbering and on the previous
 * digest's checkpoint: a digest is written here (atomically) before any mail
 * about it is queued, so a crash can repeat the distribution of a digest but
 * never give two different digests one number.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { writeFileAtomic } from '../fsync/atomic.js';
import { describeError } from '../errors.js';
import { DigestError } from './errors.js';
import { parseDigest, type ParsedDigest } from './format.js';

export interface StoredDigest {
  number: number;
  file: string;
  /** The cleartext-signed file as stored. */
  signed: string;
  /** The digest text inside it. */
  parsed: ParsedDigest;
}

export function digestFileName(n: number): string {
  return `${String(n).padStart(6, '0')}.txt`;
}

/** The text inside a cleartext-signed digest (no signature check: verify-digest does that). */
export async function signedDigestText(signed: string): Promise<string> {
  const msg = await openpgp.readCleartextMessage({ cleartextMessage: signed });
  return msg.getText();
}

export class DigestArchive {
  constructor(readonly dir: string) {}

  async numbers(): Promise<number[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new DigestError('DIGEST_ARCHIVE', `cannot list ${this.dir}: ${describeError(err)}`, { cause: err });
    }
    return names.filter((n) => /^\d{6,15}\.txt$/.test(n)).map((n) => Number(n.slice(0, -4))).filter((n) => n > 0).sort((a, b) => a - b);
  }

  async read(n: number): Promise<StoredDigest> {
    const file = path.join(this.dir, digestFileName(n));
    try {
      const signed = await fs.readFile(file, 'utf8');
      const parsed = parseDigest(await signedDigestText(signed));
      if (parsed.number !== n) throw new Error(`it says it is digest ${parsed.number}`);
      return { number: n, file, signed, parsed };
    } catch (err) {
      throw new DigestError('DIGEST_ARCHIVE', `stored digest ${file} is not readable: ${describeError(err)}`, { cause: err });
    }
  }

  async latest(): Promise<StoredDigest | null> {
    const ns = await this.numbers();
    return ns.length ? this.read(ns[ns.length - 1]) : null;
  }

  /**
   * Copy back digests that the collection's `digests/` folder holds and this
   * archive lacks (a lost or restored data directory), so numbering and the
   * hash chain continue from the published digests instead of restarting at
   * 1. Only files that parse as the digest their name says are taken.
   * Returns the numbers restored.
   */
  async restoreFrom(publishedDir: string): Promise<number[]> {
    const published = await new DigestArchive(publishedDir).numbers();
    const have = new Set(await this.numbers());
    const restored: number[] = [];
    for (const n of published) {
      if (have.has(n)) continue;
      const d = await new DigestArchive(publishedDir).read(n);
      await this.write(n, d.signed);
      restored.push(n);
    }
    return restored;
  }

  async write(n: number, signed: string): Promise<string> {
    const file = path.join(this.dir, digestFileName(n));
    await writeFileAtomic(file, signed);
    return file;
  }
}
