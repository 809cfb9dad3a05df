/**
 * The key admission policy, as pure functions over openpgp.js keys: may a new
 * key enter the collection (SUBMIT KEY), what may an incoming copy add to a
 * collection key (UPDATE KEY), does a revocation certificate revoke a
 * collection key (REVOKE KEY).
 *
 * Every refusal names the rule and the fix, because the reply is read by a
 * person who must be able to act on it. No mail, queue or disk code here
 * (the words of the address rules come from templates/): the caller
 * verifies the mail signature (proof of possession) and applies the result
 * to the collection.
 *
 * Certificate flooding (CVE-2019-13050-style attacks on SKS): anyone can
 * append certifications to anyone's key. The collection therefore stores
 * only certifications made by its own keys; everything else is stripped
 * before storage and listed in the reply.
 */
import * as openpgp from 'openpgp';
import { DEFAULT_LIMITS, LIMIT_ERRORS, REPLY_BOUNDS, type Limits } from '../limits.js';
import { DEFAULT_CRYPTO_POLICY, hashName, isFutureDated, isRejectedHash, verifyConfig, type CryptoPolicy } from '../policy/index.js';
import {
  checkSignature,
  cloneKey,
  fingerprintOf,
  inspectKey,
  keyIdOf,
  toKeyring,
  type CertInfo,
  type KeyLookup,
  type KeyReport,
} from './inspect.js';
import { mergeKeys, signatureId, userLabel, type MergeItem } from './merge.js';
import { Keyring } from './keyring.js';
import { readAllBytes } from './bytes.js';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import { addressIndex, claimsOfReport, holdersOf, holdsAddresses, type ReservedAddress } from './addresses.js';
import { clause, line, render } from '../templates.js';
import { contentValue } from '../text/value.js';

export type AdmissionRule =
  | 'private-key'
  | 'limit-key-size'
  | 'limit-user-ids'
  | 'limit-certifications'
  | 'already-in-collection'
  | 'algorithm'
  | 'subkey-algorithm'
  | 'revoked'
  | 'expired'
  | 'no-user-id'
  | 'weak-self-signature'
  | 'no-signing-capability'
  | 'min-certifications'
  | 'different-key'
  | 'not-in-collection'
  | 'revocation-unreadable'
  | 'revocation-wrong-key'
  | 'revocation-invalid'
  | 'address-taken'
  | 'address-reserved';

export interface AdmissionContext {
  /** The collection's keys (issuers of certifications). */
  collection: KeyLookup;
  policy?: CryptoPolicy;
  limits?: Limits;
  now?: Date;
  /** Addresses no key may hold: the bot's and the lists' (see addresses.reservedAddresses). */
  reservedAddresses?: readonly ReservedAddress[];
}

export interface Refusal {
  ok: false;
  rule: AdmissionRule;
  reason: string;
  fix: string;
}

/** A certification removed before storage, and why. */
export type StrippedCert = CertInfo & { why: string };

export interface Admitted {
  ok: true;
  /** The copy to store: only collection certifications, only self-signed user IDs. */
  key: openpgp.PublicKey;
  report: KeyReport;
  kept: CertInfo[];
  /** Kept certifications that count toward minCertifications (distinct issuers). */
  counted: string[];
  stripped: StrippedCert[];
  /** User IDs removed because no valid self-signature binds them. */
  strippedUserIds: string[];
  warnings: string[];
  /** Addresses of the key that another collection key already holds (the ticket shows them). */
  sharedAddresses: AddressClash[];
}

export type AdmissionResult = Admitted | Refusal;

function refuse(rule: AdmissionRule, reason: string, fix: string): Refusal {
  return { ok: false, rule, reason, fix };
}

function settings(ctx: AdmissionContext) {
  return {
    ring: toKeyring(ctx.collection),
    policy: ctx.policy ?? DEFAULT_CRYPTO_POLICY,
    limits: ctx.limits ?? DEFAULT_LIMITS,
    now: ctx.now ?? new Date(),
    // The one rule and its one default: the policy's (src/policy/settings.ts).
    min: (ctx.policy ?? DEFAULT_CRYPTO_POLICY).minCertifications,
    reserved: ctx.reservedAddresses ?? [],
  };
}

/** A user ID naming an address that is reserved or that another collection key holds (values made safe for mail). */
export interface AddressClash {
  userId: string;
  address: string;
  reserved: boolean;
  /** Reserved as the bot's own address. */
  bot: boolean;
  /** Reserved as this list's posting address (its List-Id). */
  list: string | null;
  /** The key that holds it (16 hex) and its user ID naming it, when a key holds it. */
  holderKeyId: string | null;
  holderUserId: string | null;
}

