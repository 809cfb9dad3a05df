/**
 * `ztrust-bot demo`: the main job on embedded defaults. It needs no mail
 * server: it creates a data directory, a small community of OpenPGP keys (in
 * the collection, so the bot can check their signatures), writes sample mail
 * into a Maildir, runs the real pipeline (Maildir intake, BullMQ on an
 * embedded redis-server, SQLite, signed replies written as .eml files) and
 * prints what happened to each message. It shows the three things people
 * use the bot for, each with the command that checks it offline:
 *   - a key submission approved by the maintainers (round 2), applied to the
 *     collection by the apply step;
 *   - an ATTEST of a release file's SHA-256, then a VERIFY by hash whose
 *     proof verify-proof accepts;
 *   - an upstream release-signing key vouched for a release by a member and
 *     approved, then a VERIFY by release name and a verify-source of the file;
 * and a signed digest of every change that verify-digest accepts.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { initDataDir } from '../src/app/init.js';
import { openApp } from '../src/app/app.js';
import { createLogger } from '../src/logger.js';
import { composeSigned, type OutgoingMail } from '../src/mail/compose.js';
import { loadBotSigner, signerFromKey } from '../src/pgp/botkey.js';
import { Collection } from '../src/collection/collection.js';
import { importCollection } from '../src/collection/import.js';
import { openStore } from '../src/store/open.js';
import { dataLayout } from '../src/datadir.js';
import { LogService } from '../src/ledger/service.js';
import { logImport } from '../src/ledger/import-entries.js';
import { runOnce } from '../queue/runner.js';
import { createHash } from 'node:crypto';
import { runDigestCycle } from '../src/digest/run.js';
import { verifyDigest } from '../src/digest/verify-digest.js';
import { checkLogText, textOf } from '../src/ledger/proofmail.js';
import { verifySource } from '../src/ledger/verify-source.js';
import { Keyring } from '../src/pgp/keyring.js';
import { DEFAULT_CRYPTO_POLICY } from '../src/policy/index.js';
import { sendOutboxNow } from './digest.js';

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
  const layout = dataLayout(dataDir);
  const botAddress = 'ztrust-bot@demo.example';
  out(`ztrust-bot demo in ${root}\n\n`);

  // A small community (Alice, Bob and Carol are the maintainers), an
  // outsider, and a newcomer whose key Alice and Bob certified (and the
  // outsider too: that certification is stripped before storage).
  const [alice, bob, carol, dave, erin] = await Promise.all([
    person('Alice Mainframe', 'alice@demo.example'), person('Bob Volunteer', 'bob@demo.example'),
    person('Carol Sysprog', 'carol@demo.example'), person('Dave Outsider', 'dave@elsewhere.example'),
    person('Erin Newcomer', 'erin@demo.example'),
  ]);
  const maintainers = [alice, bob, carol].map((p) => p.key.getFingerprint().toUpperCase());
  const init = await initDataDir({ dataDir, address: botAddress, name: 'ztrust-bot', origin: 'demo.ztrust.example/log',
    // One message at a time, in Maildir order, so the story reads in the order it happened (the first approval, then the second).
    extra: { maintainers, threshold: 2, queue: { inboundConcurrency: 1 } } });
  out(`bot key ${init.botFingerprint}\n`);
  out(`maintainers (2 of 3 approve): ${[alice, bob, carol].map((p) => p.name).join(', ')}\n`);
  // The seed: the three maintainers' keys, cross-signed, imported the way an
  // operator seeds a new deployment (`ztrust-bot import DIR`).
  const seed = path.join(root, 'seed', 'pgp');
  mkdirSync(seed, { recursive: true });
  for (const p of [alice, bob, carol]) {
    const others = [alice, bob, carol].filter((q) => q !== p).map((q) => q.key);
    const certified = await p.key.toPublic().signAllUsers(others);
    writeFileSync(path.join(seed, `0x${p.key.getKeyID().toHex()}-${p.email}-public.asc`), certified.armor());
  }
  const botSigner = await loadBotSigner(layout.botKey,
    readFileSync(layout.passphrase, 'utf8').trim());
  const seeded = await importCollection(path.join(root, 'seed'), await Collection.open(layout.collection,
    { committer: { name: 'ztrust-bot', email: botAddress } }), { signer: async (d) => (await botSigner.signDetached(d)).armored });
  {
    const store = openStore(init.config);
    const log = await LogService.fromConfig(init.config, store);
    try {
      await logImport(log, seeded, layout.collection);
    } finally {
      await log.close();
      await store.close();
    }
  }
  out(`seed collection: ${seeded.imported.keys.length} cross-signed keys imported and logged (${seeded.findings.filter((f) => f.severity !== 'info').length} audit findings)\n`);
  const erinKey = await erin.key.toPublic().signAllUsers([alice.key, bob.key, dave.key]);
  // An upstream project's release-signing key and a release it signed: the
  // file and its detached signature, as a user downloads them.
  const upstream = await person('Demo Tool Releases', 'releases@demo-tool.example');
  const release = 'demo-tool-1.0';
  const downloads = path.join(root, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const artifact = path.join(downloads, `${release}.tar.gz`);
  const artifactBytes = Buffer.from(`${release}: the bytes of a release tarball, made for the demo\n`.repeat(64));
  writeFileSync(artifact, artifactBytes);
  const artifactSha256 = createHash('sha256').update(artifactBytes).digest('hex');
  writeFileSync(`${artifact}.sig`, (await openpgp.sign({
    message: await openpgp.createMessage({ binary: artifactBytes }), signingKeys: upstream.key, detached: true, format: 'binary',
  })) as Uint8Array);

  const inbox = layout.inbox;
  for (const sub of ['new', 'cur', 'tmp']) mkdirSync(path.join(inbox, sub), { recursive: true });
  let n = 0;
  const samples: { label: string; file: string; messageId: string; round: number }[] = [];
  let round = 1;
  const put = (label: string, raw: Buffer, messageId: string): void => {
    n++;
    const file = `${1700000000 + n}.demo${n}.localhost`;
    writeFileSync(path.join(inbox, 'new', file), raw.toString('utf8').replace(/\r\n/g, '\n'));
    samples.push({ label, file, messageId, round });
  };
  const signed = async (p: Person, signing: 'pgpmime' | 'inline', subject: string, body: string, id: string): Promise<Buffer> => {
    const m: OutgoingMail = {
      from: { name: p.name, address: p.email }, to: [botAddress], subject, messageId: `<${id}@demo.example>`, date: new Date(),
      autoSubmitted: null, loopHeader: null, body, signing,
    };
    return composeSigned(m, signerFromKey(p.key));
  };

  put('HELP, PGP/MIME-signed by a collection key', await signed(alice, 'pgpmime', 'help please', 'HELP\n', 'm1'), '<m1@demo.example>');
  put('HELP, inline-signed by a collection key', await signed(bob, 'inline', 'usage?', 'HELP\n\nThanks, Bob\n', 'm2'), '<m2@demo.example>');
  put('HELP, signed by a key outside the collection', await signed(dave, 'pgpmime', 'hi', 'HELP\n', 'm3'), '<m3@demo.example>');
  put('HELP, unsigned', plainMail({ From: 'Erin <erin@demo.example>', To: botAddress, Subject: 'help', 'Message-ID': '<m4@demo.example>' }, 'help\n'), '<m4@demo.example>');
  put('SUBMIT KEY by a newcomer, signed with that key, certified by Alice and Bob (and the outsider)',
    await signed(erin, 'pgpmime', 'my key', `SUBMIT KEY\nTo: ${botAddress}\n\n${erinKey.armor()}`, 'm5'), '<m5@demo.example>');
  put('SUBMIT KEY, unsigned (refused: must be signed)', plainMail({ From: 'erin@demo.example', To: botAddress, Subject: 'key', 'Message-ID': '<m6@demo.example>' }, 'SUBMIT KEY\n'), '<m6@demo.example>');
  const good = (await signed(alice, 'inline', 'approve', `APPROVE ZT-000001 ${'0'.repeat(64)}\nTo: ${botAddress}\n`, 'm7')).toString('utf8');
  put('APPROVE with a tampered inline signature', Buffer.from(good.replace('APPROVE ZT-000001', 'APPROVE ZT-000002')), '<m7@demo.example>');
  put('list traffic without a command (ignored)', plainMail({ From: 'frank@demo.example', To: 'linux-390@lists.demo.example', Subject: '[LINUX-390] z/VM question',
    'List-Id': 'LINUX-390 <linux-390.lists.demo.example>', Precedence: 'list', 'Message-ID': '<m8@demo.example>' }, 'Has anyone seen this IPL error?\n'), '<m8@demo.example>');
  put(`ATTEST of ${release}.tar.gz's SHA-256 by maintainer Alice`,
    await signed(alice, 'pgpmime', 'attest', `ATTEST\nTo: ${botAddress}\n\n${artifactSha256}  ${release}.tar.gz\n`, 'm14'), '<m14@demo.example>');
  // Carol vouches; Alice and Bob approve (a voucher's own approval does not count toward the threshold).
  put(`SUBMIT SOURCE KEY ${release} by maintainer Carol: the upstream key that signs it`,
    await signed(carol, 'pgpmime', 'source key', `SUBMIT SOURCE KEY ${release}\nTo: ${botAddress}\nChecked: https://demo-tool.example/releases (the project's page)\n\n${upstream.key.toPublic().armor()}`, 'm15'),
    '<m15@demo.example>');
  put('a bounce (never answered)', plainMail({ From: 'MAILER-DAEMON@demo.example', To: botAddress, Subject: 'Undelivered Mail', 'Return-Path': '<>',
    'Message-ID': '<m9@demo.example>' }, 'This is the mail system.\n'), '<m9@demo.example>');
  put('an out-of-office auto-reply (never answered)', plainMail({ From: 'gina@demo.example', To: botAddress, Subject: 'Out of office',
    'Auto-Submitted': 'auto-replied', 'Message-ID': '<m10@demo.example>' }, 'HELP\n'), '<m10@demo.example>');

  const logger = createLogger(process.env.ZTRUST_LOG_LEVEL ?? 'warn');
  const outbox = init.config.outbox.url.slice(4);
  const runRound = async (): Promise<number> => {
    const app = await openApp(init.config, logger);
    const t0 = Date.now();
    try {
      await runOnce(app);
    } finally {
      await app.close();
    }
    return Date.now() - t0;
  };
  interface Sent { status: string; file: string; to: string; inReplyTo: string | null; replied: boolean; subject: string; text: string }
  const sent = async (): Promise<Sent[]> => {
    const list: Sent[] = [];
    for (const f of readdirSync(outbox).filter((x) => x.endsWith('.eml')).sort()) {
      const parsed = await simpleParser(readFileSync(path.join(outbox, f)));
      // Both are plain text headers, which mailparser gives as strings.
      const header = (name: string) => { const v = parsed.headers.get(name); return typeof v === 'string' ? v : undefined; };
      list.push({
        status: header('x-ztrust-status') ?? '?', file: f,
        to: parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '', inReplyTo: parsed.inReplyTo ?? null,
        replied: header('auto-submitted') === 'auto-replied', subject: parsed.subject ?? '', text: parsed.text ?? '',
      });
    }
    return list;
  };
  const report = (mails: Sent[], r: number): void => {
    for (const s of samples.filter((x) => x.round === r)) {
      const reply = mails.find((m) => m.replied && m.inReplyTo === s.messageId);
      out(`- ${s.label}\n    ${reply ? `reply to ${reply.to}: Status: ${reply.status}` : 'no reply (by design)'}\n`);
    }
  };

  out(`\nround 1: ${samples.length} sample messages in ${inbox}\n`);
  out('running the pipeline (Maildir -> BullMQ on embedded Redis -> verify -> signed replies) ...\n\n');
  let ms = await runRound();
  let mails = await sent();
  report(mails, 1);
  const notices1 = mails.filter((m) => !m.replied);
  out(`- notices: ${notices1.map((m) => `${m.to} (Status: ${m.status})`).join(', ') || 'none'}\n`);

  // Round 2: Alice and Bob answer the notice they received, with the ticket
  // digest it shows; the second approval reaches the threshold and the apply
  // step writes the key into the collection (git commit) and tells Erin.
  // A ticket notice is known by its Ticket: field (the reply contract), not by the wording of its Subject.
  const ticketNotices = notices1.filter((m) => m.to.includes(alice.email) && /^Ticket: \S+$/m.test(m.text));
  if (ticketNotices.length) {
    round = 2;
    let k = 0;
    for (const notice of ticketNotices) {
      const ticket = /^Ticket: (\S+)$/m.exec(notice.text)?.[1] ?? '';
      const digest = /^Ticket-Digest: ([0-9a-f]{64})$/m.exec(notice.text)?.[1] ?? '';
      const what = notice.subject.replace(/^.*?: /, '');
      put(`APPROVE ${ticket} (${what}) by maintainer Alice (PGP/MIME), with the digest from her notice`,
        await signed(alice, 'pgpmime', `Re: ${notice.subject}`, `APPROVE ${ticket}\n${digest}\nTo: ${botAddress}\n`, `a${++k}`), `<a${k}@demo.example>`);
      put(`APPROVE ${ticket} by maintainer Bob (inline)`, await signed(bob, 'inline', 'approve', `APPROVE ${ticket} ${digest}\nTo: ${botAddress}\n`, `a${++k}`), `<a${k}@demo.example>`);
    }
    // Carol objects in a signed reply that quotes her notice without ">"
    // (Outlook style): the notice's APPROVE lines are in her signed text,
    // but the command is only ever the first line, so this is no vote.
    const carolNotice = notices1.find((m) => m.to.includes(carol.email) && /^Ticket: \S+$/m.test(m.text));
    put(`a signed objection by Carol quoting her notice without ">" (no command, so no vote)`,
      await signed(carol, 'pgpmime', `RE: ${ticketNotices[0].subject}`, `I object: I have not met Erin.\n\n-----Original Message-----\n${carolNotice?.text ?? ticketNotices[0].text}`, 'm13'),
      '<m13@demo.example>');
    out(`\nround 2: the maintainers approve ${ticketNotices.length} ticket(s)\n\n`);
    ms += await runRound();
    const before = new Set(mails.map((m) => m.file));
    mails = await sent();
    report(mails, 2);
    const notices2 = mails.filter((m) => !m.replied && !before.has(m.file));
    out(`- notices: ${notices2.map((m) => `${m.to} (Status: ${m.status})`).join(', ') || 'none'}\n`);
    const stored = readdirSync(path.join(layout.collection, 'pgp', 'all')).find((f) => f.startsWith(`0x${erin.key.getKeyID().toHex()}-`));
    out(`\ncollection: ${stored ? `pgp/all/${stored} (certified by Alice and Bob; the outsider's certification stripped)` : 'the key was not added'}\n`);
    const sourceFile = readdirSync(path.join(layout.collection, 'pgp', 'for-source')).find((f) => f.startsWith(`0x${upstream.key.getKeyID().toHex()}-`));
    out(`            ${sourceFile ? `pgp/for-source/${sourceFile}, listed for ${release} in pgp/for-source/key-and-source.md` : 'the source key was not added'}\n`);
  }

  // Round 3: anyone (unsigned) asks about the release, by hash and by name.
  round = 3;
  put(`VERIFY ${release}.tar.gz's SHA-256 (unsigned)`, plainMail({ From: 'Hank <hank@demo.example>', To: botAddress, Subject: 'is this file ok?', 'Message-ID': '<m16@demo.example>' },
    `VERIFY ${artifactSha256}\n`), '<m16@demo.example>');
  put(`VERIFY ${release} by release name (unsigned)`, plainMail({ From: 'Hank <hank@demo.example>', To: botAddress, Subject: 'which key?', 'Message-ID': '<m17@demo.example>' },
    `VERIFY ${release}\n`), '<m17@demo.example>');
  out('\nround 3: anyone asks about the release\n\n');
  ms += await runRound();
  mails = await sent();
  report(mails, 3);

  // A digest of every change so far, as the scheduler in `run` makes them.
  {
    const app = await openApp(init.config, logger);
    try {
      const d = await runDigestCycle(app);
      await sendOutboxNow(app, d.outboxIds);
      out(`\ndigest: ${d.digest ? `number ${d.digest.number}, ${d.digest.changes} change(s) and ${d.digest.attestations} attestation(s), in ${d.digest.file}` : `none (${d.skipped})`}\n`);
    } finally {
      await app.close();
    }
  }

  // Each thing checked offline, the way a user would, with only the public keys.
  const vkey = readFileSync(layout.logVerifierKey, 'utf8').trim();
  const checks: { what: string; ok: boolean; how: string }[] = [];
  const hashReply = readdirSync(outbox).filter((f) => f.endsWith('.eml')).map((f) => path.join(outbox, f))
    .find((f) => { const t = readFileSync(f, 'latin1'); return /In-Reply-To: <m16@demo\.example>/i.test(t); });
  if (hashReply) {
    const r = checkLogText(await textOf(readFileSync(hashReply)), vkey);
    checks.push({ what: `the VERIFY-by-hash reply's log proof (${path.basename(hashReply)})`, ok: r.ok,
      how: `ztrust-bot verify-proof ${hashReply} --log-key ${vkey}` });
  }
  const vs = await verifySource({
    artifactPath: artifact, signature: readFileSync(`${artifact}.sig`), signatureName: `${release}.tar.gz.sig`, collectionDir: layout.collection,
    log: { dir: layout.log, vkey }, policy: DEFAULT_CRYPTO_POLICY, now: new Date(),
  });
  checks.push({ what: `${release}.tar.gz against the collection: signature, key, release row and the vouch's log proof`, ok: vs.ok,
    how: `ztrust-bot verify-source ${artifact} --collection ${layout.collection} --log ${layout.log} --log-key ${vkey}` });
  const digestFile = readdirSync(path.join(dataDir, 'digests')).filter((f) => f.endsWith('.txt')).sort().pop();
  if (digestFile) {
    const file = path.join(dataDir, 'digests', digestFile);
    const r = await verifyDigest({ file: readFileSync(file), previous: null, botKeys: await Keyring.fromArmored(readFileSync(layout.botPublicKey, 'utf8')), logKey: vkey });
    checks.push({ what: `digest ${digestFile}: the bot's signature and the log's consistency proof`, ok: r.ok,
      how: `ztrust-bot verify-digest ${file} --bot-key ${layout.botPublicKey} --log-key ${vkey}` });
  }
  // The log key is given as text, as a user gets it from the bot's announcement
  // (`ztrust-bot key --log`): never the log.vkey shipped inside the log copy being checked.
  out(`\nchecked offline, as a user would (and the command that does it; the log key is the one \`ztrust-bot key --log --config ${init.configPath}\` prints):\n`);
  for (const c of checks) out(`- ${c.ok ? 'ok' : 'FAILED'}: ${c.what}\n    ${c.how}\n`);

  out(`\n${mails.length} signed replies and notices in ${ms} ms, written to ${outbox}\n`);
  out(`data directory: ${dataDir} (state.db, collection/, log/, keys/)\n`);
  out(`check a reply's signature: gpg --import ${layout.botPublicKey}, then verify the .eml\n`);
  out(`or: ztrust-bot check-mail --keyring ${layout.botPublicKey} ${outbox}\n`);
}
