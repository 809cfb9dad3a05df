/**
 * The benchmark's mail: signed requests made with real gpg (cached on disk,
 * keyed by their count, since 10,000 gpg runs take minutes) and ordinary
 * unsigned list traffic (made on the fly: it needs no crypto).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeGpgHome } from '../test/harness/gpg.js';

export const BOT = 'ztrust-bot@example.org';
export const DOMAIN = 'bench.example';
/** Bump when the corpus format changes, so an old cache is not reused. */
const CORPUS_VERSION = 1;
/** Signers per algorithm: enough distinct keys that key lookup is not one hot entry. */
const SIGNERS_PER_ALGO = 4;

export interface SignedCorpus {
  dir: string;
  /** Armored public keys of the signers (they go into the bot's collection). */
  publicKeys: { fpr: string; algo: 'ed25519' | 'rsa3072'; address: string; armored: string }[];
  /** Message files, in order; message i has Message-ID <bench-i@bench.example>. */
  files: string[];
  ids: string[];
  /** Kind of each message: PGP/MIME or inline cleartext. */
  kinds: ('pgpmime' | 'inline')[];
}

export function corpusRoot(): string {
  return process.env.ZTRUST_BENCH_CACHE ?? path.join(os.tmpdir(), 'ztrust-bench-cache');
}

const messageId = (i: number) => `<bench-${i}@${DOMAIN}>`;

/** Filler a person's mail carries below the command: quoted text and a signature, 1 to 5 KB in all. */
function filler(seed: number, bytes: number): string {
  const words = ['the', 'key', 'list', 'signed', 'archive', 'mainframe', 'release', 'checksum', 'please', 'thanks', 'upload',
    'volunteer', 'tape', 'dataset', 'job', 'output', 'build', 'fix', 'patch', 'weekend'];
  let s = `\nHi,\n\nplease check the file below; it is the one from last week's build.\n\nOn Mon, someone wrote:\n`;
  let k = seed;
  while (s.length < bytes) {
    let line = '> ';
    while (line.length < 66) {
      k = (k * 1103515245 + 12345) >>> 0;
      line += words[k % words.length] + ' ';
    }
    s += line.trimEnd() + '\n';
  }
  return s + '\n-- \nA. Volunteer\n';
}

function requestBody(i: number): string {
  const cmd = i % 3 === 0 ? 'HELP' : `VERIFY ${createHash('sha256').update(`bench ${i}`).digest('hex')}`;
  // 1 to 5 KB: spread evenly by index.
  const size = 1024 + ((i * 7919) % 4096);
  return `${cmd}\nTo: ${BOT}\n${filler(i, size - 100)}`;
}

async function pool(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    for (let i = next++; i < n; i = next++) await job(i);
  }));
}

/**
 * N signed requests (half PGP/MIME, half inline; signers Ed25519 and
 * RSA-3072 alternating), made by gpg in parallel child processes, cached in
 * <cache>/signed-v<version>-<N>. Returns the cached corpus when it is whole.
 */