/**
 * The claims of `report`'s user IDs (those `only` picks) that clash with
 * the reserved addresses or with another collection key. The one place the
 * one-address-one-key rule is checked for new data: the handlers and the
 * apply step both come through here.
 */
async function addressClashes(
  report: KeyReport,
  only: (userId: string) => boolean,
  ring: Keyring,
  reserved: readonly ReservedAddress[],
  policy: CryptoPolicy,
  now: Date,
): Promise<AddressClash[]> {
  const claims = claimsOfReport(report, only);
  if (claims.length === 0) return [];
  const others = ring.all().filter((k) => fingerprintOf(k) !== report.fingerprint);
  const index = await addressIndex(others, { policy, now });
  const out: AddressClash[] = [];
  for (const c of claims) {
    const userId = contentValue(c.userId, REPLY_BOUNDS.quotedUserIdChars);
    const address = contentValue(c.address, REPLY_BOUNDS.quotedUserIdChars);
    const r = reserved.find((x) => x.address === c.address);
    if (r) {
      out.push({ userId, address, reserved: true, bot: r.list === null, list: r.list, holderKeyId: null, holderUserId: null });
      continue;
    }
    const h = holdersOf(index, c.address)[0];
    if (h) out.push({ userId, address, reserved: false, bot: false, list: null, holderKeyId: h.keyId, holderUserId: contentValue(h.userId, REPLY_BOUNDS.quotedUserIdChars) });
  }
  return out;
}

function addressRefusal(clash: AddressClash, command: string, fingerprint: string): Refusal {
  const view = { ...clash, command, fingerprint };
  return refuse(clash.reserved ? 'address-reserved' : 'address-taken',
    render('address-claimed-reason', view).trim(), render('address-claimed-fix', view).trim());
}

/**
 * The gates every key sent by mail passes before it is inspected, in this
 * order (SUBMIT KEY and UPDATE KEY alike): no secret key, then (UPDATE KEY)
 * the same primary key, then the size, user-ID and certification limits.
 * Cheap checks first, so a hostile key is refused before any signature on it
 * is verified.
 */
function intakeGates(
  key: openpgp.Key,
  limits: Limits,
  opts: { certificationsFix: string; sameKey?: () => Refusal | null },
): Refusal | null {
  if (key.isPrivate()) {
    return refuse('private-key', line('reason-private-key', {}), line('fix-private-key', {}));
  }
  const other = opts.sameKey?.();
  if (other) return other;
  const bytes = key.write().length;
  if (bytes > limits.maxKeyBytes) {
    return refuse('limit-key-size', line('reason-limit-key-size', { limitError: LIMIT_ERRORS.LIMIT_KEY_SIZE, limit: limits.maxKeyBytes, got: bytes }),
      line('fix-limit-key-size', {}));
  }
  if (key.users.length > limits.maxUserIds) {
    return refuse('limit-user-ids', line('reason-limit-user-ids', { limitError: LIMIT_ERRORS.LIMIT_USER_IDS, limit: limits.maxUserIds, got: key.users.length }),
      line('fix-limit-user-ids', {}));
  }
  const certCount = key.users.reduce((n, u) => n + u.otherCertifications.length, 0);
  if (certCount > limits.maxCertifications) {
    return refuse('limit-certifications',
      line('reason-limit-certifications', { limitError: LIMIT_ERRORS.LIMIT_CERTIFICATIONS, limit: limits.maxCertifications, got: certCount }),
      opts.certificationsFix);
  }
  return null;
}

/** State of a collection key acting as an issuer, now. */
async function issuerState(
  issuerFpr: string,
  ring: Keyring,
  policy: CryptoPolicy,
  now: Date,
  cache: Map<string, KeyReport>,
): Promise<{ usable: boolean; why?: string }> {
  const issuer = ring.findByFingerprint(issuerFpr);
  if (!issuer) return { usable: false, why: line('why-issuer-not-in-collection', {}) };
  let r = cache.get(issuerFpr);
  if (!r) {
    r = await inspectKey(issuer, { collection: ring, policy, now });
    cache.set(issuerFpr, r);
  }
  if (r.revoked) return { usable: false, why: line('why-issuer-revoked', { keyId: r.keyId }) };
  if (r.expired) return { usable: false, why: line('why-issuer-expired', { keyId: r.keyId }) };
  if (!r.judgement.ok) return { usable: false, why: line('why-issuer-refused', { keyId: r.keyId, algorithm: r.algorithm, judgement: r.judgement.reason }) };
  return { usable: true };
}

