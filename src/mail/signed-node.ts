/**
 * Which signed entity of a message verifyMail checks, and whether a
 * signature there may speak for the sender (issue 8 item 14).
 *
 * Only the message itself, or a list's wrapper around it (Mailman puts the
 * signed entity FIRST in a multipart/mixed and its footer after), may carry
 * the sender's command. A signed mail forwarded as message/rfc822 or
 * message/global, attached as a file, or placed after other parts is
 * someone's signature on something the sender passed along: it is still
 * verified and reported, never counted as the sender's.
 */
import {
  canonicalizeLineEndings, decodedBody, getHeader, walkMime, type MimeNode,
} from './mime.js';

export type Placement = { authorises: true } | { authorises: false; reason: string };

export type Candidate =
  | { kind: 'pgpmime'; node: MimeNode; placement: Placement }
  | { kind: 'inline'; node: MimeNode; text: Buffer; placement: Placement };

/**
 * The signed entity to check: the first PGP/MIME node in an authorising
 * position, else the first inline one there; only when neither exists, the
 * first PGP/MIME (then inline) node anywhere, to be reported as not
 * authorising. So a forwarded signed mail never hides the sender's own
 * signature beside it.
 */
export function chooseSignedNode(root: MimeNode): Candidate | undefined {
  const parents = parentMap(root);
  const found: Candidate[] = [];
  for (const n of walkMime(root)) {
    if (n.contentType.mime === 'multipart/signed'
      && (n.contentType.params.protocol ?? '').trim().toLowerCase() === 'application/pgp-signature') {
      found.push({ kind: 'pgpmime', node: n, placement: placementOf(n, parents, ['multipart/mixed']) });
    } else if (n.children.length === 0 && n.contentType.mime === 'text/plain' && !isAttachment(n)) {
      const text = canonicalizeLineEndings(decodedBody(n));
      if (BEGIN_LINE.test(text.toString('latin1'))) {
        // Clients that send inline-signed text beside HTML put it first in a multipart/alternative.
        found.push({ kind: 'inline', node: n, text, placement: placementOf(n, parents, ['multipart/mixed', 'multipart/alternative']) });
      }
    }
  }
  const order = (c: Candidate) => (c.placement.authorises ? 0 : 2) + (c.kind === 'pgpmime' ? 0 : 1);
  return found.sort((a, b) => order(a) - order(b))[0];
}

function parentMap(root: MimeNode): Map<MimeNode, { parent: MimeNode; index: number }> {
  const m = new Map<MimeNode, { parent: MimeNode; index: number }>();
  for (const n of walkMime(root)) n.children.forEach((c, index) => m.set(c, { parent: n, index }));
  return m;
}

/**
 * May a signature on this node speak for the sender? Only when it is the
 * message itself, or the first part of (a chain of) wrappers a list adds.
 */
function placementOf(node: MimeNode, parents: Map<MimeNode, { parent: MimeNode; index: number }>, wrappers: string[]): Placement {
  const chain: Array<{ parent: MimeNode; index: number }> = [];
  for (let p = parents.get(node); p; p = parents.get(p.parent)) chain.push(p);
  const forwarded = chain.find((c) => c.parent.contentType.type === 'message');
  if (forwarded) {
    return { authorises: false, reason: `the signed part is inside a forwarded message (${forwarded.parent.contentType.mime}): the signature is the forwarded author's, not the sender's` };
  }
  // The root's own disposition says nothing about what the sender wrote; below it, "attachment" means a file.
  if ([node, ...chain.map((c) => c.parent)].some((n) => n.depth > 0 && isAttachment(n))) {
    return { authorises: false, reason: 'the signed part is attached as a file (Content-Disposition: attachment): it is a document the sender passed along, not their message' };
  }
  for (const c of chain) {
    if (!wrappers.includes(c.parent.contentType.mime)) {
      return { authorises: false, reason: `the signed part is inside a ${c.parent.contentType.mime}, which is neither the message nor a list's wrapper` };
    }
    if (c.index !== 0) {
      return { authorises: false, reason: `the signed part is part ${c.index + 1} of a ${c.parent.contentType.mime}; only the first part (a list puts its footer after it) speaks for the sender` };
    }
  }
  return { authorises: true };
}

export function placementWarnings(node: MimeNode, placement: Placement): string[] {
  if (!placement.authorises) return [`${placement.reason}; it does not authorise a command`];
  if (node.depth > 0) return [`the signed part is not the whole message (${node.path}); text outside it is not authenticated`];
  return [];
}

export function findSmimeNode(root: MimeNode): MimeNode | undefined {
  for (const n of walkMime(root)) {
    const proto = (n.contentType.params.protocol ?? '').trim().toLowerCase();
    if (n.contentType.mime === 'multipart/signed' && /^application\/(x-)?pkcs7-signature$/.test(proto)) return n;
    if (/^application\/(x-)?pkcs7-mime$/.test(n.contentType.mime)) return n;
  }
  return undefined;
}

function isAttachment(n: MimeNode): boolean {
  return /^\s*attachment\b/i.test(getHeader(n, 'content-disposition') ?? '');
}

/** The cleartext BEGIN line at the start of a line (CRLF text). */
export const BEGIN_LINE = /(?:^|\r\n)-----BEGIN PGP SIGNED MESSAGE-----[ \t]*(?:\r\n|$)/;
