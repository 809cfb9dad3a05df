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
import { render } from '../templates.js';
import { contentValue } from '../text/value.js';
import { isoSeconds } from '../tickets/ticket.js';
import { armouredBlocks, blockKind } from '../text/blocks.js';
import { describeKey, readCollection, refused } from './common.js';
import { openTicket } from './ticketing.js';
import { NAME_BOUNDS } from '../limits.js';
import type { CommandRequest, Handler } from './types.js';

const CMD = 'SUBMIT CERT';
// Found by a linear scan (src/text/blocks.ts), never a lazy regex over untrusted text.
const PEM_BLOCK = [blockKind('CERTIFICATE')];
const SIG_BLOCK = [blockKind('PGP SIGNATURE')];
const HOWTO = 'attach NAME.crt and the output of gpg --local-user YOUR-FINGERPRINT --armor --detach-sign NAME.crt (NAME.crt.asc) unchanged, below the line SUBMIT CERT NAME, and sign the mail with your collection key';

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
    return refused(CMD, 'signer-not-in-collection', `the mail is signed by ${req.signer ?? 'no key'}, which is not a collection key`,
      'sign the SUBMIT CERT mail with your key in the collection');
  }
  let name: string;
  try {
    if (!req.command.args[0]) throw new Error('no name given');
    name = validateCertName(req.command.args[0]);
  } catch (err) {
    return refused(CMD, 'cert-name', contentValue((err as Error).message, 300),
      `name the certificate on the command line: SUBMIT CERT my-root-ca (a-z 0-9 . _ -, up to ${NAME_BOUNDS.certNameChars} characters)`);
  }
  const m = certMaterial(req);
  if (m.pems.length === 0) return refused(CMD, 'no-certificate', 'the signed part of your mail carries no certificate', HOWTO);
  if (m.pems.length > 1) return refused(CMD, 'one-certificate', `the signed part carries ${m.pems.length} certificates`, 'send one certificate per SUBMIT CERT mail');
  if (m.signatures.length > 1) return refused(CMD, 'one-signature', `the signed part carries ${m.signatures.length} detached signatures`, 'send exactly one NAME.crt.asc');
  const signature = m.signatures[0] ?? null;

  const collection = await readCollection(cfg);
  const certs = collection ? await collection.certs() : [];
  if (certs.some((c) => c.name === name)) {
    return refused(CMD, 'cert-name-taken', `the collection already holds a certificate named ${name}`,
      'choose another name; replacing a certificate is not done by mail');
  }
  const open = await ctx.store.openTicketsFor(name);
  if (open.length > 0) {
    return refused(CMD, 'already-pending', `a certificate named ${name} already waits for the maintainers: ticket ${open[0].id}`,
      `wait for the decision on ${open[0].id}, or choose another name`);
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
  const via = r.via === 'signature' ? `signed by ${await describeKey(ctx.keyring.findByFingerprint(r.signer)!, ctx.policy, req.now)}`
    : `issued by collection certificate ${r.issuer}`;
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
