/**
 * The detached signature a VERIFY mail carries: an attached `.sig` or `.asc`
 * (binary or armoured), found by walking the raw MIME tree.
 *
 * Not mailparser's flat attachment list: it also lists the mail's OWN
 * PGP/MIME signature (the second part of a multipart/signed), which is the
 * sender's signature on the mail, not the release file's. The tree says
 * which part that is, so it is left out by position, whatever it is named.
 *
 * VERIFY is read-only and may come unsigned, so a file outside the signed
 * part is acceptable; the reply says which file it answered about and
 * whether the sender's good signature covered it. A signed one is preferred
 * when there are several.
 */
import type { Limits } from '../limits.js';
import { MESSAGE_BOUNDS } from '../limits.js';
import { decodedBody, getHeader, parseContentType, parseMime, type MimeNode } from '../mail/mime.js';
import { looksLikeSignature } from '../pgp/detached.js';
import type { CommandRequest } from './types.js';

export interface SignatureFile {
  /** The attachment's file name as given (Content-Disposition filename, else Content-Type name). */
  filename: string;
  content: Buffer;
  /** Inside the part a good signature by the sender covers. */
  signed: boolean;
  /** The content looks like OpenPGP signature data (armour or a signature packet). */
  readable: boolean;
}

const NAMED = /\.(sig|asc|sign)$/i;

function filenameOf(node: MimeNode): string | null {
  // Content-Disposition has the parameter syntax of Content-Type (RFC 2183),
  // so the same parser reads its filename (RFC 2231 continuations joined).
  const disposition = getHeader(node, 'content-disposition');
  const fromDisposition = disposition !== undefined ? parseContentType(disposition).params.filename : undefined;
  return fromDisposition ?? node.contentType.params.name ?? null;
}

/** Leaf parts of the tree, the signature part of every multipart/signed left out. */
function leaves(node: MimeNode, out: MimeNode[]): void {
  if (node.children.length === 0) {
    out.push(node);
    return;
  }
  const signedContainer = node.contentType.mime === 'multipart/signed';
  node.children.forEach((child, i) => {
    if (signedContainer && i === 1) return; // the sender's own signature on the mail
    leaves(child, out);
  });
}

/**
 * The attachments named *.sig, *.asc or *.sign that are not key blocks, at
 * most MESSAGE_BOUNDS.signatureAttachments of them; those that look like
 * signature data first, and among them those the sender's signature covers.
 */
export function signatureFiles(req: Pick<CommandRequest, 'raw' | 'signer' | 'verification'>, limits: Limits): SignatureFile[] {
  let root: MimeNode;
  try {
    root = parseMime(req.raw, limits).root;
  } catch {
    return []; // the dispatcher parsed this mail within the same limits; nothing to add here
  }
  const parts: MimeNode[] = [];
  leaves(root, parts);
  const found: SignatureFile[] = [];
  for (const node of parts) {
    if (found.length >= MESSAGE_BOUNDS.signatureAttachments) break;
    const filename = filenameOf(node);
    if (!filename || !NAMED.test(filename)) continue;
    const content = decodedBody(node);
    // A key published as .asc is not a signature; anything else so named is
    // answered about, and a file that is no signature gets the reason.
    const head = content.subarray(0, MESSAGE_BOUNDS.keySniffBytes).toString('latin1');
    if (/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----/.test(head)) continue;
    const signed = req.signer !== null && req.verification.signedAttachments.some((a) => a.content.equals(content));
    found.push({ filename, content, signed, readable: looksLikeSignature(content) });
  }
  // Signature data first, and among it what the sender's signature covers.
  const rank = (f: SignatureFile): number => (f.readable ? 0 : 2) + (f.signed ? 0 : 1);
  return found.sort((a, b) => rank(a) - rank(b));
}
