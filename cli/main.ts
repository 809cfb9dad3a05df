#!/usr/bin/env node
/**
 * The ztrust-bot command line (DESIGN.md, "The CLI"). Exit status: 0 success,
 * 1 findings or failure, 2 usage or configuration error.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, ZtrustError, describeError } from '../src/errors.js';
import { defaultConfigPath, loadConfig, type LoadedConfig } from '../src/config/load.js';
import { createLogger, routeProcessDiagnostics } from '../src/logger.js';
import { openApp } from '../src/app/app.js';
import { startCheck } from '../src/state/consistency.js';
import { initDataDir } from '../src/app/init.js';
import { registerCheckMail } from './check-mail.js';
import { registerDigest } from './digest.js';
import { registerVerifyDigest } from './verify-digest.js';
import { registerAudit } from './audit.js';
import { registerExport } from './export.js';
import { registerImport } from './import.js';
import { registerTickets } from './tickets.js';
import { registerVerifyProof } from './verify-proof.js';
import { registerLog } from './log-command.js';
import { runDemo } from './demo.js';
import { runForever, runOnce } from '../queue/runner.js';
import { describeStuck } from '../queue/settle.js';
import { configSchema } from '../src/config/schema.js';
import { z } from 'zod';
import { dataLayout } from '../src/datadir.js';

function config(opts: { config?: string }): LoadedConfig {
  return loadConfig(opts.config ?? defaultConfigPath());
}

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
    .action(async (o: { data: string; config?: string; address: string; name: string; origin: string; passphraseFile?: string }) => {
      const passphrase = o.passphraseFile ? readFileSync(o.passphraseFile, 'utf8').split(/\r?\n/)[0] : process.env.ZTRUST_KEY_PASSPHRASE;
      const r = await initDataDir({ dataDir: o.data, configPath: o.config, address: o.address, name: o.name, origin: o.origin, passphrase });
      process.stdout.write([
        `data directory:  ${r.config.dataDir}`,
        `config:          ${r.configPath}`,
        `bot key:         ${r.botFingerprint}`,
        `log key:         ${r.logVerifierKey}`,
        '',
        `Next: edit ${path.relative(process.cwd(), r.configPath) || r.configPath} (mailbox, outbox, maintainers), then`,
        `  ztrust-bot run --config ${path.relative(process.cwd(), r.configPath) || r.configPath}`,
        '',
      ].join('\n'));
    });

  program.command('key')
    .description("print the bot's armoured public key (--log: the log's C2SP verifier key)")
    .option('--log', "print the transparency log's verifier key instead")
    .option('--config <file>', 'config file (default: $ZTRUST_CONFIG or ./ztrust.yaml)')
    .action((o: { log?: boolean; config?: string }) => {
      const cfg = config(o);
      const file = o.log ? dataLayout(cfg.dataDir).logVerifierKey : dataLayout(cfg.dataDir).botPublicKey;
      process.stdout.write(readFileSync(file, 'utf8'));
    });

  program.command('run')
    .description('the worker: read the mailbox, verify, answer; --once drains the mailbox and queues, then exits')
    .option('--config <file>', 'config file (default: $ZTRUST_CONFIG or ./ztrust.yaml)')
    .option('--once', 'drain the mailbox and every queue, then exit (1 when work is stuck: out of attempts, listed on stderr)')
    .action(async (o: { config?: string; once?: boolean }) => {
      const cfg = config(o);
      const logger = createLogger(process.env.ZTRUST_LOG_LEVEL ?? cfg.logging.level);
      // Before state.db is opened (which would create a deleted one afresh): store, collection and log must agree.
      if ((await startCheck(cfg.dataDir, logger)).length) throw new CommanderError(2, 'ztrust.state', 'state check failed');
      if (!o.once) {
        // The worker's stderr goes to a log collector: JSON lines only, the last one too.
        routeProcessDiagnostics(logger);
        try {
          const app = await openApp(cfg, logger);
          try { await runForever(app); } finally { await app.close(); }
        } catch (err) {
          // A configuration error (exit 2) is reported like one found while
          // loading the file, before any logger exists: plain, for the
          // operator who started it. Everything else ends as one JSON line.
          if (err instanceof ConfigError) throw err;
          logger.fatal({ err: describeError(err), code: (err as { code?: unknown }).code }, 'ztrust-bot stopped on an error');
          throw new CommanderError(1, 'ztrust.run', describeError(err));
        }
        return;
      }
      const app = await openApp(cfg, logger);
      let stuck: number;
      try {
        const report = await runOnce(app);
        stuck = report.stuck.length;
        // The JSON line is logged by runOnce; this is for the operator at the terminal.
        if (stuck) process.stderr.write(`ztrust-bot: ${describeStuck(report.stuck)}\n`);
      } finally {
        await app.close();
      }
      if (stuck) throw new CommanderError(1, 'ztrust.stuck', `${stuck} item(s) stuck`);
    });

  program.command('demo')
    .description('the main job on embedded defaults: a small community, sample mail in a Maildir, the real pipeline')
    .option('--dir <dir>', 'where to put the demo data (default: a new temporary directory)')
    .action(async (o: { dir?: string }) => {
      await runDemo({ dir: o.dir, out: (s: string) => process.stdout.write(s) });
    });

  registerCheckMail(program);
  registerDigest(program);
  registerVerifyDigest(program);
  registerImport(program);
  registerAudit(program);
  registerExport(program);
  registerTickets(program);
  registerVerifyProof(program);
  registerLog(program);

  program.command('config-schema')
    .description('print the JSON Schema of the config file')
    .action(() => {
      process.stdout.write(`${JSON.stringify(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`);
    });

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
