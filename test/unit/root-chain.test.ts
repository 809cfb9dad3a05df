/**
 * The trust root's document and chain walk (src/root/), with maintainer
 * keys and approvals made by real GnuPG: inline (clearsigned) approvals and
 * PGP/MIME-style detached ones. Issue 12, items 1 and 5: a chain of three
 * versions, a version signed by too few, a forged version, a rollback, an
 * expired root, and the TUF rule that a new maintainer signs too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { Keyring } from '../../src/pgp/keyring.js';
import { DEFAULT_CRYPTO_POLICY } from '../../src/policy/index.js';
import { formatRoot, parseRoot, rootDigest, type RootDocument } from '../../src/root/document.js';
import { readRootApproval, type ApprovalFile } from '../../src/root/approval.js';
import { walkRootChain, type RootVersionFiles } from '../../src/root/chain.js';
import { RootError } from '../../src/root/errors.js';
import { generateLogKey } from '../../src/tlog/note.js';

const policy = DEFAULT_CRYPTO_POLICY;
const DAY = 86_400_000;
const T0 = new Date('2026-12-01T00:00:00Z');
const BOT = 'AB'.repeat(20);
const ORIGIN = 'ztrust.example.org/log';
const VKEY = generateLogKey(ORIGIN).vkey;

let gpg: GpgHome;
let A: string; let B: string; let C: string; let D: string; let X: string;
let keys: Keyring;

function root(version: number, maintainers: string[], threshold: number, previous: string | null, issued = new Date(T0.getTime() + version * DAY), days = 365): string {
  const d: RootDocument = {
    version, issued, expires: new Date(issued.getTime() + days * DAY), threshold, maintainers, botKey: BOT, logOrigin: ORIGIN, logKey: VKEY, previous,
  };
  return formatRoot(d);
}

async function inline(fpr: string, text: string, digest?: 'SHA1' | 'SHA256'): Promise<ApprovalFile> {
  return { name: `${fpr}.asc`, cleartext: await gpg.clearsign(fpr, text, digest ? { digest } : {}) };
}

/** A PGP/MIME approval as kept: the signed MIME part's exact bytes and gpg's detached signature over them. */
async function mime(fpr: string, text: string): Promise<ApprovalFile> {
  const data = Buffer.from(`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text.replace(/\n/g, '\r\n')}`);
  return { name: `${fpr}.txt`, data, signature: await gpg.detachSign(fpr, data, { armor: true }) };
}

const approve = (text: string, version: number): string => `APPROVE ROOT-${version} ${rootDigest(text)}\n\nFine by me.\n`;

async function rejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RootError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return true;
  });
}

before(async () => {
  gpg = await makeGpgHome();
  A = await gpg.genKey('Alice <alice@example.org>', { encryptSubkey: false });
  B = await gpg.genKey('Bob <bob@example.org>', { algo: 'rsa3072', encryptSubkey: false });
  C = await gpg.genKey('Carol <carol@example.org>', { encryptSubkey: false });
  D = await gpg.genKey('Dave <dave@example.org>', { encryptSubkey: false });
  X = await gpg.genKey('Mallory <mallory@example.org>', { encryptSubkey: false });
  const armoured = await Promise.all([A, B, C, D, X].map((f) => gpg.exportPublic(f)));
  keys = await Keyring.fromArmored(armoured.join('\n'));
});
after(async () => gpg?.cleanup());