/**
 * Why a certification may not be stored, or null when it may. A kept
 * certification still counts only if its issuer is usable now.
 */
function certProblem(c: CertInfo): string | null {
  if (!c.issuerInCollection) return line('why-cert-outside', {});
  if (c.valid !== true) return line('why-cert-invalid', { invalid: c.invalidReason });
  if (c.weakHash) return line('why-cert-weak-hash', { hash: c.hashAlgorithm.toUpperCase() });
  if (c.revoked) return line('why-cert-revoked', {});
  if (c.expired) return line('why-cert-expired', {});
  if (c.future) return line('why-cert-future', {});
  if (!c.exportable) return line('why-cert-local', {});
  return null;
}


/**
 * SUBMIT KEY: may this key enter the collection? The caller has already
 * checked that the mail is signed by the submitted key (see isSignedByKey).
 */
export async function admitNewKey(submitted: openpgp.Key, ctx: AdmissionContext): Promise<AdmissionResult> {
  return admit(submitted, ctx, 'member');
}

/**
 * SUBMIT SOURCE KEY: may this upstream release-signing key enter
 * pgp/for-source/? The same crypto policy and the same stripping of
 * certifications by keys outside the collection (a flooded key must not
 * flood the collection), but it is not a member: it needs no community
 * certification (a member's vouch and the maintainers' approval stand
 * instead), and it may be a member key too (an upstream maintainer who is a
 * member). An address a member key holds is not refused (an upstream
 * maintainer may be a member), but it is returned in sharedAddresses, with
 * a warning: a key that claims a member's address while it is not hers
 * would borrow her name in every VERIFY reply. The bot's and the lists'
 * addresses stay refused: no key in the collection may claim them.
 */
export async function admitSourceKey(submitted: openpgp.Key, ctx: AdmissionContext): Promise<AdmissionResult> {
  return admit(submitted, ctx, 'source');
}

