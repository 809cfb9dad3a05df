/**
 * SUBMIT CERT <name>: a volunteer PKI root certificate. The mail is signed
 * by a collection key; it carries the certificate (PEM, attached or in the
 * signed text) and a detached armoured OpenPGP signature by a collection key
 * over the certificate's exact bytes, or no signature when the certificate
 * is issued by a certificate already in the collection. An acceptable
 * certificate becomes a ticket; the bytes stored are the bytes submitted.
 */
import * as openpgp from 'openpgp';
import { validateCertName } from '../collection/naming.js';
import { fingerprintOf } from '../pgp/inspect.js';
import { checkSubmittedCert, type CertSubmission } from '../pki/x509.js';
import { clause, render } from '../templates.js';
import { contentValue } from '../text/value.js';
import { isoSeconds } from '../tickets/ticket.js';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import { describeKey, readCollection, refused } from './common.js';
import { openTicket } from './ticketing.js';
import { NAME_BOUNDS } from '../limits.js';
import type { CommandRequest, Handler } from './types.js';
import { line } from '../outbound/wording.js';

const CMD = 'SUBMIT CERT';
// Found by a linear scan (src/text/blocks.ts), never a lazy regex over untrusted text.
const PEM_BLOCK = [blockKind('CERTIFICATE')];
const SIG_BLOCK = [blockKind('PGP SIGNATURE')];

interface CertMaterial {
  /** Candidate byte forms of the certificate (an attachment: exactly one; pasted text: LF, then CRLF). */
  pems: Buffer[][];
  signatures: string[];
}

/** Certificates and signatures in the signed content only. */
export function certMaterial(req: CommandRequest): CertMaterial {
  const pems: Buffer[][] = [];
  const signatures: string[] = [];
  for (const a of req.verification.signedAttachments) {
    const name = (a.filename ?? '').toLowerCase();
    const type = a.contentType.toLowerCase();
    const text = a.content.toString('latin1');
    if (type === 'application/pgp-signature' || /\.(asc|sig)$/.test(name)) {
      const blocks = armouredBlocks(text, SIG_BLOCK);
      if (blocks.length) signatures.push(...blocks.map((b) => b.replace(/\r\n/g, '\n') + '\n'));
      else if (a.content.length > 0 && (a.content[0] & 0x80) !== 0) {
        // A binary .sig: stored armoured, like the group's .crt.asc files.
        signatures.push(openpgp.armor(openpgp.enums.armor.signature, a.content));
      }
      continue;
    }
    if (/\.(crt|pem|cer|der)$/.test(name) || /x-x509|pkix-cert|x509-ca-cert|pem-file/.test(type) || text.includes('-----BEGIN CERTIFICATE-----')) {
      pems.push([a.content]);
    }
  }
  const following = req.command.following;
  for (const b of armouredBlocks(following, PEM_BLOCK)) {
    // Pasted text lost its original line ends; the usual file forms are tried in turn.
    const lf = b.replace(/\r\n/g, '\n');
    pems.push([Buffer.from(`${lf}\n`, 'latin1'), Buffer.from(`${lf.replace(/\n/g, '\r\n')}\r\n`, 'latin1')]);
  }
  for (const b of armouredBlocks(following, SIG_BLOCK)) signatures.push(`${b.replace(/\r\n/g, '\n')}\n`);
  return { pems, signatures };
}

