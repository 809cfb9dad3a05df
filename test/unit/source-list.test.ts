/**
 * pgp/for-source/key-and-source.md (src/collection/source-list.ts) and the
 * release and key-file names of the folder (src/collection/naming.ts): the
 * group's text is kept byte for byte, rows are read and spliced in the way
 * the group writes them, and names that could leave the folder are refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  SOURCE_LIST_HEADER, formatSourceList, parseSourceList, resolveRows, sameRow, sourceRows, withRows, type SourceRow,
} from '../../src/collection/source-list.js';
import { isKeepableSourceFileName, parseRelease, parseSourceKeyName, sourceKeyFileName } from '../../src/collection/naming.js';

const DJM = '0x2a3f414e736060ba-djm@mindrot.org-signing.asc';
const MUSL = '0x56bcdb593020450f-musl@libc.org-signing.asc';
const pad = (key: string, release: string) => `    ${key}${' '.repeat(68 - 4 - key.length)}${release}`;

/** The list as the group keeps it: prose, indented rows padded to column 68, the question at the bottom. */
const GROUP = [
  '# Keys for software we build from source',
  '',
  'Each row: the key file in this folder, then the release it signs.',
  '',
  pad('0x528897b826403ada', 'gnupg-2.4.3'),
  pad(MUSL, 'musl-1.2.5'),
  pad(DJM, 'openssh-9.8p1'),
  pad('0x51722b08fe4745a2', 'zlib-1.3.1'),
  '',
  'I downloaded bash-5.3.tar.gz and bash-5.3.tar.gz.sig: which key should I',
  'trust, and does it check out?',
  '',
].join('\n');

const rowsOf = (text: string) => sourceRows(parseSourceList(text)).map((r) => [r.key, r.keyId, r.release]);

describe('parseSourceList / formatSourceList', () => {
  test('the group\'s list reads as its rows and is written back byte for byte', () => {
    const list = parseSourceList(GROUP);
    assert.equal(formatSourceList(list), GROUP);
    assert.deepEqual(list.problems, []);
    assert.deepEqual(rowsOf(GROUP), [
      ['0x528897b826403ada', '528897b826403ada', 'gnupg-2.4.3'],
      [MUSL, '56bcdb593020450f', 'musl-1.2.5'],
      [DJM, '2a3f414e736060ba', 'openssh-9.8p1'],
      ['0x51722b08fe4745a2', '51722b08fe4745a2', 'zlib-1.3.1'],
    ]);
  });

  test('CRLF, tabs, trailing blanks, no final newline: kept as found, rows still read', () => {
    const text = GROUP.replace(/\n/g, '\r\n');
    assert.equal(formatSourceList(parseSourceList(text)), text);
    assert.deepEqual(rowsOf(text), rowsOf(GROUP));
    const odd = `intro\n\t${DJM}\t\topenssh-9.8p1  \n  0x528897B826403ADA gnupg-2.4.3\t`;
    assert.equal(formatSourceList(parseSourceList(odd)), odd);
    assert.deepEqual(rowsOf(odd), [[DJM, '2a3f414e736060ba', 'openssh-9.8p1'], ['0x528897B826403ADA', '528897b826403ada', 'gnupg-2.4.3']]);
  });

  test('unindented 0x lines are prose; indented ones that are not "<key> <release>" are problems, kept as text', () => {
    const text = [
      '0x528897b826403ada is the GnuPG release key',
      '    0x528897b826403ada',
      `    ${DJM}   openssh-9.8p1   # checked at the keysigning`,
      '    0x528897b826403ada0011223344556677bbcc  gnupg-2.4.3',
      '    0x528897b826403ada  gnupg/../../etc',
      '    not-a-key  gnupg-2.4.3',
      '',
    ].join('\n');
    const list = parseSourceList(text);
    assert.equal(formatSourceList(list), text);
    assert.deepEqual(sourceRows(list), []);
    assert.deepEqual(list.problems.map((p) => p.line), [2, 3, 4, 5]);
    assert.match(list.problems[0].why, /not "<key file> <release>"/);
    assert.match(list.problems[2].why, /is not a key file name/);
    assert.match(list.problems[3].why, /is not a release name/);
    assert.equal(list.problems[3].text, '    0x528897b826403ada  gnupg/../../etc');
  });

  test('the empty text, a lone newline, text without a final newline', () => {
    for (const t of ['', '\n', '\n\n', 'x', 'x\r\n', '\r', '    ']) assert.equal(formatSourceList(parseSourceList(t)), t);
  });
});