async function admit(submitted: openpgp.Key, ctx: AdmissionContext, purpose: 'member' | 'source'): Promise<AdmissionResult> {
  const { ring, policy, limits, now, reserved } = settings(ctx);
  const min = purpose === 'member' ? settings(ctx).min : 0;
  // An upstream key is certified by its own project's people, not by members: asking members to certify it again is no fix.
  const gate = intakeGates(submitted, limits, {
    certificationsFix: line(purpose === 'member' ? 'fix-limit-certifications-submit-key' : 'fix-limit-certifications-submit-source-key', { fingerprint: fingerprintOf(submitted) }),
  });
  if (gate) return gate;
  const fpr = fingerprintOf(submitted);
  if (purpose === 'member' && ring.findByFingerprint(fpr)) {
    return refuse('already-in-collection', line('reason-already-in-collection', { fingerprint: fpr }), line('fix-already-in-collection', {}));
  }

  const report = await inspectKey(submitted, { collection: ring, policy, now });
  if (!report.judgement.ok) {
    return refuse('algorithm', line('reason-algorithm', { algorithm: describeAlg(report), judgement: report.judgement.reason }), line('fix-algorithm', {}));
  }
  if (report.revoked) {
    return refuse('revoked', line('reason-revoked', { keyId: report.keyId, revocationReason: report.revocationReason }), line('fix-revoked', {}));
  }
  if (report.expired) {
    return refuse('expired', line('reason-expired', { keyId: report.keyId, expires: report.expires!.toISOString() }),
      line('fix-expired', { fingerprint: fpr }));
  }
  const goodUids = report.userIds.filter((u) => u.selfSigned && !u.revoked && !u.attribute);
  if (goodUids.length === 0) {
    return refuse('no-user-id', line('reason-no-user-id', {}), line('fix-no-user-id', { fingerprint: fpr }));
  }
  if (goodUids.every((u) => u.selfSignatureWeak)) {
    return refuse('weak-self-signature', line('reason-weak-self-signature', { hash: goodUids[0].selfSignatureHash?.toUpperCase() }),
      line('fix-weak-self-signature', { fingerprint: fpr }));
  }
  for (const s of report.subkeys) {
    if (!s.bound || s.revoked || s.expired) continue;
    if (!s.judgement.ok) {
      return refuse('subkey-algorithm', line('reason-subkey-algorithm', { keyId: s.keyId, algorithm: s.algorithm, bits: s.bits, judgement: s.judgement.reason }),
        line('fix-subkey-algorithm', { fingerprint: fpr }));
    }
  }
  if (!report.canSign) {
    return refuse('no-signing-capability', line('reason-no-signing-capability', {}), line('fix-no-signing-capability', { fingerprint: fpr }));
  }

  // --- addresses: the bot's and the lists' are never a member's. An address
  // another key holds may be the same person's second key (the group keeps
  // signing and mail keys apart): the maintainers decide, warned.
  const clashes = await addressClashes(report, () => true, ring, reserved, policy, now);
  const reservedClash = clashes.find((c) => c.reserved);
  if (reservedClash) return addressRefusal(reservedClash, purpose === 'member' ? 'SUBMIT KEY' : 'SUBMIT SOURCE KEY', fpr);
  const sharedAddresses = clashes.filter((c) => !c.reserved);

  // --- certifications: keep those by collection keys, strip the rest
  const issuerCache = new Map<string, KeyReport>();
  const kept: CertInfo[] = [];
  const stripped: StrippedCert[] = [];
  const counted = new Set<string>();
  const warnings: string[] = [];
  const badUserIds = new Set(report.userIds.filter((u) => !u.selfSigned).map((u) => u.userId));
  for (const c of report.certifications) {
    if (badUserIds.has(c.userId)) {
      stripped.push({ ...c, why: line('why-cert-bad-user-id', {}) });
      continue;
    }
    const problem = certProblem(c);
    if (problem) {
      stripped.push({ ...c, why: problem });
      continue;
    }
    kept.push(c);
    const st = await issuerState(c.issuerFingerprint!, ring, policy, now, issuerCache);
    if (st.usable) counted.add(c.issuerFingerprint!);
    else warnings.push(line('warning-cert-not-counted', { keyId: c.issuerKeyId, why: st.why }));
  }
  if (report.judgement.warning) warnings.push(report.judgement.warning);
  for (const c of sharedAddresses) warnings.push(render(purpose === 'member' ? 'address-shared-warning' : 'address-shared-source-warning', { ...c }).trim());
  for (const s of report.subkeys) if (s.judgement.ok && s.judgement.warning) warnings.push(`subkey ${s.keyId}: ${s.judgement.warning}`);

  if (counted.size < min) {
    const have = counted.size;
    const outside = stripped.filter((s) => !s.issuerInCollection).length;
    return refuse('min-certifications',
      line('reason-min-certifications', { have, haveOne: have === 1, min, minOne: min === 1, outside, outsideOne: outside === 1 }),
      line('fix-min-certifications', { missing: min - have, missingOne: min - have === 1, fingerprint: fpr }));
  }

  // --- the copy to store
  const keepIds = new Set(kept.map((c) => signatureId(c.packet)));
  const key = await cloneKey(submitted);
  const strippedUserIds: string[] = [];
  key.users = key.users.filter((u) => {
    if (badUserIds.has(userLabel(u))) {
      strippedUserIds.push(userLabel(u));
      return false;
    }
    return true;
  });
  const selfId = submitted.getKeyID();
  for (const u of key.users) {
    u.otherCertifications = u.otherCertifications.filter((s) => keepIds.has(signatureId(s)));
    // Certification revocations by outside keys go too; the key's own UID revocations stay.
    u.revocationSignatures = u.revocationSignatures.filter((s) => s.issuerKeyID.equals(selfId) || ring.findAllByKeyId(s.issuerKeyID.toHex()).length > 0);
  }
  const stored = await cloneKey(key);
  return { ok: true, key: stored, report, kept, counted: [...counted], stripped, strippedUserIds, warnings, sharedAddresses };
}

function describeAlg(r: { algorithm: string; bits?: number; curve?: string }): string {
  return `${r.algorithm}${r.bits ? ` ${r.bits} bits` : ''}${r.curve ? ` (${r.curve})` : ''}`;
}

/**
 * Proof of possession: does a signature by `signer` (fingerprint or 16-hex
 * key id of the key that made it) count as made by `key`? The primary key or
 * a bound, unrevoked, unexpired signing subkey (with its back-signature) does.
 */
export async function isSignedByKey(
  signer: string,
  key: openpgp.Key,
  opts: { policy?: CryptoPolicy; now?: Date } = {},
): Promise<boolean> {
  const s = signer.replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
  if (!/^[0-9A-F]{16}$|^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(s)) return false;
  const matches = (fpr: string, keyId: string) => (s.length === 16 ? keyId.toUpperCase() === s : fpr === s);
  if (matches(fingerprintOf(key), keyIdOf(key))) return true;
  const report = await inspectKey(key, { collection: [], policy: opts.policy ?? DEFAULT_CRYPTO_POLICY, now: opts.now ?? new Date() });
  if (report.revoked || report.expired) return false;
  return report.subkeys.some((sk) => matches(sk.fingerprint, sk.keyId) && sk.bound && !sk.revoked && !sk.expired && sk.capabilities.sign);
}

