/**
 * The CLI entry point run in-process with its output captured (not a test
 * file): quicker than a child process where the process boundary does not
 * matter. Tests using it must run one at a time within their file.
 */
import { main } from '../../cli/main.js';

export async function runMain(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => { out += c.toString(); return true; });
  process.stderr.write = ((c: string | Uint8Array) => { err += c.toString(); return true; });
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}
