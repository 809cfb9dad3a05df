/**
 * From a downloaded file's name to the release it is (DESIGN.md,
 * "Source-signing keys"): `bash-5.3.tar.gz` is release `bash-5.3`, the name
 * key-and-source.md rows carry. Upstream projects publish one release under
 * several archive formats (`.tar.gz`, `.tar.xz`, `.zip`), each with its own
 * detached signature; the release is what a member vouched for, so every
 * one of them matches it.
 *
 * Only the file's base name counts (a path or URL before it is dropped), and
 * only known archive suffixes are cut, longest first: `foo-1.2.tar.gz` is
 * `foo-1.2`, never `foo-1.2.tar`. A name that keeps no valid release is
 * null. A signature suffix (`.sig`, `.asc`, `.sign`) is cut first, so the
 * signature's own name leads to the same release.
 */
import { parseRelease, type ReleaseName } from './naming.js';

/** Archive suffixes, compound ones first so that `.tar.gz` is cut whole. */
const ARCHIVE_SUFFIXES = [
  '.tar.gz', '.tar.xz', '.tar.bz2', '.tar.zst', '.tar.lz', '.tar.lzma', '.tar.lz4', '.tar.z',
  '.tgz', '.txz', '.tbz2', '.tbz', '.tzst', '.tlz',
  '.tar', '.zip', '.7z', '.gz', '.xz', '.bz2', '.zst', '.lz', '.lzma',
] as const;

const SIGNATURE_SUFFIXES = ['.sig', '.asc', '.sign'] as const;

/** The last path component of a name (`/` or `\` separated; a URL's path too). */
export function baseName(name: string): string {
  const noQuery = name.replace(/[?#].*$/, '');
  const parts = noQuery.split(/[/\\]/);
  return parts[parts.length - 1] ?? '';
}

function cutSuffix(name: string, suffixes: readonly string[]): string {
  const lower = name.toLowerCase();
  const s = suffixes.find((x) => lower.endsWith(x) && lower.length > x.length);
  return s ? name.slice(0, name.length - s.length) : name;
}

/** The file name a signature file signs: `bash-5.3.tar.gz.sig` -> `bash-5.3.tar.gz`; null when it has no signature suffix. */
export function signedFileName(signatureName: string): string | null {
  const base = baseName(signatureName);
  const cut = cutSuffix(base, SIGNATURE_SUFFIXES);
  return cut === base ? null : cut;
}

/** The release an artifact (or its signature) is: `bash-5.3.tar.gz` -> bash-5.3; null when no release name is left. */
export function releaseOfArtifact(name: string): ReleaseName | null {
  const base = cutSuffix(baseName(name), SIGNATURE_SUFFIXES);
  const release = cutSuffix(base, ARCHIVE_SUFFIXES);
  return parseRelease(release);
}

/** The artifact's name names this release (case-insensitive, as the store's index compares them). */
export function artifactMatchesRelease(artifact: string, release: string): boolean {
  const r = releaseOfArtifact(artifact);
  return r !== null && r.release.toLowerCase() === release.toLowerCase();
}

/**
 * The archive or signature suffix a name ends with (`bash-5.3.tar.gz` ->
 * `.tar.gz`), else null: a release named so is a file's name, and no
 * downloaded file would ever match it (releaseOfArtifact cuts the suffix).
 */
export function fileSuffixOf(name: string): string | null {
  const lower = name.toLowerCase();
  return [...SIGNATURE_SUFFIXES, ...ARCHIVE_SUFFIXES].find((x) => lower.endsWith(x) && lower.length > x.length) ?? null;
}