// ---------------------------------------------------------------------------
// UPDATE KEY

export interface UpdateChanges {
  newCerts: CertInfo[];
  newUserIds: string[];
  /**
   * Stored user IDs that were revoked (or had no valid self-signature) and
   * are valid again through a newer self-signature: a claim made anew.
   */
  restoredUserIds: string[];
  /** New self-signatures on user IDs already stored (e.g. a refreshed expiry). */
  newSelfSignatures: number;
  /** The expiry after the update, when it changes (null = never expires). */
  newExpiry: { before: Date | null; after: Date | null } | null;
  newSubkeys: string[];
  /** Set when the incoming copy carries a valid key revocation. */
  revocation: { reason: string | null } | null;
  revokedUserIds: string[];
  revokedSubkeys: string[];
}

export type DroppedItem = { what: string; why: string; cert?: CertInfo };

export type UpdatePlan =
  | {
      ok: true;
      changes: UpdateChanges;
      /** Certifications by keys outside the collection, or otherwise unacceptable: not stored. */
      droppedOutsideCerts: StrippedCert[];
      /** Other pieces of the incoming copy that were not taken, and why. */
      dropped: DroppedItem[];
      /**
       * true when the update only adds certifications by collection keys,
       * self-signatures on stored user IDs (expiry) and revocations: applied
       * at once. false (a new subkey or user ID): a ticket for the maintainers.
       */
      onlyAdditive: boolean;
      /** Nothing to change. */
      empty: boolean;
      merged: openpgp.PublicKey;
    }
  | Refusal;

/**
 * UPDATE KEY: what may the incoming copy add to the stored one? Never removes
 * anything. Refuses a different primary key, and a new user ID naming an
 * address that is reserved or another collection key's.
 */
