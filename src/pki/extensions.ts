/**
 * The X.509 facts node:crypto does not expose: the basicConstraints and
 * keyUsage extensions as they are written, and the signature algorithm OID.
 * (node:crypto's X509Certificate.ca answers "may act as a CA", checkIssued
 * tolerates a missing keyUsage, and it has no signature algorithm at all.)
 *
 * Read with @sigstore/core's DER parser (sigstore-js, already in the tree
 * through @sigstore/verify) behind this small interface, so the parser can be
 * swapped for @peculiar/x509 or a newer node:crypto without touching the
 * policy code. No ASN.1 is hand-written here.
 */
import { X509Certificate as SigstoreX509 } from '@sigstore/core';

export interface CertExtensions {
  /** 'v1' | 'v2' | 'v3' */
  version: string;
  /** null when the extension is absent. */
  basicConstraints: { ca: boolean; pathLen: number | null; critical: boolean } | null;
  /** null when the extension is absent. */
  keyUsage: { keyCertSign: boolean; crlSign: boolean; digitalSignature: boolean; critical: boolean } | null;
  /** The outer signatureAlgorithm OID, dotted. */
  signatureAlgorithmOid: string;
  /** For RSASSA-PSS: the hash OID from its parameters (absent parameters mean SHA-1). */
  pssHashOid: string | null;
}

/** @throws Error when the DER is not a certificate the parser understands. */
export function readExtensions(der: Buffer): CertExtensions {
  const cert = SigstoreX509.parse(der as Buffer<ArrayBuffer>);
  const bc = cert.extBasicConstraints;
  const ku = cert.extKeyUsage;
  let version: string;
  try {
    version = cert.version;
  } catch {
    version = 'v1'; // no explicit version field: v1
  }
  const pathLen = bc?.pathLenConstraint;
  return {
    version,
    basicConstraints: bc ? { ca: bc.isCA, pathLen: pathLen === undefined ? null : Number(pathLen), critical: bc.critical } : null,
    keyUsage: ku ? { keyCertSign: ku.keyCertSign, crlSign: ku.crlSign, digitalSignature: ku.digitalSignature, critical: ku.critical } : null,
    signatureAlgorithmOid: cert.root.subs[1].subs[0].toOID(),
    pssHashOid: pssHash(cert),
  };
}

const PSS_OID = '1.2.840.113549.1.1.10';
const SHA1_OID = '1.3.14.3.2.26';

/** RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, ... } (RFC 4055). */
function pssHash(cert: SigstoreX509): string | null {
  const alg = cert.root.subs[1];
  if (alg.subs[0].toOID() !== PSS_OID) return null;
  const params = alg.subs[1];
  const hashField = params?.subs.find((s) => s.tag.isContextSpecific(0));
  const oid = hashField?.subs[0]?.subs[0];
  return oid ? oid.toOID() : SHA1_OID;
}