export const submitCertHandler: Handler = async (req, ctx) => {
  const cfg = ctx.config;
  const signerKey = req.signer ? ctx.keyring.findByFingerprint(req.signer) : undefined;
  if (!req.signer || !signerKey || fingerprintOf(signerKey) !== req.signer) {
    return refused(CMD, 'signer-not-in-collection', line('reason-signer-not-in-collection', { signer: req.signer }),
      line('fix-signer-not-in-collection', {}));
  }
  let name: string;
  try {
    if (!req.command.args[0]) throw new Error('no name given');
    name = validateCertName(req.command.args[0]);
  } catch (err) {
    return refused(CMD, 'cert-name', contentValue((err as Error).message, 300),
      line('fix-cert-name', { chars: NAME_BOUNDS.certNameChars }));
  }
  const m = certMaterial(req);
  if (m.pems.length === 0) return refused(CMD, 'no-certificate', line('reason-no-certificate', {}), line('fix-submit-cert-howto', {}));
  if (m.pems.length > 1) return refused(CMD, 'one-certificate', line('reason-one-certificate', { count: m.pems.length }), line('fix-one-certificate', {}));
  if (m.signatures.length > 1) return refused(CMD, 'one-signature', line('reason-one-signature', { count: m.signatures.length }), line('fix-one-signature', {}));
  const signature = m.signatures[0] ?? null;

  const collection = await readCollection(cfg);
  const certs = collection ? await collection.certs() : [];
  if (certs.some((c) => c.name === name)) {
    return refused(CMD, 'cert-name-taken', line('reason-cert-name-taken', { name }), line('fix-cert-name-taken', {}));
  }
  const open = await ctx.store.openTicketsFor(name);
  if (open.length > 0) {
    return refused(CMD, 'already-pending', line('reason-already-pending-submit-cert', { name, ticket: open[0].id }),
      line('fix-already-pending-submit-cert', { ticket: open[0].id }));
  }

  let chosen: { pem: Buffer; r: CertSubmission & { ok: true } } | null = null;
  let firstRefusal: (CertSubmission & { ok: false }) | null = null;
  for (const form of m.pems[0]) {
    const r = await checkSubmittedCert(form, signature, {
      collectionKeys: ctx.keyring, collectionCerts: certs.map((c) => ({ name: c.name, pem: c.pem })),
      policy: ctx.policy, now: req.now, limits: cfg.limits,
    });
    if (r.ok) {
      chosen = { pem: form, r };
      break;
    }
    firstRefusal ??= r;
  }
  if (!chosen) {
    const r = firstRefusal!;
    return refused(CMD, r.check.ok ? 'certificate-signature' : 'ca-certificate',
      contentValue(r.reasons.join('; '), 600), r.fix);
  }
  const { pem, r } = chosen;
  const c = r.check;
  const via = r.via === 'signature' ? clause('via-signature', { key: await describeKey(ctx.keyring.findByFingerprint(r.signer)!, ctx.policy, req.now) })
    : clause('via-issuer', { issuer: r.issuer });
  const summary: [string, string][] = [
    ['Name', name],
    ['Certificate-Subject', c.subject],
    ['Certificate-Issuer', c.issuer],
    ['Certificate-SHA256', c.sha256],
    ['File-SHA256', c.fileSha256],
    ['Valid-From', c.notBefore ? isoSeconds(c.notBefore) : 'unknown'],
    ['Valid-Until', c.notAfter ? isoSeconds(c.notAfter) : 'unknown'],
    ['Public-Key', `${c.keyAlg}${c.bits ? ` ${c.bits}` : ''}${c.curve ? ` ${c.curve}` : ''}`],
    ['Admitted-By', r.via === 'signature' ? `signature by ${r.signer}` : `chain to ${r.issuer}`],
  ];
  // The content shows the certificate as text when it is PEM in ASCII, and
  // always commits to the exact bytes through File-SHA256.
  const pemText = pem.toString('latin1');
  // eslint-disable-next-line no-control-regex
  const printable = !/[^\x09\x0a\x0d\x20-\x7e]/.test(pemText);
  const data = [printable ? pemText : `(binary certificate, ${pem.length} bytes; see File-SHA256)`, signature ?? ''].join('\n');
  const what = `certificate ${name} (${contentValue(c.subject, 48)})`;
  const t = await openTicket(req, ctx, {
    kind: 'add-cert', subject: name, what, summary, data,
    payload: { kind: 'add-cert', name, pemBase64: pem.toString('base64'), signature },
  });
  return {
    status: 'pending',
    fields: { Ticket: t.id, 'Ticket-Digest': t.digest },
    body: render('ticket-opened', {
      command: CMD, ticket: t.id, what, threshold: cfg.threshold, expires: isoSeconds(t.expires),
      details: [`Subject: ${contentValue(c.subject, 200)}`, `SHA-256: ${c.sha256}`, `admitted: ${via}`],
      stripped: [], warnings: r.warnings, notes: t.notes,
    }),
    extra: t.notices,
    effects: [t.effect],
    outcome: `${CMD}:pending:${t.id}`,
  };
};