export async function planUpdate(existing: openpgp.Key, incoming: openpgp.Key, ctx: AdmissionContext): Promise<UpdatePlan> {
  const { ring, policy, limits, now, reserved } = settings(ctx);
  const fpr = fingerprintOf(existing);
  const gate = intakeGates(incoming, limits, {
    certificationsFix: line('fix-limit-certifications-update-key', {}),
    sameKey: () => fingerprintOf(incoming) === fpr ? null
      : refuse('different-key', line('reason-different-key', { sent: fingerprintOf(incoming), fingerprint: fpr }), line('fix-different-key', {})),
  });
  if (gate) return gate;

  // Inspect the union once, so every incoming piece is judged in context
  // (a certification on a new UID, a binding of a new subkey).
  const cfg = verifyConfig();
  const union = (await mergeKeys(existing, incoming, () => true)).merged;
  const unionReport = await inspectKey(union, { collection: ring, policy, now });
  const beforeReport = await inspectKey(existing, { collection: ring, policy, now });
  const certById = new Map(unionReport.certifications.map((c) => [signatureId(c.packet), c] as const));
  const uidOk = new Map(unionReport.userIds.map((u) => [u.userId, u] as const));
  const primary = existing.keyPacket;

  const droppedOutsideCerts: StrippedCert[] = [];
  const dropped: DroppedItem[] = [];
  const newCerts: CertInfo[] = [];
  const newUserIds: string[] = [];
  const newSubkeys: string[] = [];
  const revokedUserIds: string[] = [];
  const revokedSubkeys: string[] = [];
  let newSelfSignatures = 0;
  let revocation: UpdateChanges['revocation'] = null;

  const accept = async (item: MergeItem): Promise<boolean> => {
    switch (item.kind) {
      case 'user': {
        const u = uidOk.get(item.userId);
        if (!u?.selfSigned) {
          dropped.push({ what: line('what-user-id', { userId: item.userId }), why: line('why-no-self-signature', {}) });
          return false;
        }
        if (u.selfSignatureWeak) {
          dropped.push({ what: line('what-user-id', { userId: item.userId }), why: line('why-weak-self-signature', { hash: u.selfSignatureHash?.toUpperCase() }) });
          return false;
        }
        newUserIds.push(item.userId);
        return true;
      }
      case 'self-cert':
      case 'direct': {
        const data = item.kind === 'direct'
          ? { key: primary }
          : { userID: item.user.userID, userAttribute: item.user.userAttribute, key: primary };
        const type = item.kind === 'direct' ? openpgp.enums.signature.key : openpgp.enums.signature.certGeneric;
        const ok = await selfSigAcceptable(item.sig, primary, type, data, cfg, policy, now);
        if (ok !== null) {
          dropped.push({ what: line('what-self-signature', { userId: 'userId' in item ? item.userId : null }), why: ok });
          return false;
        }
        newSelfSignatures++;
        return true;
      }
      case 'cert': {
        const c = certById.get(signatureId(item.sig));
        const problem = c ? certProblem(c) : line('why-unreadable', {});
        if (problem || !c) {
          if (c) droppedOutsideCerts.push({ ...c, why: problem! });
          else dropped.push({ what: line('what-certification', { userId: item.userId }), why: problem ?? 'unknown' });
          return false;
        }
        newCerts.push(c);
        return true;
      }
      case 'uid-revocation': {
        if (item.sig.issuerKeyID.equals(existing.getKeyID())) {
          const data = { userID: item.user.userID, userAttribute: item.user.userAttribute, key: primary };
          const err = await checkSignature(item.sig, primary, openpgp.enums.signature.certRevocation, data, cfg);
          if (err) {
            dropped.push({ what: line('what-uid-revocation', { userId: item.userId }), why: err });
            return false;
          }
          revokedUserIds.push(item.userId);
          return true;
        }
        // A certification revocation by a collection key: kept when it verifies with that key.
        const issuers = ring.findAllByKeyId(item.sig.issuerKeyID.toHex()).filter((k) => fingerprintOf(k) !== fpr);
        for (const k of issuers) {
          for (const kp of k.getKeys(item.sig.issuerKeyID)) {
            const data = { userID: item.user.userID, userAttribute: item.user.userAttribute, key: primary };
            if ((await checkSignature(item.sig, kp.keyPacket, openpgp.enums.signature.certRevocation, data, cfg)) === null) return true;
          }
        }
        dropped.push({
          what: line('what-cert-revocation', { userId: item.userId, issuer: item.sig.issuerKeyID.toHex() }), why: line('why-not-collection-key', {}),
        });
        return false;
      }
      case 'key-revocation': {
        if (!item.sig.issuerKeyID.equals(existing.getKeyID())) {
          dropped.push({ what: line('what-key-revocation', {}), why: line('why-designated-revoker', { issuer: item.sig.issuerKeyID.toHex() }) });
          return false;
        }
        const err = await checkSignature(item.sig, primary, openpgp.enums.signature.keyRevocation, { key: primary }, cfg);
        if (err) {
          dropped.push({ what: line('what-key-revocation', {}), why: err });
          return false;
        }
        revocation = { reason: null };
        return true;
      }
      case 'subkey': {
        const s = unionReport.subkeys.find((x) => x.fingerprint === item.fingerprint);
        if (!s?.bound) {
          dropped.push({ what: line('what-subkey', { subkey: item.fingerprint }), why: line('why-no-binding-signature', {}) });
          return false;
        }
        if (!s.judgement.ok) {
          dropped.push({ what: line('what-subkey', { subkey: s.keyId }), why: s.judgement.reason });
          return false;
        }
        newSubkeys.push(item.fingerprint);
        return true;
      }
      case 'subkey-binding': {
        const data = { key: primary, bind: item.subkey.keyPacket };
        const ok = await selfSigAcceptable(item.sig, primary, openpgp.enums.signature.subkeyBinding, data, cfg, policy, now);
        if (ok !== null) {
          dropped.push({ what: clause('what-subkey-binding', { subkey: item.fingerprint }), why: ok });
          return false;
        }
        newSelfSignatures++;
        return true;
      }
      case 'subkey-revocation': {
        const data = { key: primary, bind: item.subkey.keyPacket };
        const err = await checkSignature(item.sig, primary, openpgp.enums.signature.subkeyRevocation, data, cfg);
        if (err) {
          dropped.push({ what: clause('what-subkey-revocation', { subkey: item.fingerprint }), why: err });
          return false;
        }
        revokedSubkeys.push(item.fingerprint);
        return true;
      }
    }
  };

  const { merged, added } = await mergeKeys(existing, incoming, accept);
  const afterReport = await inspectKey(merged, { collection: ring, policy, now });
  // What was really added: a new user ID whose every self-signature was
  // dropped is not in the merged key.
  const addedUserIds = added.flatMap((a) => (a.kind === 'user' ? [a.userId] : []));
  newUserIds.splice(0, newUserIds.length, ...addedUserIds);
  // A self-signature newer than a user ID's revocation makes it valid again
  // (RFC 9580: the newest statement wins): that is a new claim too, not an
  // expiry refresh, so it is judged as a new user ID is.
  const liveBefore = liveUserIds(beforeReport);
  const restoredUserIds = [...liveUserIds(afterReport)].filter((u) => !liveBefore.has(u) && !addedUserIds.includes(u));
  // A new claim may not take an address that is reserved or that another
  // collection key holds (a revoked user ID, or a revoked key, holds none).
  const clash = (await addressClashes(afterReport, (u) => !liveBefore.has(u), ring, reserved, policy, now))[0];
  if (clash) return addressRefusal(clash, 'UPDATE KEY', fpr);
  if (revocation) revocation = { reason: afterReport.revocationReason };
  const expiryChanged = (beforeReport.expires?.getTime() ?? null) !== (afterReport.expires?.getTime() ?? null);
  const changes: UpdateChanges = {
    newCerts,
    newUserIds,
    restoredUserIds,
    newSelfSignatures,
    newExpiry: expiryChanged ? { before: beforeReport.expires, after: afterReport.expires } : null,
    newSubkeys,
    revocation,
    revokedUserIds,
    revokedSubkeys,
  };
  const empty = newCerts.length === 0 && newUserIds.length === 0 && newSelfSignatures === 0 && newSubkeys.length === 0 &&
    !revocation && revokedUserIds.length === 0 && revokedSubkeys.length === 0 && Buffer.from(merged.write()).equals(Buffer.from(existing.write()));
  // A new subkey is new key material that can sign or decrypt for this
  // identity, and a new user ID is a new claim to a name and address that
  // GET KEY and WKD will hand out: the maintainers see either (a ticket).
  // Certifications by collection keys, new self-signatures on stored user
  // IDs (expiry) and revocations only restate or narrow what the collection
  // already trusts, so they apply at once.
  const onlyAdditive = newSubkeys.length === 0 && newUserIds.length === 0 && restoredUserIds.length === 0;
  return { ok: true, changes, droppedOutsideCerts, dropped, onlyAdditive, empty, merged };
}