describe('withRows', () => {
  test('in a sorted list a row goes where it sorts (package, then version in natural order), the rest unchanged', () => {
    const list = parseSourceList(GROUP);
    const next = withRows(list, [{ key: DJM, release: 'openssh-9.10p1' }, { key: DJM, release: 'openssh-9.9p1' }]);
    const lines = formatSourceList(next).split('\n');
    const at = lines.indexOf(pad(DJM, 'openssh-9.8p1'));
    assert.deepEqual(lines.slice(at, at + 3), [pad(DJM, 'openssh-9.8p1'), pad(DJM, 'openssh-9.9p1'), pad(DJM, 'openssh-9.10p1')]);
    // Removing the two new lines gives the group's text back exactly.
    assert.equal(lines.filter((l) => !/openssh-9\.(9|10)p1/.test(l)).join('\n'), GROUP);
    // A package that sorts first goes before the first row; one that sorts last after the last row, not after the prose.
    const first = formatSourceList(withRows(list, [{ key: '0x1111111111111111', release: 'bash-5.3' }])).split('\n');
    assert.equal(first[4], pad('0x1111111111111111', 'bash-5.3'));
    const last = formatSourceList(withRows(list, [{ key: '0x1111111111111111', release: 'zstd-1.5.6' }])).split('\n');
    assert.equal(last[8], pad('0x1111111111111111', 'zstd-1.5.6'));
    assert.equal(last[9], '');
  });

  test('in a list the group keeps in its own order a row goes after its package\'s last row, else after the last row', () => {
    const text = ['Rows:', pad(DJM, 'openssh-9.8p1'), pad(MUSL, 'musl-1.2.5'), pad(DJM, 'openssh-9.7p1'), pad(MUSL, 'musl-1.2.4'), 'end', ''].join('\n');
    const a = formatSourceList(withRows(parseSourceList(text), [{ key: DJM, release: 'openssh-9.9p1' }])).split('\n');
    assert.equal(a[4], pad(DJM, 'openssh-9.9p1'));
    const b = formatSourceList(withRows(parseSourceList(text), [{ key: '0x1111111111111111', release: 'curl-8.10.1' }])).split('\n');
    assert.equal(b[5], pad('0x1111111111111111', 'curl-8.10.1'));
    assert.equal(b[6], 'end');
  });

  test('a row the list holds (release compared case-insensitively, key by key id) is skipped: the same object comes back', () => {
    const list = parseSourceList(GROUP);
    assert.equal(withRows(list, []), list);
    assert.equal(withRows(list, [{ key: DJM, release: 'OpenSSH-9.8P1' }]), list);
    // The same key id under its bare name is the same key.
    assert.equal(withRows(list, [{ key: '0x2a3f414e736060ba', release: 'openssh-9.8p1' }]), list);
    // The same release for another key is another row.
    assert.notEqual(withRows(list, [{ key: MUSL, release: 'openssh-9.8p1' }]), list);
    // Two equal rows in one call: one row.
    const twice = withRows(list, [{ key: DJM, release: 'openssh-9.9p1' }, { key: DJM, release: 'OPENSSH-9.9p1' }]);
    assert.equal(sourceRows(twice).length, 5);
  });

  test('an empty (or missing) list gets the header, then the row', () => {
    const text = formatSourceList(withRows(parseSourceList(''), [{ key: DJM, release: 'openssh-9.8p1' }]));
    assert.equal(text, `${SOURCE_LIST_HEADER.join('\n')}\n${pad(DJM, 'openssh-9.8p1')}\n`);
    assert.deepEqual(rowsOf(text), [[DJM, '2a3f414e736060ba', 'openssh-9.8p1']]);
    // Prose but no row yet: the rows start a block of their own after a blank line.
    assert.equal(formatSourceList(withRows(parseSourceList('# Keys\n'), [{ key: DJM, release: 'openssh-9.8p1' }])), `# Keys\n\n${pad(DJM, 'openssh-9.8p1')}\n`);
  });

  test('new rows take the list\'s indent and column', () => {
    const text = `Rows:\n\t${DJM}  openssh-9.8p1\n`;
    const out = formatSourceList(withRows(parseSourceList(text), [{ key: MUSL, release: 'musl-1.2.5' }]));
    // The release column, not the gap: the shorter name gets the longer gap.
    assert.equal(out, `Rows:\n\t${MUSL}    musl-1.2.5\n\t${DJM}  openssh-9.8p1\n`);
  });

  test('a CRLF list gets CRLF rows; a list without a final newline keeps none', () => {
    const crlf = GROUP.replace(/\n/g, '\r\n');
    const out = formatSourceList(withRows(parseSourceList(crlf), [{ key: '0x1111111111111111', release: 'zstd-1.5.6' }, { key: '0x1111111111111111', release: 'bash-5.3' }]));
    assert.doesNotMatch(out, /[^\r]\n/);
    assert.equal(out.split('\r\n').filter((l) => !/zstd|bash-5\.3 *$/.test(l) || /downloaded/.test(l)).join('\r\n'), crlf);
    const bare = `Rows:\r\n${pad(DJM, 'openssh-9.8p1')}`;
    const added = formatSourceList(withRows(parseSourceList(bare), [{ key: MUSL, release: 'openssh-9.9p1' }]));
    assert.equal(added, `Rows:\r\n${pad(DJM, 'openssh-9.8p1')}\r\n${pad(MUSL, 'openssh-9.9p1')}`);
    const lf = 'Rows:\n    0x1111111111111111  bash-5.3';
    assert.equal(formatSourceList(withRows(parseSourceList(lf), [{ key: '0x1111111111111111', release: 'curl-8.10.1' }])),
      'Rows:\n    0x1111111111111111  bash-5.3\n    0x1111111111111111  curl-8.10.1');
  });

  test('problems are numbered for the new text; rows that are not rows are refused', () => {
    const text = `${pad(DJM, 'openssh-9.8p1')}\n    0x528897b826403ada\n`;
    const next = withRows(parseSourceList(text), [{ key: MUSL, release: 'musl-1.2.5' }]);
    assert.deepEqual(next.problems.map((p) => p.line), [3]);
    assert.throws(() => withRows(parseSourceList(''), [{ key: 'evil/../x', release: 'bash-5.3' }]), /not a source list row/);
    assert.throws(() => withRows(parseSourceList(''), [{ key: DJM, release: 'bash 5.3' }]), /not a source list row/);
  });
});

