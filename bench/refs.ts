/**
 * The references the pipeline is measured against in the same run:
 *  (a) a GnuPG shell robot (bench/robot.sh): gpg --verify + gpg --clearsign per message;
 *  (b) GnuPG's key-submission server, gpg-wks-server --receive, one process per submission mail;
 *  (c) the raw-crypto bound: node:crypto Ed25519 verify + sign per second on one core.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeGpgHome } from '../test/harness/gpg.js';
import { findBinary } from '../test/harness/procs.js';
import type { SignedCorpus } from './corpus.js';

const CRLF = '\r\n';

function headerParam(head: string, name: string): string | null {
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ');
  return new RegExp(`[;\\s]${name}="?([^";\\r\\n]+)"?`, 'i').exec(unfolded)?.[1] ?? null;
}

function qpDecode(s: string): Buffer {
  return Buffer.from(s.replace(/[\t ]+(?=\r\n|$)/g, '').replace(/=\r\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
}

/** Split one corpus message into what gpg --verify needs: (signature, signed part) or the cleartext. */
function splitForGpg(raw: Buffer): { sig: Buffer; data: Buffer } | { text: Buffer } {
  const t = raw.toString('latin1').replace(/\r?\n/g, CRLF);
  const end = t.indexOf(CRLF + CRLF);
  const head = t.slice(0, end);
  const body = t.slice(end + 4);
  const b = headerParam(head, 'boundary');
  if (/multipart\/signed/i.test(head) && b) {
    const parts = body.split(`${CRLF}--${b}`);
    // parts[0] is the preamble up to the first delimiter line.
    const first = parts[1].slice(parts[1].indexOf(CRLF) + 2);
    const sigPart = parts[2].slice(parts[2].indexOf(CRLF) + 2);
    const sig = sigPart.slice(sigPart.indexOf(CRLF + CRLF) + 4);
    return { sig: Buffer.from(sig, 'latin1'), data: Buffer.from(first, 'latin1') };
  }
  return { text: /quoted-printable/i.test(head) ? qpDecode(body) : Buffer.from(body, 'latin1') };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

export interface RefResult { perSecond: number; n: number; failures: number; ms: number }

/**
 * The shell robot on the first `sample` messages of the corpus, in `lanes`
 * parallel bash loops (1 = sequential, as procmail runs one robot per mail).
 */
export async function shellRobot(corpus: SignedCorpus, sample: number, lanes: number): Promise<RefResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ztrust-bench-robot-'));
  const gpg = await makeGpgHome();
  try {
    for (const k of corpus.publicKeys) await gpg.importKeys(k.armored);
    const robotKey = await gpg.genKey('Shell Robot <robot@example.org>', { algo: 'ed25519', encryptSubkey: false });
    // Start gpg-agent and unlock nothing: the first clearsign would otherwise pay the agent start.
    await gpg.clearsign(robotKey, 'warm-up\n');
    const lists: string[][] = Array.from({ length: lanes }, () => []);
    for (let i = 0; i < sample; i++) {
      const s = splitForGpg(readFileSync(corpus.files[i]));
      const base = path.join(work, String(i));
      if ('sig' in s) {
        writeFileSync(`${base}.sig`, s.sig);
        writeFileSync(`${base}.data`, s.data);
        lists[i % lanes].push(`pgpmime ${base}.sig ${base}.data`);
      } else {
        writeFileSync(`${base}.txt`, s.text);
        lists[i % lanes].push(`inline ${base}.txt`);
      }
    }
    const script = path.join(import.meta.dirname, 'robot.sh');
    const env = { ...process.env, GNUPGHOME: gpg.home, ROBOT_KEY: robotKey, LC_ALL: 'C' };
    const t0 = process.hrtime.bigint();
    const results = await Promise.all(lists.map(async (l, lane) => {
      const list = path.join(work, `list-${lane}`);
      const out = path.join(work, `out-${lane}`);
      writeFileSync(list, l.join('\n') + '\n');
      mkdirSync(out);
      return run('/bin/bash', [script, list, out], env);
    }));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    let n = 0;
    let failures = 0;
    for (const r of results) {
      const [a, b] = r.out.trim().split(' ').map(Number);
      n += a || 0;
      failures += Number.isFinite(b) ? b : 1;
    }
    if (n !== sample) throw new Error(`shell robot handled ${n} of ${sample}: ${results.map((r) => r.err).join('\n')}`);
    return { perSecond: sample / (ms / 1000), n: sample, failures, ms };
  } finally {
    await gpg.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * gpg-wks-server --receive, one process per submission, on key submissions
 * of the corpus's signer keys (cycled), sequentially as procmail would run
 * it. Submissions are sent unencrypted (application/pgp-keys, which the
 * server accepts): gpg-wks-client encrypts them to the submission key, so
 * the real server does one decryption more per mail than measured here.
 */
export async function wksServer(corpus: SignedCorpus, sample: number): Promise<RefResult> {
  const wksBin = findBinary('gpg-wks-server', 'gpg-wks-server');
  const work = mkdtempSync(path.join(os.tmpdir(), 'ztrust-bench-wks-'));
  const gpg = await makeGpgHome();
  try {
    const domain = corpus.publicKeys[0].address.split('@')[1];
    const submission = `key-submission@${domain}`;
    await gpg.genKey(submission, { algo: 'ed25519' });
    const top = path.join(work, 'wks');
    mkdirSync(path.join(top, domain), { recursive: true });
    writeFileSync(path.join(top, domain, 'submission-address'), `${submission}\n`);
    chmodSync(work, 0o750);
    chmodSync(top, 0o750);
    chmodSync(path.join(top, domain), 0o750);
    const env = { ...process.env, GNUPGHOME: gpg.home, LC_ALL: 'C' };
    const setup = await run(wksBin, ['-C', top, '--list-domains'], env);
    if (setup.code !== 0) throw new Error(`gpg-wks-server --list-domains: ${setup.err}`);
    const subs = path.join(work, 'subs');
    mkdirSync(subs);
    const list: string[] = [];
    for (let i = 0; i < sample; i++) {
      const k = corpus.publicKeys[i % corpus.publicKeys.length];
      const f = path.join(subs, `${i}.eml`);
      writeFileSync(f, `From: ${k.address}\nTo: ${submission}\nSubject: Key publishing request\nWks-Draft-Version: 3\n`
        + `Message-ID: <wks-${i}@${domain}>\nMIME-Version: 1.0\nContent-Type: application/pgp-keys\n\n${k.armored}`);
      list.push(f);
    }
    writeFileSync(path.join(work, 'list'), list.join('\n') + '\n');
    const out = path.join(work, 'out');
    mkdirSync(out);
    const script = `n=0; bad=0; while read -r f; do n=$((n+1)); "$WKS" -C "$TOP" --from "$FROM" --receive -o "$OUT/$n.eml" < "$f" 2>/dev/null || bad=$((bad+1)); done < "$LIST"; echo "$n $bad"`;
    const t0 = process.hrtime.bigint();
    const r = await run('/bin/bash', ['-c', script], { ...env, WKS: wksBin, TOP: top, FROM: submission, OUT: out, LIST: path.join(work, 'list') });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const [n, bad] = r.out.trim().split(' ').map(Number);
    if (n !== sample) throw new Error(`gpg-wks-server handled ${n} of ${sample}: ${r.err}`);
    // Every submission must have produced a confirmation request, else the reference measured a refusal.
    const confirm = readFileSync(path.join(out, '1.eml'), 'latin1');
    if (!/Wks-Phase: confirm/i.test(confirm)) throw new Error(`gpg-wks-server made no confirmation request:\n${confirm.slice(0, 500)}`);
    return { perSecond: sample / (ms / 1000), n: sample, failures: bad, ms };
  } finally {
    await gpg.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

/** node:crypto Ed25519 verify + sign on one core, per second (one verify and one sign = one message). */
export function rawCrypto(seconds = 1): { verifyPerSec: number; signPerSec: number; pairPerSec: number } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const msg = Buffer.alloc(3000, 'a');
  const sig = sign(null, msg, privateKey);
  const time = (fn: () => void): number => {
    let n = 0;
    const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
    const t0 = process.hrtime.bigint();
    while (process.hrtime.bigint() < end) { for (let i = 0; i < 50; i++) fn(); n += 50; }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  let ok = true;
  const verifyPerSec = time(() => { ok = verify(null, msg, publicKey, sig) && ok; });
  if (!ok) throw new Error('node:crypto rejected its own signature');
  const signPerSec = time(() => { sign(null, msg, privateKey); });
  return { verifyPerSec, signPerSec, pairPerSec: 1 / (1 / verifyPerSec + 1 / signPerSec) };
}