/** The user IDs that hold their addresses (see addresses.holdsAddresses). */
function liveUserIds(r: KeyReport): Set<string> {
  return new Set(r.userIds.filter((u) => holdsAddresses(r, u)).map((u) => u.userId));
}

async function selfSigAcceptable(
  sig: openpgp.SignaturePacket,
  primary: openpgp.AnyKeyPacket,
  type: openpgp.enums.signature,
  data: object,
  cfg: openpgp.Config,
  policy: CryptoPolicy,
  now: Date,
): Promise<string | null> {
  const err = await checkSignature(sig, primary, type, data, cfg);
  if (err) return err;
  const h = hashName(sig.hashAlgorithm);
  if (isRejectedHash(policy, h)) return line('why-cert-weak-hash', { hash: h.toUpperCase() });
  if (isFutureDated(policy, sig.created, now)) return line('why-cert-future', {});
  return null;
}

// ---------------------------------------------------------------------------
// REVOKE KEY

export type RevocationResult =
  | { ok: true; revokedKey: openpgp.PublicKey; fingerprint: string; reason: string | null; warnings: string[] }
  | Refusal;

/**
 * REVOKE KEY: the revocation signature is its own authority (anyone holding
 * it may publish it), so it need only verify against the collection's copy.
 * Accepts `gpg --gen-revoke` output (an armoured block holding one key
 * revocation signature) or a whole revoked key (`gpg --export` after
 * importing the revocation).
 *
 * A revocation using a weak hash is still applied, with a warning: refusing a
 * revocation never protects anyone, and an old key (DSA-1024) may only be
 * able to make SHA-1 signatures.
 */
