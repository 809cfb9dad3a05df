#!/usr/bin/env node
// `npm run build`, also run by `npm ci` / `npm install` (the prepare script)
// and first by `npm test`: compile src/, queue/ and cli/ (tsconfig.build.json)
// into dist/, which bin/ztrust-bot.js runs.
//
// tsc writes into a fresh directory that then replaces dist/: no file of a
// deleted source stays behind, and a failed build (a type error) leaves the
// previous dist/ as it was, which bin/ztrust-bot.js then refuses as older
// than the sources, so code that did not typecheck is never run.
//
// Then esbuild bundles the compiled CLI (dist/cli/main.js and every command
// module it imports on demand) into dist/bundle/, which bin/ztrust-bot.js
// runs: one file per command's code (code splitting), so `--help` still
// loads only main and commander, while `run` reads a few chunks instead of
// resolving and reading some 900 module files one by one (the worker's
// start to its first fetch went from 583 to 519 ms, `npm run bench:cli`).
// Only better-sqlite3 (a native addon) stays in node_modules. BullMQ is
// bundled from its ES module build (its package.json names it under
// "module"; node itself would load the CommonJS one, some 300 files: BullMQ
// and ioredis took 160-200 ms of the worker's start that way, 60 ms as one
// bundled file). Its Lua scripts are JavaScript strings (in both builds), and
// its require('ioredis') becomes the bundle's one copy of ioredis; the build
// fails if a second copy of either gets in. msgpackr's optional native
// decoder is not loaded from the bundle (it finds itself by __dirname):
// BullMQ only encodes with msgpackr, which is plain JavaScript.
// dist/bundle/meta.json says which sources each chunk holds
// (test/unit/cli-start.test.ts reads it), and each chunk's .map where its
// code came from (bench/profile.ts reads them).
// dist/.sources records what the build was made from (scripts/source-manifest.js),
// taken before tsc starts: the command compares it with the sources as they
// are now and asks for another build on any difference.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sourceManifest } from './source-manifest.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const next = join(root, 'dist.next');

const tscBin = join(root, 'node_modules/typescript/bin/tsc');
if (!existsSync(tscBin)) {
  // An install without the devDependencies (npm ci --omit=dev) has no compiler.
  console.error('build: typescript is not installed (a devDependency): run `npm ci` without --omit=dev');
  // As npm ci's prepare step, do not fail the whole install over it: the
  // command then says dist/ is missing and how to build it.
  process.exit(process.env.npm_lifecycle_event === 'prepare' ? 0 : 1);
}
const manifest = sourceManifest(root);
rmSync(next, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscBin, '-p', 'tsconfig.build.json', '--outDir', next], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  console.error(`build: tsc failed (exit ${tsc.status ?? tsc.signal}); dist/ is unchanged`);
  process.exit(tsc.status || 1);
}
const bundled = await bundle({ main: join(next, 'cli', 'main.js'), 'verify-thread': join(next, 'queue', 'verify-thread.js') }, join(next, 'bundle'));
if (!bundled) {
  rmSync(next, { recursive: true, force: true });
  console.error('build: esbuild failed; dist/ is unchanged');
  process.exit(1);
}
writeFileSync(join(next, '.sources'), manifest ?? '');
rmSync(dist, { recursive: true, force: true });
renameSync(next, dist);

/**
 * An esbuild plugin that resolves `name` to the ES module build at `entry`
 * (for a package whose package.json has "module" but no "exports"; the
 * other packages keep esbuild's default resolution).
 */
function esmBuildOf(name, entry) {
  return {
    name: `esm-build-of-${name}`,
    setup(build) {
      const path = createRequire(join(root, 'package.json')).resolve(entry);
      build.onResolve({ filter: new RegExp(`^${name}$`) }, () => ({ path }));
    },
  };
}

/**
 * imapflow 2.1.2 (the newest this registry resolves; upstream is the same)
 * compiles every server response back into a log line before it asks
 * whether anyone wants it (ImapFlow#handleResponse), and with `logger:
 * false` nobody does: that is a tenth of the worker's time on list traffic
 * (a response per message fetched). The bundle asks first. Same behaviour
 * with a logger or `emitLogs` (the compile and the log call are unchanged),
 * and nothing else of imapflow is touched. The build fails if the code is
 * not there exactly once (another imapflow version: look again).
 */
