// A private Dovecot (IMAP + LMTP) on free loopback ports, with its own config,
// base_dir, state and maildirs under a temp dir, so it runs beside any system
// instance and is gone after stop().
import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { connectNoDelay } from '../../queue/transport.js';
import { removeDir, trackDir } from './cleanup.js';
import { freePort } from './ports.js';
import { findBinary, spawnService, stopService, waitForGreeting, type Service } from './procs.js';

export interface DovecotHandle {
  /** imap://bot@127.0.0.1:PORT/INBOX: plain IMAP on loopback, no TLS. */
  imapUrl: string;
  host: string;
  imapPort: number;
  lmtpPort: number;
  /** The mailbox user the bot logs in as, and its password. */
  user: string;
  password: string;
  /** Mail domain appended to user names for LMTP recipients. */
  domain: string;
  /** The instance's temp dir (config, log, maildirs). */
  dir: string;
  /** Master process id (also the process group id of every Dovecot process of this instance). */
  pid: number;
  /** Real LMTP delivery over TCP into a user's INBOX (default: `user`). from '' sends a null sender (MAIL FROM:<>). */
  deliver(raw: Buffer | string, opts?: { user?: string; from?: string }): Promise<void>;
  addUser(name: string, password: string): Promise<void>;
  /** Dovecot's log so far (for failure messages). */
  log(): string;
  /** The Maildir Dovecot writes for a user (default: `user`), owned by the mail uid. */
  maildir(user?: string): string;
  /**
   * Stop the server (every session is cut, as in a package upgrade or a
   * reboot) and start it again on the same ports with the same config,
   * state and maildirs. `downMs` keeps it down that long in between.
   */
  restart(opts?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

const DOMAIN = 'harness.test';
const MAIL_USER = 'ztrustmail';

interface Identity {
  uid: number;
  gid: number;
  loginUser: string;
  internalUser: string;
  internalGroup: string;
}

function getent(name: string): { uid: number; gid: number } | null {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

// Dovecot refuses to run its login processes as root and to give mail access
// to uids below first_valid_uid, so as root we use the Debian package's
// unprivileged users for login/internal processes and a dedicated system user
// owning the maildirs. As a normal user, everything runs as that user.
function mailIdentity(): Identity {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    const me = userInfo();
    const gid = process.getgid?.() ?? me.gid;
    const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim() || String(gid);
    return { uid, gid, loginUser: me.username, internalUser: me.username, internalGroup: group };
  }
  for (const u of ['dovecot', 'dovenull']) {
    if (!getent(u)) throw new Error(`harness: system user ${u} is missing; install dovecot-core (apt-get install dovecot-imapd dovecot-lmtpd)`);
  }
  let mail = getent(MAIL_USER);
  for (let attempt = 0; !mail && attempt < 10; attempt++) {
    const useradd = findBinary('useradd', 'passwd');
    // Concurrent test processes may race here: useradd fails to lock
    // /etc/passwd (or finds the user just created), so retry and re-read.
    spawnSync(useradd, ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', MAIL_USER], {
      encoding: 'utf8',
    });
    mail = getent(MAIL_USER);
    if (!mail) spawnSync('sleep', ['0.2']);
  }
  if (!mail) throw new Error(`harness: could not create the system user ${MAIL_USER} with useradd`);
  return { uid: mail.uid, gid: mail.gid, loginUser: 'dovenull', internalUser: 'dovecot', internalGroup: 'dovecot' };
}

function checkName(kind: string, value: string): void {
  // passwd-file fields are separated by ':' and lines by newlines.
  if (!value || /[:\r\n\0]/.test(value)) throw new Error(`harness: invalid ${kind} ${JSON.stringify(value)}`);
}

function config(o: { dir: string; imapPort: number; lmtpPort: number; id: Identity; instance: string; root: boolean; imapCapability?: string }): string {
  const d = o.dir;
  return `# Written by test/harness/dovecot.ts for one test run; removed on stop.
instance_name = ${o.instance}
protocols = imap lmtp
listen = 127.0.0.1
base_dir = ${d}/run
state_dir = ${d}/state
log_path = ${d}/dovecot.log
info_log_path = ${d}/dovecot.log
hostname = ${DOMAIN}
postmaster_address = postmaster@${DOMAIN}

ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Users log in as "bot"; LMTP recipients are bot@${DOMAIN}: both map to "bot".
auth_username_format = %Ln
auth_verbose = yes
# Tests of refused logins should not sleep the default 2 s per failure.
auth_failure_delay = 0

default_login_user = ${o.id.loginUser}
default_internal_user = ${o.id.internalUser}
default_internal_group = ${o.id.internalGroup}
first_valid_uid = ${o.id.uid}
last_valid_uid = 0
first_valid_gid = ${Math.min(o.id.gid, 1)}
mail_location = maildir:~/Maildir
${o.imapCapability === undefined ? '' : `# What the server says it can do after login, in place of its own list.\nimap_capability = ${o.imapCapability}\n`}
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${d}/passwd
}
userdb {
  driver = passwd-file
  args = ${d}/passwd
}

# No auth penalty: a test of a refused login must not slow the next logins
# from 127.0.0.1 (every client here) by seconds. Without this socket the auth
# process cannot record penalties.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }${o.root ? '' : '\n  chroot =' /* only root may chroot */}
}