describe('resolveRows', () => {
  const keys = [
    { file: `pgp/for-source/${DJM}`, keyId: '2a3f414e736060ba' },
    { file: 'pgp/for-source/0x51722b08fe4745a2', keyId: '51722b08fe4745a2' },
    { file: 'pgp/for-source/0x528897b826403ada-gnupg@example.org-signing.asc', keyId: '528897b826403ada' },
  ];
  const names = new Set([...keys.map((k) => k.file.split('/').pop()!), 'multi.asc']);
  const row = (key: string, release: string): SourceRow => ({ key, keyId: parseSourceKeyName(key)?.keyId ?? '', release });

  test('a file name finds its file; a bare key id finds the one file holding that key; an absent file name finds nothing', () => {
    const r = resolveRows([
      row(DJM, 'openssh-9.8p1'),
      row('0x51722b08fe4745a2', 'zlib-1.3.1'),
      row('0x528897B826403ADA', 'gnupg-2.4.3'),
      row('0x56bcdb593020450f', 'musl-1.2.5'),
      row('0x2a3f414e736060ba-old@mindrot.org-signing.asc', 'openssh-9.7p1'),
    ], keys, names);
    assert.deepEqual(r.map((x) => [x.key?.keyId ?? null, x.fileExists]), [
      ['2a3f414e736060ba', true],
      ['51722b08fe4745a2', true],
      ['528897b826403ada', false],
      [null, false],
      [null, false],
    ]);
  });
});

