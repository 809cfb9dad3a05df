/**
 * The one lock and atomic-write library (src/fsync/): temp file + fsync +
 * rename, and lock files with one rule for a lock someone else left: a dead
 * holder on this host is taken over; a live one is waited for; a holder on
 * another host is never broken automatically (the error names the host, the
 * pid, the lock and how to clear it). Other processes are real child
 * processes, not simulated.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { removeStaleTemps, tempPath, writeFileAtomic } from '../../src/fsync/atomic.js';
import { FsError } from '../../src/fsync/errors.js';
import { TransportError } from '../../src/errors.js';
import { LockFile, lockIsStale, withLock } from '../../src/fsync/lock.js';
import { bootId } from '../../src/fsync/pid.js';
import { DirTransport } from '../../queue/transport.js';

const root = mkdtempSync(path.join(tmpdir(), 'zt-fsync-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = path.join(root, `t${++n}`);
  mkdirSync(d);
  return d;
};

/** The pid of a process that has exited (so: dead, on this host). */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

const fsError = (code: string, mention?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof FsError, `expected FsError, got ${String(e)}`);
  assert.equal(e.code, code);
  if (mention) assert.match(e.message, mention);
  return true;
};

const LIB = (f: string): string => JSON.stringify(new URL(`../../src/fsync/${f}`, import.meta.url).href);

/** A child process running `body` (ESM, with the library imported); resolves with its stdout when it exits 0. */
function child(body: string, onLine?: (line: string) => void): { done: Promise<string>; pid: number } {
  const script = `import { withLock, LockFile } from ${LIB('lock.ts')};\nimport { writeFileAtomic } from ${LIB('atomic.ts')};\n${body}`;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (onLine) for (const l of d.toString().split('\n').filter(Boolean)) onLine(l);
  });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<string>((resolve, reject) => p.on('exit', (c) => (c === 0 ? resolve(out) : reject(new Error(`child exited ${c}: ${err}`)))));
  return { done, pid: p.pid! };
}

describe('writeFileAtomic', () => {
  test('writes, replaces, leaves no temp file; mode as asked', async () => {
    const dir = fresh();
    const f = path.join(dir, 'sub', 'file.txt');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, Buffer.from('two'));
    assert.equal(readFileSync(f, 'utf8'), 'two');
    assert.deepEqual(readdirSync(path.dirname(f)), ['file.txt']);
    assert.equal(statSync(f).mode & 0o777, 0o644);
    const secret = path.join(dir, 'secret');
    await writeFileAtomic(secret, 'k', { mode: 0o600 });
    assert.equal(statSync(secret).mode & 0o777, 0o600);
  });

  test('fails cleanly (FS_IO, no leftovers) when the target is a directory', async () => {
    const dir = fresh();
    mkdirSync(path.join(dir, 'isdir'));
    await assert.rejects(writeFileAtomic(path.join(dir, 'isdir'), 'x'), fsError('FS_IO', /could not write .*isdir/));
    assert.deepEqual(readdirSync(dir), ['isdir']);
  });

  test('temp files in a separate directory (the log\'s .tmp/) are renamed into place', async () => {
    const dir = fresh();
    mkdirSync(path.join(dir, '.tmp'));
    await writeFileAtomic(path.join(dir, 'checkpoint'), 'cp\n', { tmpDir: path.join(dir, '.tmp') });
    assert.equal(readFileSync(path.join(dir, 'checkpoint'), 'utf8'), 'cp\n');
    assert.deepEqual(readdirSync(path.join(dir, '.tmp')), []);
  });
});

