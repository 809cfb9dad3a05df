#!/usr/bin/env node
/**
 * The ztrust-bot command line (DESIGN.md, "The CLI"). Exit status: 0 success,
 * 1 findings or failure, 2 usage or configuration error.
 *
 * Every command is defined here (name, arguments, options, help), and its
 * action's module is imported only when the command runs (`lazy`): `--help`,
 * a usage error or one command never load what the others need (openpgp,
 * BullMQ, ioredis, SQLite, mailparser, imapflow, zod...), so the command
 * starts in a few times a bare `node` start (bench/cli-start.ts; the test
 * test/unit/cli-start.test.ts holds it). Import nothing here but commander
 * and the light src/errors.js.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, ZtrustError, describeError } from '../src/errors.js';

const CONFIG_OPTION = ['--config <file>', 'config file (default: $ZTRUST_CONFIG or ./ztrust.yaml)'] as const;

/** An action whose module is imported when the command runs, not when the program is built. */
function lazy<A extends unknown[]>(load: () => Promise<(...args: A) => unknown>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    await (await load())(...args);
  };
}

/** Repeatable option: each occurrence adds its value. */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function buildProgram(): Command {
  const program = new Command('ztrust-bot')
    .description('runs a community trust anchor (cross-signed OpenPGP keys, volunteer PKI roots) by signed email')
    .showHelpAfterError()
    .exitOverride();

  program.command('init')
    .description('create a data directory: the bot OpenPGP key, the log key and a config file')
    .option('--data <dir>', 'data directory', './data')
    .option('--config <file>', 'where to write the config (default: <data>/ztrust.yaml)')
    .option('--address <email>', "the bot's mail address (change it in the config later)", 'ztrust-bot@example.org')
    .option('--name <name>', "the bot's display name", 'ztrust-bot')
    .option('--origin <origin>', 'transparency-log origin line', 'ztrust.example.org/log')
    .option('--passphrase-file <file>', 'file holding the bot key passphrase (default: $ZTRUST_KEY_PASSPHRASE, else a generated one in <data>/keys/passphrase)')
    .action(lazy(async () => (await import('./setup.js')).init));

  program.command('key')
    .description("print the bot's armoured public key (--log: the log's C2SP verifier key)")
    .option('--log', "print the transparency log's verifier key instead")
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./setup.js')).key));

  program.command('run')
    .description('the worker: read the mailbox, verify, answer; --once drains the mailbox and queues, then exits')
    .option(...CONFIG_OPTION)
    .option('--once', 'drain the mailbox and every queue, then exit (1 when work is stuck: out of attempts, listed on stderr)')
    .action(lazy(async () => (await import('./run.js')).run));

  program.command('demo')
    .description('the main job on embedded defaults: a small community, sample mail in a Maildir, the real pipeline')
    .option('--dir <dir>', 'where to put the demo data (default: a new temporary directory)')
    .action(lazy(async () => {
      const { runDemo } = await import('./demo.js');
      return (o: { dir?: string }) => runDemo({ dir: o.dir, out: (s: string) => process.stdout.write(s) });
    }));

  program.command('check-mail')
    .description('verify the OpenPGP signatures of raw messages (files, Maildir folders or directories of .eml files)')
    .argument('<path...>', 'message files, Maildir folders (cur/ and new/) or directories of .eml files')
    .option('--keyring <file>', 'armoured public keys to verify against (repeatable); default: none, so every signature is nokey', collect, [] as string[])
    .option('--json', 'one JSON object per message and line')
    .action(lazy(async () => (await import('./check-mail.js')).checkMail));

  program.command('digest')
    .description('make and send a signed digest of the changes now (--now); without --now, show where the digests stand')
    .option('--now', 'make the digest now and send it')
    .option('--allow-empty', 'send a digest even if nothing changed since the previous one')
    .option(...CONFIG_OPTION)
    .showHelpAfterError(false) // a failed cycle or send is not a usage error: no usage text after it
    .action(lazy(async () => (await import('./digest.js')).digest));

  program.command('verify-digest')
    .description("check a digest offline: the bot's signature, the hash chain to the previous digest, the log consistency proof")
    .argument('<file>', 'a digest: the stored .txt, or a received mail (.eml, inline or PGP/MIME)')
    .option('--previous <file>', 'the previous digest, to check the hash chain and that the log did not fork in between')
    .option('--bot-key <file>', "the bot's armoured OpenPGP public key (default: <data>/keys/bot.pub.asc of --config); across a rotation of the bot's key, a file with the old key and the new")
    .option('--log-key <key>', 'the log verifier key, or a file holding it (default: <data>/log/log.vkey of --config)')
    .option('--config <file>', 'config file, for the default keys (default: $ZTRUST_CONFIG)')
    .option('--root <file>', 'a trust root you saved (root/<version>.txt): the bot and log keys are checked against the current root reached from it')
    .option('--collection <dir>', 'the collection checkout whose root/ leads from --root to the current root')
    .option('--json', 'print the result as one JSON object')
    .showHelpAfterError(false) // a failed check is not a usage error: no usage text after it
    .action(lazy(async () => (await import('./verify-digest.js')).verifyDigestCommand));

  program.command('import')
    .description('import a collection (pgp/, pki/ in the working group\'s layout) into <data>/collection and print its audit')
    .argument('<dir>', 'the directory to import (holding pgp/ and pki/, or ztrust/ with them)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the result as one JSON object')
    .action(lazy(async () => (await import('./import.js')).importCommand));

  program.command('audit')
    .description('check the collection against policy (exit 1 on findings)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the findings as one JSON object')
    .action(lazy(async () => (await import('./audit.js')).audit));

  program.command('export')
    .description('the bundles (stdout, or --out DIR) and a Web Key Directory (--wkd DIR)')
    .option(...CONFIG_OPTION)
    .option('--wkd <dir>', 'write a Web Key Directory (advanced layout) under DIR/.well-known/openpgpkey')
    .option('--domain <domain>', 'only addresses in this domain (repeatable; default: every domain)', collect, [] as string[])
    .option('--out <dir>', 'copy pgp-bundle.asc, pki-bundle.pem, SHA256SUMS and SHA256SUMS.asc into DIR')
    .action(lazy(async () => (await import('./export.js')).exportCollection));

  program.command('tickets')
    .description('list the tickets, or show one (state, votes, the content maintainers approve)')
    .argument('[action]', 'list (default) or show')
    .argument('[id]', 'the ticket id, for show')
    // The states are src/tickets/ticket.ts's TICKET_STATES, written out so that --help does not load the ticket code.
    .option('--state <state>', 'only tickets in this state (pending, approved, applied, rejected, expired, failed)')
    .option('--json', 'JSON output')
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./tickets.js')).tickets));

  program.command('verify-proof')
    .description("check a saved VERIFY reply, or a proof or consistency block, offline with the log's verifier key")
    .argument('<file>', 'a raw message (.eml), its text, or a bare c2sp.org/tlog-proof or consistency block')
    .option('--log-key <key>', 'the log verifier key, or a file holding it (default: <data>/log/log.vkey of --config)')
    .option('--config <file>', 'config file, for the default log key (default: $ZTRUST_CONFIG)')
    .option('--entry <file>', 'the exact log entry bytes, for a bare proof block shown without its entry')
    .option('--root <file>', 'a trust root you saved (root/<version>.txt): the bot and log keys are checked against the current root reached from it')
    .option('--collection <dir>', 'the collection checkout whose root/ leads from --root to the current root')
    .option('--json', 'print the results as one JSON object')
    .action(lazy(async () => (await import('./verify-proof.js')).verifyProof));

  program.command('verify-source')
    .description('check a downloaded release file and its detached signature offline against the published collection and log')
    .argument('<artifact>', 'the downloaded file, e.g. bash-5.3.tar.gz')
    .argument('[signature]', 'its detached signature, binary or armoured (default: ARTIFACT.sig, then ARTIFACT.asc)')
    .option('--collection <dir>', "the published collection: a clone or a download of the group's repository (holding pgp/)")
    .option('--release <name>', 'the release to check against (default: the file name less .tar.gz, .tar.xz, .zip...)')
    .option('--log <dir>', "the bot's published log directory (checkpoint, tile/), to check the vouching entry's inclusion proof")
    .option('--no-log', 'no log at hand: leave the vouch unchecked (reported as UNCHECKED) instead of failing')
    .option('--log-key <key>', 'the log verifier key, or a file holding it (default: <data>/log/log.vkey of --config)')
    .option('--config <file>', 'config file, for the default log key and the crypto policy')
    .option('--root <file>', "a trust root you saved (root/<version>.txt): the log key is the current root's, reached from it through the collection's root/")
    .option('--json', 'print the result as one JSON object')
    .showHelpAfterError(false) // a failed check is not a usage error: no usage text after it
    .action(lazy(async () => (await import('./verify-source.js')).verifySourceCommand));

  const log = program.command('log').description('the transparency log: latest checkpoint, consistency proofs, integrity check');
  log.command('checkpoint')
    .description('print the latest signed checkpoint (verified with log.vkey)')
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./log-command.js')).checkpoint));
  log.command('consistency')
    .description('print a consistency block from OLD to NEW (tree sizes the log signed, or checkpoint files; NEW default: latest)')
    .argument('<old>', 'tree size (0: the empty tree) or a file holding a signed checkpoint')
    .argument('[new]', 'tree size or checkpoint file (default: the latest checkpoint)')
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./log-command.js')).consistency));
  log.command('fsck')
    .description('check every entry bundle and tile against the signed checkpoint')
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./log-command.js')).fsck));

  const root = program.command('root').description('the signed trust root: who may act for the collection, approved k of n');
  root.command('verify')
    .description('walk the root chain of a collection checkout (DIR/root/) from a saved root (--root) or from version 1')
    .argument('<dir>', 'a collection checkout (git clone or download) holding root/ and pgp/all/')
    .option('--root <file>', 'a root you saved earlier (root/<version>.txt): the walk starts there')
    .option('--json', 'print the result as one JSON object')
    .showHelpAfterError(false)
    .action(lazy(async () => (await import('./root.js')).rootVerify));
  root.command('init')
    .description("draft root version 1 from the config (maintainers, threshold, the bot's and the log's keys) and mail it to the maintainers for approval")
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./root.js')).rootInit));
  root.command('propose')
    .description('draft the next root version (the current one with the changes given) and mail it to the maintainers who must approve it')
    .option('--add-maintainer <fingerprint>', 'add a maintainer (repeatable; the new key must approve too)', collect, [] as string[])
    .option('--remove-maintainer <fingerprint>', 'remove a maintainer (repeatable)', collect, [] as string[])
    .option('--threshold <n>', 'the new threshold')
    .option('--new-bot-key', "rotate the bot's OpenPGP key to a new one made now (kept in keys/bot-next.key until the root is approved)")
    .option('--bot-key <fingerprint>', "rotate the bot's OpenPGP key to one whose private key you put at keys/bot-next.key")
    .option('--log-key <vkey>', "rotate the log's verifier key")
    .option('--renew', 'only extend the validity (a new expiry date)')
    .option(...CONFIG_OPTION)
    .action(lazy(async () => (await import('./root.js')).rootPropose));
  root.command('status')
    .description('unrooted, or the current root and its expiry; drafts waiting for approval; where the config disagrees with the root')
    .option('--json', 'print the result as one JSON object')
    .option(...CONFIG_OPTION)
    .showHelpAfterError(false)
    .action(lazy(async () => (await import('./root.js')).rootStatus));

  program.command('config-schema')
    .description('print the JSON Schema of the config file')
    .action(lazy(async () => (await import('./setup.js')).printConfigSchema));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      // check-mail signals findings with exit code 1 and usage with 2.
      return err.exitCode === 1 && err.code.startsWith('ztrust.') ? 1 : err.exitCode === 0 ? 0 : err.code.startsWith('ztrust.') ? err.exitCode : 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`ztrust-bot: ${describeError(err)}\n`);
      return 2;
    }
    process.stderr.write(`ztrust-bot: ${describeError(err)}\n`);
    if (!(err instanceof ZtrustError) && process.env.ZTRUST_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] && /cli\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