function imapflowLogOnDemand() {
  // Verbatim from node_modules/imapflow/dist/esm/imap-flow.js, indentation included.
  const IMAPFLOW_RESPONSE_LOG = `        let logCompiled = await compiler(parsed, {
            isLogging: true
        });
        if (/^\\d+$/.test(parsed.command || '') && parsed.attributes && parsed.attributes[0] && parsed.attributes[0].value === 'FETCH') {
            // too many FETCH responses, might want to filter these out
            this.log.trace({ src: 's', msg: logCompiled.toString(), cid: this.id, nullBytesRemoved: parsed.nullBytesRemoved });
        }
        else {
            this.log.debug({ src: 's', msg: logCompiled.toString(), cid: this.id, nullBytesRemoved: parsed.nullBytesRemoved });
        }
`;
  // Files patched: the build checks it is 1 (not 0, as when imapflow's CommonJS build got in instead).
  let applied = 0;
  const plugin = {
    name: 'imapflow-log-on-demand',
    setup(build) {
      build.onLoad({ filter: /[/\\]imapflow[/\\]dist[/\\]esm[/\\]imap-flow\.js$/ }, (args) => {
        const code = readFileSync(args.path, 'utf8');
        const at = code.indexOf(IMAPFLOW_RESPONSE_LOG);
        if (at < 0 || code.indexOf(IMAPFLOW_RESPONSE_LOG, at + 1) >= 0) {
          return { errors: [{ text: `imapflow's response logging in ${args.path} is not the code scripts/build.js expects (another imapflow version?)` }] };
        }
        const patched = `        if (this.options.logger !== false || this.emitLogs) {\n${IMAPFLOW_RESPONSE_LOG}        }\n`;
        applied++;
        return { contents: code.slice(0, at) + patched + code.slice(at + IMAPFLOW_RESPONSE_LOG.length), loader: 'js' };
      });
    },
  };
  return { plugin, applied: () => applied };
}

/**
 * Why the bundle would hold two copies of BullMQ or ioredis (BullMQ's
 * CommonJS build beside its ES module one, say through an import of a
 * `bullmq/...` path; an ioredis of another version nested under a
 * package): two queue classes, two Redis classes. Null when it does not.
 */
function duplicatePackages(inputs) {
  if (inputs.some((f) => f.includes('node_modules/bullmq/dist/cjs/'))) return "BullMQ's CommonJS build got into the bundle beside its ES module build";
  const ioredis = new Set(inputs.map((f) => /^(.*node_modules\/ioredis)\//.exec(f)?.[1]).filter(Boolean));
  if (ioredis.size > 1) return `more than one copy of ioredis in the bundle: ${[...ioredis].join(', ')}`;
  return null;
}

/**
 * The entries (dist.next/cli/main.js, and queue/verify-thread.js, the
 * signature-check thread) and what they import, as ESM chunks in `outdir`,
 * each entry by its name beside the chunks (a thread is found from them by
 * `new URL('./verify-thread.js', import.meta.url)`); false when esbuild failed.
 */
async function bundle(entry, outdir) {
  try {
    const esbuild = await import('esbuild');
    const imapflowPatch = imapflowLogOnDemand();
    const r = await esbuild.build({
      entryPoints: entry,
      outdir,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: ['better-sqlite3'],
      plugins: [esmBuildOf('bullmq', 'bullmq/dist/esm/index.js'), imapflowPatch.plugin],
      // CommonJS packages in an ES module bundle call require() for node's
      // own modules: give them the real one.
      banner: { js: "import { createRequire as __ztrustRequire } from 'node:module'; const require = __ztrustRequire(import.meta.url);" },
      metafile: true,
      absWorkingDir: root,
      // Maps back to dist/'s modules, for profiles (bench/profile.ts) and
      // `node --enable-source-maps`; nothing reads them at an ordinary start.
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'warning',
    });
    if (imapflowPatch.applied() !== 1) {
      console.error(`build: imapflow's response logging was wrapped in ${imapflowPatch.applied()} files, not 1 (is its ES module build still what the bundle loads?)`);
      return false;
    }
    const twice = duplicatePackages(Object.keys(r.metafile.inputs));
    if (twice) {
      console.error(`build: ${twice}`);
      return false;
    }
    // Paths relative to the package root (absWorkingDir), as they will be once dist.next/ is dist/.
    writeFileSync(join(outdir, 'meta.json'), JSON.stringify(r.metafile).replaceAll('"dist.next/', '"dist/'));
    return true;
  } catch (err) {
    console.error(`build: ${err.message}`);
    return false;
  }
}
