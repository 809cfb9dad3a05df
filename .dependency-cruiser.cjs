/**
 * Layers that point one way (issue 9, item 4), checked by `npm run depcheck`
 * (scripts/depcheck.js, run first by `npm test`).
 *
 *   cli/    entry points (the command line, the demo): may import src/, queue/
 *   queue/  BullMQ, Redis, SMTP, IMAP: may import src/
 *   src/    the domain: imports neither; its root files (errors, limits,
 *           templates, logger, package-root, datadir) are a kernel every folder may use,
 *           so they import no folder under src/
 *
 * Folder cycles are what let a change in one corner reach every other: a
 * folder's code must be readable knowing only the folders it imports.
 */
/** A rule that fails the check: imports from `from` to `to` are forbidden. */
const forbid = (name, comment, from, to, extra = {}) => ({ name, comment, severity: 'error', from, to, ...extra });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    forbid('src-not-to-queue-or-cli',
      'src/ is the domain: no queue or entry-point code. Move what both need into src/, or let cli/ or queue/ pass it in.',
      { path: '^src/' }, { path: '^(queue|cli)/' }),
    forbid('cli-only-from-entry-points',
      'cli/ holds entry points; nothing but bin/, scripts/ and test/ imports them.',
      { pathNot: '^(cli|bin|scripts|test)/' }, { path: '^cli/' }),
    forbid('src-kernel-imports-no-folder',
      'The files at the root of src/ are the kernel every src/ folder imports; importing a folder back would make a cycle.',
      { path: '^src/[^/]+\\.ts$' }, { path: '^src/[^/]+/' }),
    forbid('no-module-cycles', 'A module cycle: break it by moving the shared part down.', {}, { circular: true }),
    // `npx depcruise` shows these; the gate (scripts/depcheck.js) computes
    // them itself so that the few known cycle edges can be set aside.
    forbid('no-folder-cycles',
      'Two folders import each other (directly or through others): move the shared part down into a folder both may import.',
      {}, { circular: true }, { scope: 'folder' }),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: they tie the layers together just the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
