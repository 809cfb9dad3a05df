/**
 * Weak-algorithm attacks, made with real GnuPG (test/harness/gpg.ts): a
 * collection member whose key gpg generated (RSA-3072 for the weak-hash
 * tests; DSA and RSA-1024 for the weak-key tests), certified by two
 * collection keys and seeded, who clearsigns an ATTEST with the digest
 * algorithm under test. GnuPG 2.2 still makes all of these on request,
 * which is exactly what an attacker (or an old client) sends.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as openpgp from 'openpgp';
import { makeGpgHome, type GpgHome } from '../harness/gpg.js';
import { certify, community, stateOf, TO_BOT } from '../unit/commands-world.js';
import { assertRefused, assertUnchanged, headLines, rawMessage, sendChecked } from './world.js';

export type GpgAlgo = 'rsa3072' | 'dsa2048' | 'rsa1024';

/** A community, plus Wanda: a gpg-made key of `algo`, certified by Alice and Bob, in the collection. */
export async function weakWorld(algo: GpgAlgo) {
  const c = await community();
  const home: GpgHome = await makeGpgHome();
  after(() => home.cleanup());
  const gen = await home.run(['--quick-gen-key', 'Wanda <wanda@people.test>', algo, 'sign', 'never']);
  assert.equal(gen.code, 0, gen.stderr);
  const listed = await home.run(['--with-colons', '--list-keys', 'wanda@people.test']);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listed.stdout.toString())![1];
  const pub = await openpgp.readKey({ armoredKey: await home.exportPublic(fpr) });
  await c.w.seed([await certify(pub, [c.alice, c.bob])]);
  /** Wanda's ATTEST, clearsigned by gpg with `digest`, as an inline mail. */
  const attest = async (digest: string): Promise<Buffer> => {
    const r = await home.run(['-u', fpr, '--digest-algo', digest, '--clearsign'], `ATTEST\n${TO_BOT}\n${'ab'.repeat(32)}  zos-utils-1.2.tar\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), new RegExp(`^Hash: ${digest}$`, 'm'));
    return rawMessage(headLines('Wanda <wanda@people.test>', ['Content-Type: text/plain; charset=us-ascii']), `\n${r.stdout.toString()}`);
  };
  return { ...c, wanda: fpr, attest };
}

/**
 * The one shape every weak-algorithm attack has: Wanda (a gpg-made `algo`
 * key in the collection) sends an ATTEST clearsigned with `digest`; it is
 * refused with the verdict `weak`, the reply says what `says` expects
 * (beside the signed-command rule and her fingerprint), nothing changes.
 */
export async function assertWeakAttestRefused(algo: GpgAlgo, digest: string, says: RegExp[]): Promise<void> {
  const { w, wanda, attest } = await weakWorld(algo);
  const before = await stateOf(w);
  const s = await sendChecked(w, await attest(digest));
  assertRefused(s, {
    outcome: 'refused:weak', to: 'wanda@people.test',
    says: [/The command ATTEST changes the collection, so it must be signed/, new RegExp(`${wanda}`), ...says],
  });
  await assertUnchanged(w, before);
}