describe('torn temp files left by a crash', () => {
  test('removeStaleTemps removes a dead writer\'s temp files, keeps a live writer\'s and everything else', async () => {
    const dir = fresh();
    const torn = `.0001.eml.tmp-${deadPid()}-0123456789ab`;
    const live = path.basename(tempPath(path.join(dir, '0002.eml'))); // ours: this process is alive
    for (const f of [torn, live, '0003.eml', '.hidden', 'x.tmp-1-zz']) writeFileSync(path.join(dir, f), 'half');
    assert.deepEqual(await removeStaleTemps(dir), [torn]);
    assert.deepEqual(readdirSync(dir).sort(), [live, '.hidden', '0003.eml', 'x.tmp-1-zz'].sort());
    assert.deepEqual(await removeStaleTemps(path.join(dir, 'missing')), []);
  });

  test('the .eml outbox cleans a crashed writer\'s torn file and never delivers it', async () => {
    const dir = fresh();
    const torn = path.join(dir, `.reply-1.eml.tmp-${deadPid()}-0123456789ab`);
    writeFileSync(torn, 'X-Ztrust-Envelope: from=<b@x> to=<a@x>\r\nSubject: half a mes');
    const t = new DirTransport(dir);
    await t.send('reply-2', { from: 'b@x', to: ['a@x'] }, Buffer.from('Subject: whole\r\n\r\nbody\r\n'));
    assert.deepEqual(readdirSync(dir), ['reply-2.eml']);
    assert.equal(readFileSync(path.join(dir, 'reply-2.eml'), 'utf8'), 'X-Ztrust-Envelope: from=<b@x> to=<a@x>\r\nSubject: whole\r\n\r\nbody\r\n');
    // Closed (a worker stopping without its queue): a send is refused, nothing written.
    t.close();
    await assert.rejects(t.send('reply-3', { from: 'b@x', to: ['a@x'] }, Buffer.from('Subject: late\r\n\r\n')),
      (err: unknown) => err instanceof TransportError && err.code === 'TRANSPORT_SEND' && /the transport is closed/.test(err.message));
    assert.deepEqual(readdirSync(dir), ['reply-2.eml']);
  });
});

