/**
 * The command starts without the code it does not run (issue 10, item 6):
 * `--help`, `<command> --help` and usage errors load cli/main.js and
 * src/errors.js of ours, and commander; no command's module, and none of
 * the heavy packages (openpgp, BullMQ, ioredis, SQLite, mailparser,
 * imapflow, zod...). Run on the compiled build as a user runs it
 * (bin/ztrust-bot.js -> dist/bundle/; `npm test` builds first), with a
 * resolve hook (test/harness/import-recorder.js) recording every module URL
 * the process resolves, a bundle chunk standing for the sources esbuild put
 * in it (dist/bundle/meta.json). Not timed: bench/cli-start.ts measures the start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TICKET_STATES } from '../../src/tickets/ticket.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'ztrust-bot.js');
const HOOK = pathToFileURL(path.join(ROOT, 'test', 'harness', 'import-recorder.js')).href;

const HEAVY = ['openpgp', 'bullmq', 'ioredis', 'better-sqlite3', 'mailparser', 'imapflow', 'zod', 'nodemailer', 'yaml', 'pino',
  'mustache', '@sigstore/core', 'tsx'];

/** Runs the command with the recorder; its exit status, output and the resolved module URLs. */
function runRecorded(args: string[]): { status: number | null; stdout: string; stderr: string; urls: string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zcli-start-'));
  const log = path.join(dir, 'resolved.txt');
  try {
    const register = `import { register } from 'node:module'; register(${JSON.stringify(HOOK)}, { data: { log: ${JSON.stringify(log)} } });`;
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args],
      { encoding: 'utf8', cwd: dir, env: { ...process.env, ZTRUST_CONFIG: path.join(dir, 'none.yaml') } });
    let urls: string[] = [];
    try {
      urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    } catch { /* nothing resolved: the assertions below say so */ }
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, urls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What esbuild put in each file of dist/bundle/ (scripts/build.js writes it):
 * a chunk loaded means every source in it was loaded.
 */
let meta: { outputs: Record<string, { inputs: Record<string, unknown> }> } | null = null;
function bundleMeta(): NonNullable<typeof meta> {
  meta ??= JSON.parse(readFileSync(path.join(ROOT, 'dist', 'bundle', 'meta.json'), 'utf8')) as NonNullable<typeof meta>;
  return meta;
}

/**
 * The packages (node_modules/<name>/) and our own files (relative to the
 * package root) among the URLs, a bundle chunk counted as the sources in it.
 */
function loaded(urls: string[]): { packages: Set<string>; ours: Set<string> } {
  const packages = new Set<string>();
  const ours = new Set<string>();
  const root = `${pathToFileURL(ROOT).href}/`;
  const add = (rel: string): void => {
    const pkg = /^(?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(rel);
    if (pkg) packages.add(pkg[1]);
    else if (rel.startsWith('dist/bundle/')) {
      const chunk = bundleMeta().outputs[rel];
      assert.ok(chunk, `${rel} is not in dist/bundle/meta.json`);
      for (const input of Object.keys(chunk.inputs)) add(input);
    } else ours.add(rel);
  };
  for (const u of urls) if (u.startsWith(root)) add(u.slice(root.length));
  return { packages, ours };
}

const LIGHT = [
  { args: ['--help'], status: 0, out: /Usage: ztrust-bot \[options\] \[command\]/ },
  { args: ['verify-proof', '--help'], status: 0, out: /Usage: ztrust-bot verify-proof \[options\] <file>/ },
  { args: ['run', '--help'], status: 0, out: /--once/ },
  { args: ['log', 'consistency', '--help'], status: 0, out: /Usage: ztrust-bot log consistency/ },
  { args: ['check-mail'], status: 2, err: /missing required argument 'path'/ },
  { args: ['frobnicate'], status: 2, err: /unknown command 'frobnicate'/ },
  { args: ['digest', '--bogus'], status: 2, err: /unknown option '--bogus'/ },
];

for (const c of LIGHT) {
  test(`ztrust-bot ${c.args.join(' ')}: exit ${c.status}, loads only its build check, cli/main.js, src/errors.js and commander`, () => {
    const r = runRecorded(c.args);
    assert.equal(r.status, c.status, r.stderr);
    if (c.out) assert.match(r.stdout, c.out);
    if (c.err) assert.match(r.stderr, c.err);
    const { packages, ours } = loaded(r.urls);
    assert.deepEqual([...packages].filter((p) => HEAVY.includes(p)), [], `heavy packages loaded: ${[...packages].join(' ')}`);
    assert.deepEqual([...packages], ['commander']);
    assert.deepEqual([...ours].sort(), ['bin/ztrust-bot.js', 'dist/cli/main.js', 'dist/src/errors.js', 'scripts/source-manifest.js']);
    assert.ok(r.urls.some((u) => u.endsWith('/dist/bundle/main.js')), 'the command runs the bundle');
  });
}

test('the recorder sees what a command loads: config-schema loads its module and zod', () => {
  // The control: the same recording of a command that does run shows its
  // module and packages, so an empty list above means nothing was loaded.
  const r = runRecorded(['config-schema']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { type?: string }).type, 'object');
  const { packages, ours } = loaded(r.urls);
  assert.ok(packages.has('zod'), [...packages].join(' '));
  assert.ok(ours.has('dist/cli/setup.js'), [...ours].join(' '));
});

test("tickets --help lists the ticket states the command accepts (written out in cli/main.ts)", () => {
  const r = runRecorded(['tickets', '--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.replace(/\s+/g, ' ').includes(`(${TICKET_STATES.join(', ')})`), r.stdout);
});