export async function signedCorpus(n: number, log: (s: string) => void): Promise<SignedCorpus> {
  const dir = path.join(corpusRoot(), `signed-v${CORPUS_VERSION}-${n}`);
  const manifest = path.join(dir, 'manifest.json');
  if (existsSync(manifest)) {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as Omit<SignedCorpus, 'dir' | 'files'>;
    const files = Array.from({ length: n }, (_, i) => path.join(dir, 'msgs', `${i}.eml`));
    if (readdirSync(path.join(dir, 'msgs')).length === n) return { ...m, dir, files };
  }
  rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.join(tmp, 'msgs'), { recursive: true });
  const t0 = Date.now();
  const gpg = await makeGpgHome();
  try {
    const publicKeys: SignedCorpus['publicKeys'] = [];
    for (const algo of ['ed25519', 'rsa3072'] as const) {
      for (let s = 0; s < SIGNERS_PER_ALGO; s++) {
        const address = `${algo === 'ed25519' ? 'ed' : 'rsa'}${s}@${DOMAIN}`;
        const fpr = await gpg.genKey(`Bench ${algo} ${s} <${address}>`, { algo });
        publicKeys.push({ fpr, algo, address, armored: await gpg.exportPublic(fpr) });
      }
    }
    const ids: string[] = [];
    const kinds: SignedCorpus['kinds'] = [];
    let done = 0;
    // Two gpg processes per core keep the agent and the CPUs busy.
    await pool(n, Math.max(2, os.cpus().length * 2), async (i) => {
      // Signer alternates Ed25519/RSA, kind alternates every two: all four combinations occur equally.
      const signer = publicKeys[(i % 2) * SIGNERS_PER_ALGO + (Math.floor(i / 2) % SIGNERS_PER_ALGO)];
      const kind = Math.floor(i / 2) % 2 === 0 ? 'pgpmime' : 'inline';
      const headers = {
        from: `Bench Signer <${signer.address}>`, to: BOT, subject: `request ${i}`, messageId: messageId(i),
        extra: { Received: `from mail.${DOMAIN} (mail.${DOMAIN} [192.0.2.1]) by mx.example.org; ${new Date().toUTCString()}` },
      };
      const body = requestBody(i);
      const raw = kind === 'pgpmime'
        ? await gpg.pgpMimeMessage(signer.fpr, headers, body, { digest: 'SHA256' })
        : await gpg.inlineMessage(signer.fpr, headers, body, { digest: 'SHA256' });
      writeFileSync(path.join(tmp, 'msgs', `${i}.eml`), raw);
      ids[i] = messageId(i);
      kinds[i] = kind;
      if (++done % 1000 === 0) log(`  corpus: ${done}/${n} signed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    });
    writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify({ publicKeys, ids, kinds }));
    renameSync(tmp, dir);
  } finally {
    await gpg.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`  corpus: ${n} signed messages made with gpg in ${((Date.now() - t0) / 1000).toFixed(1)} s, cached in ${dir}`);
  return signedCorpus(n, log);
}

/**
 * One ordinary list post, unsigned, as a LISTSERV or Mailman list delivers
 * it: a Received chain, List-* headers, 2 to 40 KB of text.
 */
export function listMessage(i: number): Buffer {
  const size = 2048 + ((i * 104729) % (38 * 1024));
  const date = new Date(Date.UTC(2020, 0, 1) + i * 60_000).toUTCString().replace('GMT', '+0000');
  const hops = 2 + (i % 4);
  const received: string[] = [];
  for (let h = 0; h < hops; h++) {
    received.push(`Received: from relay${h}.lists.example.net (relay${h}.lists.example.net [198.51.100.${h + 1}])\r\n`
      + `\tby mx${h + 1}.example.org (Postfix) with ESMTPS id ${randomBytes(5).toString('hex').toUpperCase()}\r\n`
      + `\tfor <${BOT}>; ${date}`);
  }
  const head = [
    ...received,
    `Return-Path: <owner-linux-390@lists.example.net>`,
    `From: Poster ${i % 997} <poster${i % 997}@example.com>`,
    `To: LINUX-390@lists.example.net`,
    `Subject: Re: zVM guest ${i % 311} and the new kernel`,
    `Date: ${date}`,
    `Message-ID: <list-${i}@example.com>`,
    `In-Reply-To: <list-${Math.max(0, i - 1)}@example.com>`,
    `List-Id: Linux on 390 Port <LINUX-390.lists.example.net>`,
    `List-Post: <mailto:LINUX-390@lists.example.net>`,
    `List-Unsubscribe: <mailto:LISTSERV@lists.example.net?body=SIGNOFF%20LINUX-390>`,
    `Precedence: list`,
    `Sender: Linux on 390 Port <LINUX-390@lists.example.net>`,
    `Reply-To: Linux on 390 Port <LINUX-390@lists.example.net>`,
    `MIME-Version: 1.0`,
    `Content-Type: text/plain; charset="us-ascii"`,
    `Content-Transfer-Encoding: 7bit`,
  ].join('\r\n');
  let body = `I saw the same thing on our LPAR last week.\r\n\r\n`;
  let k = i;
  while (body.length < size) {
    k = (k * 1103515245 + 12345) >>> 0;
    body += (k % 5 === 0 ? '> ' : '') + `the guest ${k % 1000} came up after IPL with ${k % 64} CPUs and the dasd at 0.0.${(k % 0xffff).toString(16)}\r\n`;
  }
  body += `\r\n----------------------------------------------------------------------\r\nFor LINUX-390 subscribe / signoff / archive access instructions,\r\nsend email to LISTSERV@lists.example.net with the message: INFO LINUX-390\r\n`;
  return Buffer.from(`${head}\r\n\r\n${body}`, 'latin1');
}
