/**
 * What an approved ticket asks the apply step to do: the exact data the
 * maintainers approved, stored as JSON with the ticket and with the change
 * request (never a reference to something that could change in between).
 * Here, beside the tickets, because the handlers that open tickets
 * (commands/) and the apply step (changes/) both need it, and neither may
 * import the other.
 */
export type ChangePayload =
  /** The stripped key exactly as shown in the ticket content. */
  | { kind: 'add-key'; fingerprint: string; armored: string }
  /** A copy whose acceptable additions are merged into the stored key at apply time. */
  | { kind: 'update-key'; fingerprint: string; armored: string }
  /** A key revocation certificate (gpg --gen-revoke output) or a revoked copy of the key. */
  | { kind: 'revoke-key'; fingerprint: string; revocation: string }
  /** The certificate bytes as submitted (base64) and its detached signature (null: it chains to a collection certificate). */
  | { kind: 'add-cert'; name: string; pemBase64: string; signature: string | null }
  /**
   * An upstream release-signing key for pgp/for-source/, stripped as shown in
   * the ticket, the releases it is vouched for, and where the voucher checked
   * its fingerprint (their words, or null).
   */
  | { kind: 'add-source-key'; fingerprint: string; armored: string; releases: string[]; checked: string | null }
  /** More releases for a key already in pgp/for-source/. */
  | { kind: 'add-source-release'; fingerprint: string; releases: string[] }
  /** An approved trust-root draft (the draft and its approvals are in the store). */
  | { kind: 'root'; version: number; digest: string };