describe('root document', () => {
  test('canonical text: fixed fields, sorted upper-case maintainers, 72 columns, one byte form', () => {
    const text = root(1, [C, A.toLowerCase(), B], 2, null);
    const lines = text.split('\n');
    assert.equal(lines[0], 'ztrust-root v1');
    assert.ok(lines.every((l) => l.length <= 72), text);
    assert.deepEqual(lines.filter((l) => l.startsWith('Maintainer: ')).map((l) => l.slice(12)), [A, B, C].sort());
    assert.match(text, /^Previous: none$/m);
    assert.match(text, /^Log-Key:\n {2}ztrust\.example\.org\/log\+[0-9a-f]{8}\+\S{38}\n {2}\S{6}\n/m);
    const doc = parseRoot(text);
    assert.equal(formatRoot(doc), text);
    assert.equal(doc.threshold, 2);
  });

  test('any other spelling is refused: case, order, spacing, unknown field, missing line feed', () => {
    const text = root(1, [A, B, C], 2, null);
    const variants = [
      text.replace(A, A.toLowerCase()),
      text.replace(/Maintainer: (\S+)\nMaintainer: (\S+)/, 'Maintainer: $2\nMaintainer: $1'),
      text.replace('Threshold: 2', 'Threshold:  2'),
      text.replace('Previous: none', 'Note: hi\nPrevious: none'),
      text.slice(0, -1),
      text.replace('\n', '\r\n'),
    ];
    for (const v of variants) assert.throws(() => parseRoot(v), (e: unknown) => e instanceof RootError && e.code === 'ROOT_MALFORMED', JSON.stringify(v.slice(0, 80)));
  });

  test('threshold above the maintainers, a later version without previous, a log key for another origin: refused', () => {
    assert.throws(() => root(1, [A], 2, null), /threshold 2/);
    assert.throws(() => root(2, [A], 1, null), /SHA-256 of the previous/);
    assert.throws(() => formatRoot({ ...parseRoot(root(1, [A], 1, null)), logKey: generateLogKey('other.org/log').vkey }), /named for the log origin/);
    assert.throws(() => formatRoot({ ...parseRoot(root(1, [A], 1, null)), logKey: `${ORIGIN}+1a2b3c4d+AQID` }), /not a C2SP verifier key/);
  });

  test('an approval line: APPROVE ROOT-n and the digest, on one line or two', () => {
    const d = 'ab'.repeat(32);
    assert.deepEqual(readRootApproval(`\n  APPROVE ROOT-3 ${d}\n`), { version: 3, digest: d });
    assert.deepEqual(readRootApproval(`APPROVE ROOT-3\n${d.slice(0, 32)} ${d.slice(32).toUpperCase()}\n`), { version: 3, digest: d });
    assert.equal(readRootApproval(`> APPROVE ROOT-3 ${d}`), null);
    assert.equal(readRootApproval(`I object.\nAPPROVE ROOT-3 ${d}`), null);
    assert.equal(readRootApproval(`APPROVE ROOT-3 ${d.slice(2)}`), null);
  });
});

