/**
 * `ztrust-bot demo`: the main job on embedded defaults. It needs no mail
 * server: it creates a data directory, a small community of OpenPGP keys (in
 * the collection, so the bot can check their signatures), writes sample mail
 * into a Maildir, runs the real pipeline (Maildir intake, BullMQ on an
 * embedded redis-server, SQLite, signed replies written as .eml files) and
 * prints what happened to each message.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { initDataDir } from './init.js';
import { openApp } from './app.js';
import { createLogger } from './logging.js';
import { composeSigned, type OutgoingMail } from './mail/compose.js';
import { signerFromKey } from './pgp/botkey.js';
import { runOnce } from '../queue/runner.js';

export interface DemoOptions {
  dir?: string;
  out: (s: string) => void;
}

interface Person { name: string; email: string; key: openpgp.PrivateKey }

async function person(name: string, email: string): Promise<Person> {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name, email }], format: 'object', config: { v6Keys: false },
  });
  return { name, email, key: privateKey };
}

function plainMail(headers: Record<string, string>, body: string): Buffer {
  const h = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n');
  return Buffer.from(`${h}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n${body}`);
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const out = o.out;
  const root = path.resolve(o.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ztrust-demo-')));
  mkdirSync(root, { recursive: true });
  const dataDir = path.join(root, 'data');
  const botAddress = 'ztrust-bot@demo.example';
  out(`ztrust-bot demo in ${root}\n\n`);
  const init = await initDataDir({ dataDir, address: botAddress, name: 'ztrust-bot', origin: 'demo.ztrust.example/log' });
  out(`bot key ${init.botFingerprint}\n`);

  // A small community; their keys go into the collection folder so the bot
  // can check their signatures. (Submission and approval are the next step.)
  const [alice, bob, carol, dave] = await Promise.all([
    person('Alice Mainframe', 'alice@demo.example'), person('Bob Volunteer', 'bob@demo.example'),
    person('Carol Sysprog', 'carol@demo.example'), person('Dave Outsider', 'dave@elsewhere.example'),
  ]);
  const all = path.join(dataDir, 'collection', 'pgp', 'all');
  mkdirSync(all, { recursive: true });
  for (const p of [alice!, bob!, carol!]) {
    writeFileSync(path.join(all, `0x${p.key.getKeyID().toHex()}-${p.email}-public.asc`), p.key.toPublic().armor());
  }

  const inbox = path.join(dataDir, 'inbox');
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(path.join(inbox, sub), { recursive: true });
  let n = 0;
  const samples: { label: string; file: string; messageId: string }[] = [];
  const put = (label: string, raw: Buffer, messageId: string): void => {
    n++;
    const file = `${1700000000 + n}.demo${n}.localhost`;
    writeFileSync(path.join(inbox, 'new', file), raw.toString('utf8').replace(/\r\n/g, '\n'));
    samples.push({ label, file, messageId });
  };
  const signed = async (p: Person, signing: 'pgpmime' | 'inline', subject: string, body: string, id: string): Promise<Buffer> => {
    const m: OutgoingMail = {
      from: { name: p.name, address: p.email }, to: [botAddress], subject, messageId: `<${id}@demo.example>`, date: new Date(),
      autoSubmitted: null, loopHeader: null, body, signing,
    };
    return composeSigned(m, signerFromKey(p.key));
  };

  put('HELP, PGP/MIME-signed by a collection key', await signed(alice!, 'pgpmime', 'help please', 'HELP\n', 'm1'), '<m1@demo.example>');
  put('HELP, inline-signed by a collection key', await signed(bob!, 'inline', 'usage?', 'Hello,\n\nHELP\n\nThanks, Bob\n', 'm2'), '<m2@demo.example>');
  put('HELP, signed by a key outside the collection', await signed(dave!, 'pgpmime', 'hi', 'HELP\n', 'm3'), '<m3@demo.example>');
  put('HELP, unsigned', plainMail({ From: 'Erin <erin@demo.example>', To: botAddress, Subject: 'help', 'Message-ID': '<m4@demo.example>' }, 'help\n'), '<m4@demo.example>');
  put('SUBMIT KEY, signed (not built yet in this version)', await signed(carol!, 'pgpmime', 'my key', `SUBMIT KEY\n\n${carol!.key.toPublic().armor()}`, 'm5'), '<m5@demo.example>');
  put('SUBMIT KEY, unsigned (refused: must be signed)', plainMail({ From: 'erin@demo.example', To: botAddress, Subject: 'key', 'Message-ID': '<m6@demo.example>' }, 'SUBMIT KEY\n'), '<m6@demo.example>');
  const good = (await signed(alice!, 'inline', 'approve', 'APPROVE ZT-000001 0000000000000000000000000000000000000000000000000000000000000000\n', 'm7')).toString('utf8');
  put('APPROVE with a tampered inline signature', Buffer.from(good.replace('APPROVE ZT-000001', 'APPROVE ZT-000002')), '<m7@demo.example>');
  put('list traffic without a command (ignored)', plainMail({ From: 'frank@demo.example', To: 'linux-390@lists.demo.example', Subject: '[LINUX-390] z/VM question',
    'List-Id': 'LINUX-390 <linux-390.lists.demo.example>', Precedence: 'list', 'Message-ID': '<m8@demo.example>' }, 'Has anyone seen this IPL error?\n'), '<m8@demo.example>');
  put('a bounce (never answered)', plainMail({ From: 'MAILER-DAEMON@demo.example', To: botAddress, Subject: 'Undelivered Mail', 'Return-Path': '<>',
    'Message-ID': '<m9@demo.example>' }, 'This is the mail system.\n'), '<m9@demo.example>');
  put('an out-of-office auto-reply (never answered)', plainMail({ From: 'gina@demo.example', To: botAddress, Subject: 'Out of office',
    'Auto-Submitted': 'auto-replied', 'Message-ID': '<m10@demo.example>' }, 'HELP\n'), '<m10@demo.example>');

  out(`${samples.length} sample messages in ${inbox}\n`);
  out('running the pipeline (Maildir -> BullMQ on embedded Redis -> verify -> signed replies) ...\n\n');
  const logger = createLogger(process.env.ZTRUST_LOG_LEVEL ?? 'warn');
  const app = await openApp(init.config, logger);
  const t0 = Date.now();
  try {
    await runOnce(app);
  } finally {
    await app.close();
  }
  const ms = Date.now() - t0;

  const outbox = init.config.outbox.url.slice(4);
  const replies = new Map<string, { status: string; file: string; to: string }>();
  for (const f of readdirSync(outbox).filter((x) => x.endsWith('.eml'))) {
    const raw = readFileSync(path.join(outbox, f));
    const parsed = await simpleParser(raw);
    const status = String(parsed.headers.get('x-ztrust-status') ?? '?');
    const to = parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '';
    if (parsed.inReplyTo) replies.set(parsed.inReplyTo, { status, file: f, to });
  }
  for (const s of samples) {
    const r = replies.get(s.messageId);
    out(`- ${s.label}\n    ${r ? `reply to ${r.to}: Status: ${r.status}` : 'no reply (by design)'}\n`);
  }
  out(`\n${replies.size} signed replies in ${ms} ms, written to ${outbox}\n`);
  out(`data directory: ${dataDir} (state.db, collection/, log/, keys/)\n`);
  out(`check a reply's signature: gpg --import ${path.join(dataDir, 'keys', 'bot.pub.asc')}, then verify the .eml\n`);
  out(`or: ztrust-bot check-mail --keyring ${path.join(dataDir, 'keys', 'bot.pub.asc')} ${outbox}\n`);
}
