/** Types for scripts/source-manifest.js (plain JavaScript: the bin runs it before any build). */
export function sourceManifest(root: string): string | null;
export function firstDifference(built: string, now: string): string;