describe('root chain', () => {
  let v1: string; let v2: string; let v3: string;
  let chain: RootVersionFiles[];

  before(async () => {
    v1 = root(1, [A, B, C], 2, null);
    // v2 adds Dave (who must sign too); v3 drops Carol and raises nothing.
    v2 = root(2, [A, B, C, D], 2, rootDigest(v1));
    v3 = root(3, [A, B, D], 2, rootDigest(v2));
    chain = [
      { version: 1, text: v1, approvals: [await inline(A, approve(v1, 1)), await mime(B, approve(v1, 1))] },
      { version: 2, text: v2, approvals: [await inline(A, approve(v2, 2)), await inline(B, approve(v2, 2)), await mime(D, approve(v2, 2))] },
      { version: 3, text: v3, approvals: [await mime(B, approve(v3, 3)), await inline(D, approve(v3, 3))] },
    ];
  });

  test('a chain of three versions walks from version 1, and from each pinned version', async () => {
    const now = new Date(T0.getTime() + 10 * DAY);
    const r = await walkRootChain({ trusted: null, versions: chain, keys, policy, now });
    assert.equal(r.current.version, 3);
    assert.equal(r.currentText, v3);
    assert.deepEqual(r.steps.map((s) => [s.version, s.approvedBy]), [[1, [A, B].sort()], [2, [A, B, D].sort()], [3, [B, D].sort()]]);
    assert.equal(r.expired, false);
    for (const pinned of [v1, v2, v3]) {
      const p = await walkRootChain({ trusted: pinned, versions: [...chain].reverse(), keys, policy, now });
      assert.equal(p.current.version, 3);
      assert.equal(p.steps.length, 3 - parseRoot(pinned).version);
    }
  });

  test('a version approved by too few of the previous maintainers is refused', async () => {
    const bad = [chain[0], { ...chain[1], approvals: [chain[1].approvals[0], chain[1].approvals[2]] }, chain[2]];
    await rejects(walkRootChain({ trusted: v1, versions: bad, keys, policy, now: T0 }), 'ROOT_THRESHOLD', /root version 2 is not approved: 1 of the previous version's \(1\) maintainers approved it, 2 must/);
  });

  test('a new maintainer who did not approve: refused (TUF: the new key signs too)', async () => {
    const bad = [chain[0], { ...chain[1], approvals: chain[1].approvals.slice(0, 2) }];
    await rejects(walkRootChain({ trusted: v1, versions: bad, keys, policy, now: T0 }), 'ROOT_THRESHOLD', new RegExp(`new maintainer key ${D} did not approve it`));
  });

  test('a forged version (changed after approval, or approvals by outsiders or replayed from another version) is refused', async () => {
    // The attacker swaps Carol for Mallory in version 2 and keeps the approvals made for the real one.
    const forged = root(2, [A, B, D, X], 2, rootDigest(v1));
    const f = [chain[0], { version: 2, text: forged, approvals: [...chain[1].approvals, await inline(X, approve(forged, 2))] }];
    await rejects(walkRootChain({ trusted: v1, versions: f, keys, policy, now: T0 }), 'ROOT_THRESHOLD', /approves ROOT-2 [0-9a-f]{16}\.\.\., not ROOT-2/);
    // Approvals of version 2 copied beside a version 3 draft do not count for it.
    const replay = [...chain.slice(0, 2), { ...chain[2], approvals: chain[1].approvals }];
    await rejects(walkRootChain({ trusted: v2, versions: replay, keys, policy, now: T0 }), 'ROOT_THRESHOLD', /not ROOT-3/);
    // A pinned version 1 that differs from the published one: a fork.
    const otherV1 = root(1, [A, X], 1, null);
    await rejects(walkRootChain({ trusted: otherV1, versions: chain, keys, policy, now: T0 }), 'ROOT_CHAIN', /published root version 1 differs from the trusted one/);
    // A version 3 that does not name version 2's digest.
    const skip = root(3, [A, B, D], 2, rootDigest(v1));
    const s = [...chain.slice(0, 2), { version: 3, text: skip, approvals: [await inline(B, approve(skip, 3)), await inline(D, approve(skip, 3))] }];
    await rejects(walkRootChain({ trusted: v2, versions: s, keys, policy, now: T0 }), 'ROOT_CHAIN', /names previous [0-9a-f]{64}, but version 2 is/);
  });

  test('a rollback to an older version is refused', async () => {
    await rejects(walkRootChain({ trusted: v3, versions: chain.slice(0, 2), keys, policy, now: T0 }), 'ROOT_ROLLBACK', /trusted root is version 3, but the newest published is version 2/);
  });

  test('an expired current root is refused, or reported when asked', async () => {
    const late = new Date(T0.getTime() + 400 * DAY);
    await rejects(walkRootChain({ trusted: v1, versions: chain, keys, policy, now: late }), 'ROOT_EXPIRED', /current root \(version 3\) expired at 2027-12-04T00:00:00Z/);
    const r = await walkRootChain({ trusted: v1, versions: chain, keys, policy, now: late, allowExpired: true });
    assert.equal(r.expired, true);
  });

  test('an approval with a SHA-1 signature or by a key outside the keyring does not count', async () => {
    const sha1 = [{ ...chain[0], approvals: [await inline(A, approve(v1, 1), 'SHA1'), chain[0].approvals[1]] }];
    await rejects(walkRootChain({ trusted: null, versions: sha1, keys, policy, now: T0 }), 'ROOT_THRESHOLD', /SHA-?1/i);
    const outside = await Keyring.fromArmored(await gpg.exportPublic(B));
    await rejects(walkRootChain({ trusted: null, versions: chain.slice(0, 1), keys: outside, policy, now: T0 }), 'ROOT_THRESHOLD', /a key the collection does not hold/);
  });

  test('a tampered approval signature does not count', async () => {
    const a = chain[0].approvals[0];
    const tampered: ApprovalFile = { ...a, cleartext: a.cleartext!.replace('Fine by me.', 'Fine by me!') };
    await rejects(walkRootChain({ trusted: null, versions: [{ ...chain[0], approvals: [tampered, chain[0].approvals[1]] }], keys, policy, now: T0 }),
      'ROOT_THRESHOLD', /does not verify/);
  });
});