export async function checkRevocation(
  existing: openpgp.Key,
  revocationCert: string | Uint8Array,
  opts: { policy?: CryptoPolicy; now?: Date } = {},
): Promise<RevocationResult> {
  const policy = opts.policy ?? DEFAULT_CRYPTO_POLICY;
  const now = opts.now ?? new Date();
  const cfg = verifyConfig();
  let sigs: openpgp.SignaturePacket[];
  try {
    sigs = await readRevocationSignatures(revocationCert, cfg);
  } catch (err) {
    return refuse('revocation-unreadable', line('reason-revocation-unreadable', { error: (err as Error).message }), line('fix-revocation-unreadable', {}));
  }
  const keyRevs = sigs.filter((s) => s.signatureType === openpgp.enums.signature.keyRevocation);
  if (keyRevs.length === 0) {
    return refuse('revocation-unreadable', line('reason-revocation-unreadable-no-signature', {}), line('fix-revocation-unreadable-no-signature', {}));
  }
  const fpr = fingerprintOf(existing);
  const primary = existing.keyPacket;
  const mine = keyRevs.filter((s) => s.issuerKeyID.equals(existing.getKeyID()));
  if (mine.length === 0) {
    return refuse('revocation-wrong-key', line('reason-revocation-wrong-key', { issuer: keyRevs[0].issuerKeyID.toHex(), fingerprint: fpr }),
      line('fix-revocation-wrong-key', {}));
  }
  let lastErr = line('why-signature-invalid', {});
  for (const sig of mine) {
    const err = await checkSignature(sig, primary, openpgp.enums.signature.keyRevocation, { key: primary }, cfg);
    if (err) {
      lastErr = err;
      continue;
    }
    const warnings: string[] = [];
    const h = hashName(sig.hashAlgorithm);
    if (isRejectedHash(policy, h)) warnings.push(line('warning-revocation-weak-hash', { hash: h.toUpperCase() }));
    if (isFutureDated(policy, sig.created, now)) {
      warnings.push(line('warning-revocation-future', {}));
    }
    const revoked = await cloneKey(existing);
    if (!revoked.revocationSignatures.some((s) => signatureId(s) === signatureId(sig))) revoked.revocationSignatures.push(sig);
    const stored = await cloneKey(revoked);
    const report = await inspectKey(stored, { collection: [], policy, now });
    return { ok: true, revokedKey: stored, fingerprint: fpr, reason: report.revocationReason, warnings };
  }
  return refuse('revocation-invalid', line('reason-revocation-invalid', { fingerprint: fpr, error: lastErr }), line('fix-revocation-invalid', {}));
}

const REVOCATION_BLOCK = blockKind('PGP PUBLIC KEY BLOCK', 'PGP SIGNATURE');

/**
 * The packets of a revocation certificate (armoured, gpg's ":-----BEGIN"
 * form included, or binary): only signatures, keys and user ids are read.
 */
export async function readRevocationPackets(input: string | Uint8Array, cfg: openpgp.Config): Promise<openpgp.PacketList<openpgp.AnyPacket>> {
  let bytes: Uint8Array;
  const text = typeof input === 'string' ? input : null;
  if (text !== null || Buffer.from(input as Uint8Array).subarray(0, 100).toString('latin1').includes('-----BEGIN PGP')) {
    const t = text ?? Buffer.from(input as Uint8Array).toString('latin1');
    // gpg prints a colon before the armour line so that a pasted revocation is not imported
    // by accident ("To avoid an accidental use of this file ... :-----BEGIN"): accept both.
    // A linear scan (blocks.ts), not a lazy regex retried from every BEGIN line.
    const block = armouredBlocks(t, [REVOCATION_BLOCK], 1)[0];
    if (block === undefined) throw new Error('no armoured block found');
    const un = await openpgp.unarmor(block, cfg);
    bytes = await readAllBytes(un.data);
  } else {
    bytes = input as Uint8Array;
  }
  // openpgp.js reads `allowedPackets` as a plain tag -> class object (its
  // util.constructAllowedPackets), whatever its typings say.
  const allowed = {
    [openpgp.enums.packet.signature]: openpgp.SignaturePacket,
    [openpgp.enums.packet.publicKey]: openpgp.PublicKeyPacket,
    [openpgp.enums.packet.publicSubkey]: openpgp.PublicSubkeyPacket,
    [openpgp.enums.packet.userID]: openpgp.UserIDPacket,
    [openpgp.enums.packet.userAttribute]: openpgp.UserAttributePacket,
  } as unknown as Map<openpgp.enums.packet, object>;
  return openpgp.PacketList.fromBinary(bytes, allowed, cfg);
}

async function readRevocationSignatures(input: string | Uint8Array, cfg: openpgp.Config): Promise<openpgp.SignaturePacket[]> {
  const list = await readRevocationPackets(input, cfg);
  return list.filter((p): p is openpgp.SignaturePacket => p instanceof openpgp.SignaturePacket);
}


/** Short text for one certification, for replies and logs. */
export function describeCert(c: CertInfo): string {
  const when = c.created ? c.created.toISOString().slice(0, 10) : 'undated';
  return `${c.issuerKeyId} on "${c.userId}" (${c.hashAlgorithm.toUpperCase()}, ${when})`;
}
