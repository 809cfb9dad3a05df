/**
 * What VERIFY says about an attesting key today: is it still in the
 * collection, valid, expired or revoked (and since when), and which
 * collection keys certified it: its certification path inside the
 * collection, up to a maintainer key when one is reachable.
 *
 * Every fact comes from src/pgp/inspect.ts (each certification verified
 * against the collection key that claims it), never from the mere presence
 * of a signature packet. The certification graph of the whole collection is
 * inspected once per keyring and reused for a few minutes (KnownKeys hands
 * out a new Keyring whenever the collection changes).
 */
import * as openpgp from 'openpgp';
import { checkSignature, fingerprintOf, inspectKey, type KeyReport } from '../pgp/inspect.js';
import type { Keyring } from '../pgp/keyring.js';
import { DEFAULT_CRYPTO_POLICY, verifyConfig, type CryptoPolicy } from '../policy/index.js';
import type { ApprovalCheck, Lapse } from '../tickets/approvals.js';
import { isoSeconds } from '../tickets/ticket.js';
import { shown } from './replies.js';
import { line } from '../templates.js';

export interface KeyRef {
  fingerprint: string;
  identity: string | null;
}

export interface KeyStanding {
  fingerprint: string;
  inCollection: boolean;
  identity: string | null;
  /** Today: valid, expired, revoked, or absent (no longer in the collection). */
  status: 'valid' | 'expired' | 'revoked' | 'absent';
  /** When it expired or was revoked (null when unknown or not applicable). */
  since: Date | null;
  /** Expiry date of a valid key (null: never). */
  expires: Date | null;
  revocationReason: string | null;
  /** The key (or a subkey) can still make signatures. */
  canSign: boolean;
  /** Collection keys with a valid, unexpired, unrevoked certification on this key. */
  certifiers: KeyRef[];
  /** The key is a maintainer key. */
  isMaintainer: boolean;
  /**
   * Shortest chain of certifications from a maintainer key down to this key
   * (maintainer first, this key not included), when maintainers are known
   * and one is reachable; [] when the key is itself a maintainer.
   */
  pathFromMaintainer: KeyRef[] | null;
}

export interface StandingOptions {
  policy?: CryptoPolicy;
  now?: Date;
  /** Maintainer fingerprints (upper-case hex). */
  maintainers?: readonly string[];
}

interface Graph {
  at: number;
  reports: Map<string, KeyReport>;
  /** fingerprint -> fingerprints of collection keys that validly certify it */
  certifiedBy: Map<string, string[]>;
}

const GRAPH_TTL_MS = 5 * 60_000;
const graphs = new WeakMap<Keyring, Promise<Graph>>();

/** The primary user ID of a key, made safe for a reply. */
export async function identityOfKey(key: openpgp.Key, policy: CryptoPolicy = DEFAULT_CRYPTO_POLICY, now: Date = new Date()): Promise<string | null> {
  return identityOf(await inspectKey(key, { collection: [], policy, now }));
}

/** The primary user ID of a report, without control characters. */
export function identityOf(r: KeyReport): string | null {
  const u = r.userIds.find((x) => x.primary) ?? r.userIds.find((x) => x.selfSigned && !x.attribute) ?? r.userIds.find((x) => !x.attribute);
  return u ? shown(u.userId) : null;
}

function usableCert(c: KeyReport['certifications'][number]): boolean {
  return c.valid === true && c.issuerInCollection && !c.revoked && !c.expired && !c.future && c.issuerFingerprint !== null;
}

async function buildGraph(ring: Keyring, policy: CryptoPolicy, now: Date): Promise<Graph> {
  const reports = new Map<string, KeyReport>();
  const certifiedBy = new Map<string, string[]>();
  for (const key of ring.all()) {
    const r = await inspectKey(key, { collection: ring, policy, now });
    reports.set(r.fingerprint, r);
    const by = [...new Set(r.certifications.filter(usableCert).map((c) => c.issuerFingerprint!))].filter((f) => f !== r.fingerprint);
    certifiedBy.set(r.fingerprint, by);
  }
  return { at: now.getTime(), reports, certifiedBy };
}

function graphFor(ring: Keyring, policy: CryptoPolicy, now: Date): Promise<Graph> {
  const cached = graphs.get(ring);
  if (cached) {
    return cached.then((g) => (now.getTime() - g.at < GRAPH_TTL_MS && now.getTime() >= g.at ? g : refresh()));
  }
  return refresh();
  function refresh(): Promise<Graph> {
    const p = buildGraph(ring, policy, now);
    graphs.set(ring, p);
    p.catch(() => graphs.delete(ring));
    return p;
  }
}

/** Date of the earliest key revocation by the key itself that verifies. */
async function revokedSince(key: openpgp.PublicKey): Promise<Date | null> {
  let first: Date | null = null;
  const cfg = verifyConfig();
  for (const rev of key.revocationSignatures) {
    if (!rev.issuerKeyID.equals(key.getKeyID())) continue;
    if ((await checkSignature(rev, key.keyPacket, openpgp.enums.signature.keyRevocation, { key: key.keyPacket }, cfg)) !== null) continue;
    if (rev.created && (!first || rev.created < first)) first = rev.created;
  }
  return first;
}

