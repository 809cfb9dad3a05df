/**
 * `ztrust-bot check-mail PATH... [--keyring FILE]... [--json]`
 *
 * Exit status (DESIGN.md): 0 when every message verified 'good', 1 when any
 * did not, 2 on a usage or configuration error (a missing path or keyring,
 * a keyring that is not OpenPGP). Exits go through commander's `error()`, so
 * a program built with `exitOverride()` gets a CommanderError instead of a
 * process exit. Output goes through the command's output configuration
 * (`configureOutput`), so it can be captured in-process.
 *
 * Async action: the program must be run with `parseAsync`.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeError } from '../src/errors.js';
import { Keyring } from '../src/pgp/keyring.js';
import { checkMailPaths, type CheckMailResult } from '../src/mail/checkmail.js';

interface CheckMailOptions { keyring: string[]; json?: boolean }

const USAGE = 'ztrust.check-mail.usage';
const FINDINGS = 'ztrust.check-mail.findings';

/** The action of `check-mail` (its options are defined in cli/main.ts). */
export async function checkMail(paths: string[], opts: CheckMailOptions, cmd: Command): Promise<void> {
  const out = cmd.configureOutput();
  const write = (s: string) => (out.writeOut ? out.writeOut(s) : process.stdout.write(s));
  const writeErr = (s: string) => (out.writeErr ? out.writeErr(s) : process.stderr.write(s));
  for (const p of paths) {
    try {
      await stat(p);
    } catch (err) {
      cmd.error(`check-mail: ${p}: ${describeError(err)}`, { exitCode: 2, code: USAGE });
    }
  }
  const keyring = await loadKeyrings(cmd, opts.keyring);
  let total = 0;
  let notGood = 0;
  for await (const r of checkMailPaths(paths, keyring)) {
    total++;
    if (r.verdict !== 'good') notGood++;
    write(opts.json ? `${JSON.stringify(r)}\n` : formatLine(r));
  }
  if (total === 0) writeErr('check-mail: no messages found\n');
  if (notGood > 0) {
    cmd.error(`check-mail: ${notGood} of ${total} message${total === 1 ? '' : 's'} did not verify as good`, { exitCode: 1, code: FINDINGS });
  }
}

async function loadKeyrings(cmd: Command, files: string[]): Promise<Keyring> {
  if (files.length === 0) return Keyring.fromKeys([]);
  const texts: string[] = [];
  for (const f of files) {
    try {
      texts.push(await readFile(f, 'utf8'));
    } catch (err) {
      cmd.error(`check-mail: --keyring ${f}: ${describeError(err)}`, { exitCode: 2, code: USAGE });
    }
  }
  try {
    return await Keyring.fromArmored(texts.join('\n'));
  } catch (err) {
    cmd.error(`check-mail: --keyring: ${describeError(err)}`, { exitCode: 2, code: USAGE });
  }
}

/** A readable line (and a hint line when something broke); control characters masked, text ASCII. */
export function formatLine(r: CheckMailResult): string {
  const clean = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
  // eslint-disable-next-line no-control-regex -- file names are hostile input: control characters are what this removes
  const cleanName = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, '?');
  let line = `${cleanName(r.file)}: ${r.verdict} (${r.kind})`;
  // Only a good signature identifies a signer; otherwise name the key the signature claims.
  if (r.signer && r.verdict === 'good') line += ` signer ${r.signer}`;
  else if (r.signer) line += ` key ${r.signer}`;
  else if (r.keyId) line += ` key ${r.keyId}`;
  if (r.signedPartPath) line += ` at ${r.signedPartPath}`;
  line += ` - ${clean(r.detail)}\n`;
  if (r.hint && r.verdict !== 'good') line += `  hint: ${clean(r.hint)}\n`;
  return line;
}
