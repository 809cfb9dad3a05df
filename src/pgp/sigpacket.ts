/**
 * Read what a signature packet says about itself (version, type, public-key
 * and hash algorithm ids, issuer, creation time) straight from its bytes,
 * BEFORE any verification.
 *
 * Why not ask openpgp.js: it skips packets it does not support (a v3
 * signature became "no signature packet"), and throws on algorithms it
 * refuses, so its errors cannot tell "refused by the policy" from "changed
 * after signing". The policy must see the ids even then. This reader
 * understands only the octets it needs (RFC 9580 sections 4.2, 5.2.2, 5.2.3
 * and RFC 4880 5.2.2 for v3) and never throws: anything it cannot read ends
 * the scan, and openpgp.js later reports the damage as it always did.
 *
 * Hostile input: one pass over the bytes, every length checked against the
 * buffer, no allocation proportional to a claimed length; the input is
 * already bounded by the message size limit.
 */

export interface SignaturePacketFacts {
  version: number;
  signatureType: number | null;
  publicKeyId: number;
  hashId: number;
  /** 16 upper-case hex digits, when the packet names it. */
  issuerKeyId: string | null;
  created: Date | null;
}

const SIGNATURE_TAG = 2;

/** Every signature packet in a binary OpenPGP stream that is readable enough to name its algorithms. */
export function readSignaturePackets(bytes: Uint8Array): SignaturePacketFacts[] {
  return signaturePacketsWithOctets(bytes).map((p) => p.facts);
}

/**
 * The same packets as readSignaturePackets, in the same order, each with its
 * own octets (header and body): a file holding several signatures is checked
 * packet by packet, each on its own, not "the first one by this key id".
 */
export function signaturePacketsWithOctets(bytes: Uint8Array): { facts: SignaturePacketFacts; octets: Uint8Array }[] {
  const out: { facts: SignaturePacketFacts; octets: Uint8Array }[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const head = packetHeader(bytes, pos);
    if (!head) break;
    if (head.tag === SIGNATURE_TAG) {
      const facts = signatureFacts(bytes.subarray(head.bodyStart, head.bodyEnd));
      if (facts) out.push({ facts, octets: bytes.subarray(pos, head.bodyEnd) });
    }
    pos = head.bodyEnd;
  }
  return out;
}

function packetHeader(b: Uint8Array, pos: number): { tag: number; bodyStart: number; bodyEnd: number } | null {
  const first = b[pos];
  if (first === undefined || (first & 0x80) === 0) return null;
  let tag: number;
  let start: number;
  let length: number;
  if (first & 0x40) {
    tag = first & 0x3f;
    const o1 = b[pos + 1];
    if (o1 === undefined) return null;
    if (o1 < 192) { start = pos + 2; length = o1; }
    else if (o1 < 224) {
      if (pos + 2 >= b.length) return null;
      start = pos + 3; length = ((o1 - 192) << 8) + b[pos + 2] + 192;
    } else if (o1 === 255) {
      if (pos + 5 >= b.length) return null;
      start = pos + 6; length = readU32(b, pos + 2);
    } else {
      return null; // partial body lengths are not allowed for signature packets
    }
  } else {
    tag = (first >> 2) & 0x0f;
    const n = [1, 2, 4][first & 3];
    if (n === undefined) { start = pos + 1; length = b.length - start; } // indeterminate: to the end
    else {
      if (pos + n >= b.length) return null;
      start = pos + 1 + n;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + b[pos + 1 + i];
    }
  }
  const end = start + length;
  if (end > b.length) return null;
  return { tag, bodyStart: start, bodyEnd: end };
}

function signatureFacts(body: Uint8Array): SignaturePacketFacts | null {
  const version = body[0];
  if (version === undefined) return null;
  if (version === 3 || version === 2) {
    // version, 5 (hashed length), type, created(4), key id(8), pk algo, hash algo, left16, MPIs
    if (body.length < 19 || body[1] !== 5) return null;
    return {
      version, signatureType: body[2], publicKeyId: body[15], hashId: body[16],
      issuerKeyId: hex(body.subarray(7, 15)), created: new Date(readU32(body, 3) * 1000),
    };
  }
  // v4/v5/v6: version, type, pk algo, hash algo, hashed subpackets (2 or 4 octets of length), unhashed ...
  if (body.length < 4) return null;
  const facts: SignaturePacketFacts = {
    version, signatureType: body[1], publicKeyId: body[2], hashId: body[3], issuerKeyId: null, created: null,
  };
  if (version === 4 || version === 5 || version === 6) readSubpackets(body, version === 4 ? 2 : 4, facts);
  return facts;
}

/** Creation time (2), issuer key id (16) and issuer fingerprint (33) from both subpacket areas; stops at damage. */
function readSubpackets(body: Uint8Array, lengthOctets: 2 | 4, facts: SignaturePacketFacts): void {
  let p = 4;
  for (let area = 0; area < 2; area++) {
    if (p + lengthOctets > body.length) return;
    const len = lengthOctets === 2 ? (body[p] << 8) | body[p + 1] : readU32(body, p);
    p += lengthOctets;
    const end = p + len;
    if (end > body.length) return;
    while (p < end) {
      let sl = body[p];
      let hl = 1;
      if (sl >= 192 && sl < 255) { sl = ((sl - 192) << 8) + body[p + 1] + 192; hl = 2; }
      else if (sl === 255) { sl = readU32(body, p + 1); hl = 5; }
      if (!Number.isFinite(sl) || sl < 1 || p + hl + sl > end) return;
      const type = body[p + hl] & 0x7f;
      const data = body.subarray(p + hl + 1, p + hl + sl);
      if (type === 2 && data.length === 4 && facts.created === null) facts.created = new Date(readU32(data, 0) * 1000);
      if (type === 16 && data.length === 8) facts.issuerKeyId ??= hex(data);
      // Issuer fingerprint: version octet then the fingerprint; a v4 key id is its last 8 octets, a v6 one its first 8.
      if (type === 33 && data.length === 21) facts.issuerKeyId ??= hex(data.subarray(13));
      if (type === 33 && data.length === 33) facts.issuerKeyId ??= hex(data.subarray(1, 9));
      p += hl + sl;
    }
    p = end;
  }
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase();
}
