/**
 * The words of the bot's mail come from templates/ (one file each), never
 * from code: the working group edits them without touching the source.
 * Prose is rendered with src/templates.ts; a header line (a Subject) or a
 * clause put into another template is the same, rendered on one line.
 */
import { render } from '../templates.js';

/** A template rendered as one line: its line ends become spaces, outer whitespace goes. */
export function line(name: string, view: Record<string, unknown>): string {
  return render(name, view).replace(/\s*\r?\n\s*/g, ' ').trim();
}