describe('release and key file names', () => {
  test('parseRelease splits real release names at the last dash before a digit', () => {
    const cases: [string, string, string][] = [
      ['openssh-9.8p1', 'openssh', '9.8p1'],
      ['gnupg-2.4.3', 'gnupg', '2.4.3'],
      ['util-linux-2.40.1', 'util-linux', '2.40.1'],
      ['musl-1.2.5', 'musl', '1.2.5'],
      ['bash-5.3', 'bash', '5.3'],
      ['zlib-1.3.1', 'zlib', '1.3.1'],
      ['tor-0.4.8.12', 'tor', '0.4.8.12'],
      ['curl-8.10.1', 'curl', '8.10.1'],
      ['gtk+-3.24.41', 'gtk+', '3.24.41'],
      ['openssl-3.0.0-alpha1', 'openssl', '3.0.0-alpha1'],
      ['coreutils', 'coreutils', ''],
    ];
    for (const [name, pkg, version] of cases) assert.deepEqual(parseRelease(name), { release: name, package: pkg, version }, name);
  });

  test('parseRelease refuses what could be a path, a second word or an oversized name', () => {
    for (const bad of ['', 'bash/5.3', 'bash\\5.3', '../bash-5.3', 'bash-5..3', 'bash 5.3', 'bash-5.3\n', '-bash-5.3', '.bash-5.3',
      'bash-5.3;rm', 'bäsh-5.3', `a${'1'.repeat(100)}`]) {
      assert.equal(parseRelease(bad), null, JSON.stringify(bad));
    }
    assert.notEqual(parseRelease(`a${'1'.repeat(99)}`), null, '100 characters is the bound');
  });

  test('parseSourceKeyName reads the rule, a bare key id and the group\'s other names, and refuses the rest', () => {
    assert.deepEqual(parseSourceKeyName(DJM), { keyId: '2a3f414e736060ba', identity: 'djm@mindrot.org', rule: true });
    assert.deepEqual(parseSourceKeyName('0x51722b08fe4745a2'), { keyId: '51722b08fe4745a2', identity: null, rule: false });
    assert.deepEqual(parseSourceKeyName('0x51722B08FE4745A2-x@y.org-signing.asc'), { keyId: '51722b08fe4745a2', identity: 'x@y.org', rule: false });
    assert.deepEqual(parseSourceKeyName('0x51722b08fe4745a2.asc'), { keyId: '51722b08fe4745a2', identity: null, rule: false });
    assert.deepEqual(parseSourceKeyName('0x51722b08fe4745a2-x@y.org-public.asc'), { keyId: '51722b08fe4745a2', identity: null, rule: false });
    for (const bad of ['51722b08fe4745a2', '0x51722b08fe4745', '0x51722b08fe4745a2/../x', '0x51722b08fe4745a2..asc', '0x51722b08fe4745a2 x',
      // A fingerprint is not a key id: its first 16 digits are not the key's id.
      '0x2a3f414e736060ba0011223344556677889900aa', '0x51722b08fe4745a2ab-x-signing.asc']) {
      assert.equal(parseSourceKeyName(bad), null, bad);
    }
    assert.equal(sourceKeyFileName('2A3F414E736060BA', 'djm@mindrot.org'), DJM);
  });

  test('isKeepableSourceFileName: any plain name of the folder, none that leaves it or that the manifest cannot list', () => {
    for (const ok of ['0x51722b08fe4745a2', DJM, 'README.md', 'old key (2019).asc', 'ключ.asc']) assert.ok(isKeepableSourceFileName(ok), ok);
    for (const bad of ['', '.hidden', '..', 'a/b', 'a\\b', 'a\nb', 'a\rb', 'a\u0000b', 'x'.repeat(201)]) assert.ok(!isKeepableSourceFileName(bad), JSON.stringify(bad));
  });
});

describe('properties', () => {
  const RUNS = 1000;
  /** Text made mostly of the pieces a list is made of, so many lines are rows or near-rows. */
  const listText = fc.array(fc.oneof(
    fc.constantFrom('\n', '\r\n', '\r', ' ', '    ', '\t', '0x', '0x528897b826403ada', DJM, '-signing.asc', 'openssh-9.8p1', 'bash-5.3', '..', '/', '#', 'é'),
    fc.string({ maxLength: 8 }),
  ), { maxLength: 60 }).map((parts) => parts.join(''));
  const release = fc.tuple(fc.constantFrom('bash', 'curl', 'openssh', 'util-linux', 'zlib', 'a'), fc.array(fc.nat(30), { minLength: 1, maxLength: 4 }), fc.constantFrom('', 'p1', 'rc2'))
    .map(([p, v, s]) => `${p}-${v.join('.')}${s}`);
  const key = fc.oneof(
    fc.constantFrom(DJM, MUSL, '0x51722b08fe4745a2'),
    fc.stringMatching(/^[0-9a-f]{16}$/).map((h) => `0x${h}`),
  );
  const rows = fc.array(fc.record({ key, release }), { maxLength: 6 });

  test('formatSourceList(parseSourceList(x)) === x for any text', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), listText), (x) => {
      assert.equal(formatSourceList(parseSourceList(x)), x);
    }), { numRuns: RUNS });
  });

  test('after withRows every added row is read back, every old line is still there in order, and the old rows are too', () => {
    fc.assert(fc.property(listText, rows, (x, add) => {
      const before = parseSourceList(x);
      const next = withRows(before, add);
      const text = formatSourceList(next);
      const back = parseSourceList(text);
      assert.equal(formatSourceList(back), text);
      const got = sourceRows(back);
      for (const a of add) {
        const want = { ...a, keyId: parseSourceKeyName(a.key)!.keyId };
        assert.ok(got.some((r) => sameRow(r, want)), `${a.key} ${a.release} missing from ${JSON.stringify(text)}`);
      }
      for (const r of sourceRows(before)) assert.ok(got.some((g) => g.key === r.key && g.release === r.release));
      // The old lines are a subsequence of the new ones (nothing of the group's moved or changed) but for a line end a new last line needed.
      const newLines = next.lines.map((l) => l.raw.replace(/\r$/, ''));
      let i = 0;
      for (const l of before.lines.map((o) => o.raw.replace(/\r$/, ''))) {
        while (i < newLines.length && newLines[i] !== l) i++;
        assert.ok(i < newLines.length, `line ${JSON.stringify(l)} lost`);
        i++;
      }
      if (add.length === 0) assert.equal(next, before);
      // Added twice: nothing more.
      assert.equal(withRows(back, add), back);
    }), { numRuns: RUNS });
  });
});