/** The standing today of the key with this (primary) fingerprint, in the collection `ring`. */
export async function keyStanding(fingerprint: string, ring: Keyring, opts: StandingOptions = {}): Promise<KeyStanding> {
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = opts.now ?? new Date();
  const fpr = fingerprint.toUpperCase();
  const maintainers = new Set((opts.maintainers ?? []).map((m) => m.toUpperCase()));
  const key = ring.findByFingerprint(fpr);
  if (!key || fingerprintOf(key) !== fpr) {
    return {
      fingerprint: fpr, inCollection: false, identity: null, status: 'absent', since: null, expires: null, revocationReason: null,
      canSign: false, certifiers: [], isMaintainer: maintainers.has(fpr), pathFromMaintainer: null,
    };
  }
  const graph = await graphFor(ring, policy, now);
  const report = graph.reports.get(fpr) ?? (await inspectKey(key, { collection: ring, policy, now }));
  const ref = (f: string): KeyRef => {
    const r = graph.reports.get(f);
    return { fingerprint: f, identity: r ? identityOf(r) : null };
  };
  const status: KeyStanding['status'] = report.revoked ? 'revoked' : report.expired ? 'expired' : 'valid';
  const since = report.revoked ? await revokedSince(key) : report.expired ? report.expires : null;
  const certifiers = (graph.certifiedBy.get(fpr) ?? []).map(ref);

  let path: KeyRef[] | null = null;
  if (maintainers.has(fpr)) path = [];
  else if (maintainers.size > 0) {
    // Breadth-first over "is certified by" edges: the first maintainer
    // reached gives the shortest chain.
    const prev = new Map<string, string>([[fpr, '']]);
    let frontier = [fpr];
    let found: string | null = null;
    while (frontier.length > 0 && !found) {
      const next: string[] = [];
      for (const f of frontier) {
        for (const by of graph.certifiedBy.get(f) ?? []) {
          if (prev.has(by)) continue;
          prev.set(by, f);
          if (maintainers.has(by)) {
            found = by;
            break;
          }
          next.push(by);
        }
        if (found) break;
      }
      frontier = next;
    }
    if (found) {
      path = [];
      for (let f = found; f !== fpr; f = prev.get(f)!) path.push(ref(f));
    }
  }
  return {
    fingerprint: fpr, inCollection: true, identity: identityOf(report), status, since,
    expires: report.expires, revocationReason: report.revocationReason, canSign: report.canSign,
    certifiers, isMaintainer: maintainers.has(fpr), pathFromMaintainer: path,
  };
}

/**
 * Can this collection key attest today? null when it can, else the reason.
 * (ATTEST checks it at logging time, not only at signature time: a key
 * revoked or removed meanwhile no longer attests.)
 */
export async function attestRefusal(fingerprint: string | null, ring: Keyring, opts: StandingOptions = {}): Promise<string | null> {
  if (!fingerprint) return line('reason-attest-unsigned', {});
  const key = ring.findByFingerprint(fingerprint);
  if (!key || fingerprintOf(key) !== fingerprint.toUpperCase()) return line('reason-attest-not-in-collection', { fingerprint });
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = opts.now ?? new Date();
  const r = await inspectKey(key, { collection: ring, policy, now });
  if (r.revoked) return line('reason-attest-revoked', { fingerprint: r.fingerprint, revocationReason: r.revocationReason });
  if (r.expired) return line('reason-attest-expired', { fingerprint: r.fingerprint, expires: r.expires?.toISOString().slice(0, 10) });
  if (!r.canSign) return line('reason-attest-cannot-sign', { fingerprint: r.fingerprint });
  return null;
}

/**
 * What decides whether a recorded vote still counts (tickets/approvals.ts):
 * the collection keys as the bot committed them, the policy, the configured
 * maintainers and the moment of counting. An approval lapses when its key
 * left the collection, was revoked or expired.
 */
export function approvalCheck(c: { keyring: Keyring; policy: CryptoPolicy; maintainers: readonly string[]; now: Date }): ApprovalCheck {
  return {
    maintainers: c.maintainers,
    async lapsed(voter: string): Promise<Lapse | null> {
      const key = c.keyring.findByFingerprint(voter);
      if (!key || key.getFingerprint().toUpperCase() !== voter) return { who: line('lapse-who', { voter }), why: line('lapse-not-in-collection', {}) };
      const r = await inspectKey(key, { collection: [], policy: c.policy, now: c.now });
      const who = line('lapse-who', { voter, identity: identityOf(r) });
      if (r.revoked) return { who, why: line('lapse-revoked', {}) };
      if (r.expired) return { who, why: line('lapse-expired', { expires: r.expires ? isoSeconds(r.expires) : null }) };
      return null;
    },
  };
}
