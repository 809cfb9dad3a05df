/**
 * The words of the bot's mail come from templates/ (one file each), never
 * from code: the working group edits them without touching the source.
 * Prose is rendered with src/templates.ts; a header line (a Subject) or a
 * clause put into another template is the same, rendered on one line.
 */
// One implementation, in the kernel (src/templates.ts), so pgp/ and policy/ can use it without a folder cycle.
export { line } from '../templates.js';