describe('the lock: one rule for a lock someone else holds', () => {
  test('held by a live process (a child): others wait, then fail with FS_LOCKED naming the pid and the lock', async () => {
    const lock = path.join(fresh(), 'a.lock');
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const lines: string[] = [];
    const c = child(`await withLock(${JSON.stringify(lock)}, async () => { process.stdout.write('held\\n'); await new Promise(r => setTimeout(r, 1500)); process.stdout.write('releasing\\n'); });`,
      (l) => { lines.push(l); if (l === 'held') held(); });
    await isHeld;
    assert.equal(await lockIsStale(lock), false);
    await assert.rejects(withLock(lock, async () => 'no', { timeoutMs: 100 }),
      fsError('FS_LOCKED', new RegExp(`^lock ${lock.replace(/[.]/g, '\\.')} is held by pid ${c.pid} on this host`)));
    // Waiting long enough gets it, only once the child has released it.
    assert.equal(await withLock(lock, async () => lines.join(' '), { timeoutMs: 10_000 }), 'held releasing');
    await c.done;
    assert.equal(existsSync(lock), false, 'released');
  });

  test('in one process, holders serialise and the lock is released after an exception', async () => {
    const lock = path.join(fresh(), 'b.lock');
    const events: string[] = [];
    const hold = (name: string) => withLock(lock, async () => {
      events.push(`${name}+`);
      await new Promise((r) => setTimeout(r, 30));
      events.push(`${name}-`);
      return name;
    });
    assert.deepEqual(await Promise.all([hold('A'), hold('B'), hold('C')]), ['A', 'B', 'C']);
    for (let i = 0; i < events.length; i += 2) assert.equal(events[i][0], events[i + 1][0], `no interleaving: ${events.join(' ')}`);
    await assert.rejects(withLock(lock, async () => { throw new Error('boom'); }), /boom/);
    assert.equal(existsSync(lock), false);
  });

  test('held by a dead pid on this host: stale, taken over (also a lock in the older collection format)', async () => {
    const dir = fresh();
    const lock = path.join(dir, 'c.lock');
    writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: hostname(), boot: await bootId(), token: 'x', since: 'then' }));
    assert.equal(await lockIsStale(lock), true);
    assert.equal(await withLock(lock, async () => 'got it', { timeoutMs: 0 }), 'got it');
    assert.equal(existsSync(lock), false);
    writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'x', created: new Date(0).toISOString() }));
    const l = await LockFile.acquire(lock);
    assert.equal((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid, process.pid);
    await l.release();
    assert.deepEqual(readdirSync(dir), [], 'no temp or set-aside file left');
  });

  test('held by this host before a reboot (another boot id, pid alive now): stale, taken over', async (t) => {
    if (!(await bootId())) return t.skip('no boot id on this system');
    const lock = path.join(fresh(), 'r.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), boot: 'an-earlier-boot', token: 'z', since: 'then' }));
    assert.equal(await withLock(lock, async () => 'got it'), 'got it');
  });

  test('held by another host: never broken, however old; the error names host, pid, lock and how to clear it', async () => {
    const lock = path.join(fresh(), 'd.lock');
    const text = JSON.stringify({ pid: 4242, host: 'worker-2.example', boot: 'b', token: 'y', since: '2026-01-01T00:00:00.000Z' });
    writeFileSync(lock, text);
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(lock, hourAgo, hourAgo);
    assert.equal(await lockIsStale(lock), false);
    const esc = lock.replace(/[.]/g, '\\.');
    await assert.rejects(withLock(lock, async () => 'no', { timeoutMs: 200 }), fsError('FS_LOCKED_ELSEWHERE', new RegExp(
      `^lock ${esc} is held by pid 4242 on host worker-2\\.example since 2026-01-01T00:00:00\\.000Z; `
      + `a lock from another host is never broken automatically: once pid 4242 on worker-2\\.example is known to be gone, remove ${esc}$`)));
    await assert.rejects(LockFile.acquire(lock), fsError('FS_LOCKED_ELSEWHERE'));
    assert.equal(readFileSync(lock, 'utf8'), text, 'the lock is untouched');
  });

  test('a lock file that is not a lock record is never broken (FS_LOCK_DAMAGED)', async () => {
    const lock = path.join(fresh(), 'e.lock');
    writeFileSync(lock, '');
    assert.equal(await lockIsStale(lock), false);
    await assert.rejects(withLock(lock, async () => 'no', { timeoutMs: 50 }), fsError('FS_LOCK_DAMAGED', /remove .*e\.lock/));
    assert.equal(readFileSync(lock, 'utf8'), '');
  });

  test('two processes writing under the lock never interleave, and readers never see a torn file', async () => {
    const dir = fresh();
    const lock = path.join(dir, 'w.lock');
    const counter = path.join(dir, 'counter');
    const journal = path.join(dir, 'journal');
    writeFileSync(counter, '0');
    const rounds = 25;
    const writer = (name: string) => child(`
      import { appendFileSync, readFileSync } from 'node:fs';
      for (let i = 0; i < ${rounds}; i++) {
        await withLock(${JSON.stringify(lock)}, async () => {
          appendFileSync(${JSON.stringify(journal)}, '${name}+\\n');
          const v = Number(readFileSync(${JSON.stringify(counter)}, 'utf8').split(' ')[0]);
          await new Promise((r) => setTimeout(r, 2));
          // A big value (the same number repeated) so that a torn write would show.
          await writeFileAtomic(${JSON.stringify(counter)}, Array(2000).fill(String(v + 1)).join(' '));
          appendFileSync(${JSON.stringify(journal)}, '${name}-\\n');
        }, { timeoutMs: 60000, pollMs: 1 });
      }`);
    const a = writer('A');
    const b = writer('B');
    let reads = 0;
    let running = true;
    void Promise.all([a.done, b.done]).finally(() => { running = false; });
    while (running) {
      const words = readFileSync(counter, 'utf8').split(' ');
      assert.ok(words.length === 1 || (words.length === 2000 && words.every((w) => w === words[0])), 'a reader saw a torn file');
      reads++;
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all([a.done, b.done]);
    assert.equal(readFileSync(counter, 'utf8').split(' ')[0], String(2 * rounds), 'no increment lost');
    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    assert.equal(lines.length, 4 * rounds);
    for (let i = 0; i < lines.length; i += 2) assert.equal(lines[i + 1], `${lines[i][0]}-`, `interleaved at line ${i}: ${lines.slice(i, i + 2).join(' ')}`);
    assert.ok(new Set(lines.map((l) => l[0])).size === 2 && reads > 0);
    assert.deepEqual(readdirSync(dir).sort(), ['counter', 'journal']);
  });
});