service imap-login {${o.root ? '' : '\n  chroot ='}
  inet_listener imap {
    address = 127.0.0.1
    port = ${o.imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${o.lmtpPort}
  }
}
`;
}

export interface DovecotOptions {
  /**
   * The CAPABILITY list after login, in place of Dovecot's own
   * (`imap_capability`): a server without an extension, say ESEARCH.
   */
  imapCapability?: string;
}

export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotHandle> {
  const bin = findBinary('dovecot', 'dovecot-imapd dovecot-lmtpd');
  const id = mailIdentity();
  // Short prefix: Dovecot's unix sockets live in base_dir and socket paths
  // are limited to 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'ztd-'));
  trackDir(dir);
  chmodSync(dir, 0o755); // the login/internal/mail users must traverse it
  mkdirSync(join(dir, 'state'), { mode: 0o755 });
  const mailRoot = join(dir, 'mail');
  mkdirSync(mailRoot, { mode: 0o700 });
  chownSync(mailRoot, id.uid, id.gid);
  const passwdFile = join(dir, 'passwd');
  // Read by the auth process (default_internal_user), so world-readable: test passwords only.
  writeFileSync(passwdFile, '', { mode: 0o644 });

  const confFile = join(dir, 'dovecot.conf');
  const instance = `ztrust-${dir.slice(-6)}`;
  const root = (process.getuid?.() ?? 0) === 0;

  const doveadmBin = findBinary('doveadm', 'dovecot-core');
  const doveadm = (args: string[]) =>
    new Promise<number>((resolve) => {
      execFile(doveadmBin, args, { timeout: 10000 }, (err) => {
        resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0);
      });
    });

  const users = new Set<string>();
  const addUserSync = (name: string, password: string) => {
    checkName('user name', name);
    checkName('password', password);
    if (users.has(name.toLowerCase())) throw new Error(`harness: dovecot user ${name} exists already`);
    users.add(name.toLowerCase());
    const home = join(mailRoot, name.toLowerCase());
    mkdirSync(home, { recursive: true, mode: 0o700 });
    chownSync(home, id.uid, id.gid);
    // user:password:uid:gid:gecos:home:shell:extra
    appendFileSync(passwdFile, `${name.toLowerCase()}:{PLAIN}${password}:${id.uid}:${id.gid}::${home}::\n`);
  };
  const user = 'bot';
  const password = 'bot-password';
  addUserSync(user, password);

  const logFile = join(dir, 'dovecot.log');
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  let svc: Service;
  let imapPort: number;
  let lmtpPort: number;
  for (let attempt = 1; ; attempt++) {
    imapPort = await freePort();
    lmtpPort = await freePort();
    writeFileSync(confFile, config({ dir, imapPort, lmtpPort, id, instance, root, imapCapability: opts.imapCapability }), { mode: 0o644 });
    // -F: stay in the foreground so we own the master process and its group.
    svc = spawnService(bin, ['-F', '-c', confFile], { cwd: dir });
    try {
      await waitForGreeting(imapPort, /^\* OK/, svc, 'dovecot (imap)');
      await waitForGreeting(lmtpPort, /^220 /, svc, 'dovecot (lmtp)');
      break;
    } catch (e) {
      await stopService(svc, { timeoutMs: 1000 });
      const text = `${(e as Error).message}\n--- dovecot.log ---\n${log()}`;
      // Another process may have taken a port between freePort() and bind().
      if (attempt < 3 && /Address already in use/.test(text)) continue;
      removeDir(dir);
      throw new Error(text, { cause: e });
    }
  }

  const host = '127.0.0.1';
  let stopped: Promise<void> | null = null;
  return {
    get pid() { return svc.pid; },
    imapUrl: `imap://${user}@${host}:${imapPort}/INBOX`,
    host,
    imapPort,
    lmtpPort,
    user,
    password,
    domain: DOMAIN,
    dir,
    async deliver(raw, opts = {}) {
      const rcpt = `${opts.user ?? user}@${DOMAIN}`;
      // nodemailer's SMTP client speaks LMTP (LHLO, per-recipient replies)
      // and does the CRLF conversion and dot-stuffing of DATA.
      const transport = nodemailer.createTransport({
        host,
        port: lmtpPort,
        lmtp: true,
        secure: false,
        ignoreTLS: true,
        name: 'lmtp-client.harness.test',
        connectionTimeout: 10000,
        // With Nagle on, each delivery waited about 45 ms for Dovecot's
        // delayed ACK of the body (queue/transport.ts, connectNoDelay).
        getSocket: (_opts: unknown, cb: Parameters<typeof connectNoDelay>[2]) => connectNoDelay(host, lmtpPort, cb),
      });
      try {
        const info = await transport.sendMail({
          envelope: { from: opts.from ?? `sender@${DOMAIN}`, to: [rcpt] },
          raw,
        });
        if (!info.accepted.map(String).includes(rcpt)) {
          throw new Error(`harness: LMTP did not accept ${rcpt}: ${JSON.stringify(info)}\n${log()}`);
        }
      } finally {
        transport.close();
      }
    },
    async addUser(name, pw) {
      addUserSync(name, pw);
      // Dovecot notices a changed passwd-file only on a later lookup (up to
      // about a second later), so wait until both the userdb (LMTP) and the
      // passdb (IMAP login) know the user: callers can use it at once.
      const deadline = Date.now() + 10000;
      // The userdb check first: a failed passdb check costs half a second.
      for (const args of [['user', name], ['auth', 'test', name, pw]]) {
        for (;;) {
          const code = await doveadm(['-c', confFile, ...args]);
          if (code === 0) break;
          if (Date.now() > deadline) throw new Error(`harness: dovecot did not pick up user ${name} (doveadm ${args[0]}: exit ${code})\n${log()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    log,
    maildir: (name = user) => join(mailRoot, name.toLowerCase(), 'Maildir'),
    async restart(opts = {}) {
      if (stopped) throw new Error('harness: dovecot was stopped; it cannot be restarted');
      await stopService(svc, { signal: 'SIGTERM', timeoutMs: 5000 });
      if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
      // Same config file, so the same ports: the listeners were closed with
      // the old master, and Dovecot binds with SO_REUSEADDR.
      svc = spawnService(bin, ['-F', '-c', confFile], { cwd: dir });
      try {
        await waitForGreeting(imapPort, /^\* OK/, svc, 'dovecot (imap, restarted)');
        await waitForGreeting(lmtpPort, /^220 /, svc, 'dovecot (lmtp, restarted)');
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- dovecot.log ---\n${log()}`, { cause: e });
      }
    },
    stop() {
      stopped ??= (async () => {
        // SIGTERM makes the master stop its workers; stopService then waits
        // for the whole process group and SIGKILLs leftovers.
        await stopService(svc, { signal: 'SIGTERM', timeoutMs: 5000 });
        removeDir(dir);
      })();
      return stopped;
    },
  };
}
