import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { classifyName, isAnonExec, parseMaps } from '../../src/baseline/maps.js';

const sample = [
  '55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 260689                     /usr/bin/my app',
  '55d0c0a02000-55d0c0a05000 r-xp 00002000 fe:00 260689                     /usr/bin/my app',
  '55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0                          [heap]',
  '7f0000000000-7f0000001000 rwxp 00000000 00:00 0 ',
  '7f0000001000-7f0000002000 r-xp 00000000 00:01 1035                       /memfd:payload (deleted)',
  '7f0000002000-7f0000003000 r-xp 00001000 fe:00 4242                       /tmp/libgone.so (deleted)',
  '7f0000003000-7f0000004000 rw-s 00000000 00:01 7                          /dev/zero (deleted)',
  '7f0000004000-7f0000005000 rw-s 00000000 00:01 32769                      /SYSV0000abcd (deleted)',
  '7f0000005000-7f0000006000 rw-p 00000000 00:00 0                          [anon:v8 code]',
  '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
  '7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]',
  'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
  '',
].join('\n');

describe('parseMaps', () => {
  const { entries, bad } = parseMaps(sample);

  it('parses every field, including paths with spaces', () => {
    expect(bad).toEqual([]);
    expect(entries).toHaveLength(12);
    const e = entries[1]!;
    expect(e.start).toBe(0x55d0c0a02000n);
    expect(e.end).toBe(0x55d0c0a05000n);
    expect(e.perms).toBe('r-x');
    expect(e.shared).toBe(false);
    expect(e.offset).toBe(0x2000n);
    expect(e.dev).toBe('fe:00');
    expect(e.inode).toBe(260689);
    expect(e.path).toBe('/usr/bin/my app');
    expect(e.kind).toBe('file');
    expect(e.listName).toBe('/usr/bin/my app');
  });

  it('sees deleted files, memfd files and the anonymous kinds', () => {
    const by = (start: bigint) => entries.find((e) => e.start === start)!;
    expect(by(0x7f0000001000n)).toMatchObject({ kind: 'memfd', listName: 'memfd:payload', deleted: false });
    expect(by(0x7f0000002000n)).toMatchObject({ kind: 'file', path: '/tmp/libgone.so', deleted: true });
    expect(by(0x7f0000003000n)).toMatchObject({ kind: 'anon', listName: '', shared: true });
    expect(by(0x7f0000004000n)).toMatchObject({ kind: 'special', listName: '' });
    expect(by(0x7f0000005000n).kind).toBe('anon');
    expect(by(0x55d0c1000000n).kind).toBe('anon');
    expect(by(0x7ffd00100000n).kind).toBe('kernel');
  });

  it('counts anonymous executable memory but not kernel code pages', () => {
    const anonExec = entries.filter(isAnonExec).map((e) => e.start);
    expect(anonExec).toEqual([0x7f0000000000n]);
  });

  it('reports malformed lines instead of guessing', () => {
    const r = parseMaps('zzzz-1000 r-xp 0 0:0 0 /x\nnot a maps line\n00400000-00401000 r-xp 00000000 08:01 12 /bin/true\n');
    expect(r.entries.map((e) => e.path)).toEqual(['/bin/true']);
    expect(r.bad).toHaveLength(2);
  });

  it('parses this process\'s own maps completely', () => {
    const text = readFileSync('/proc/self/maps', 'utf8');
    const r = parseMaps(text);
    expect(r.bad).toEqual([]);
    expect(r.entries.length).toBe(text.trim().split('\n').length);
    expect(r.entries.some((e) => e.path === process.execPath || e.path.endsWith('/node'))).toBe(true);
  });
});

describe('classifyName', () => {
  it('treats a name without a leading slash as special, not as a file', () => {
    expect(classifyName('anon_inode:[perf_event]').kind).toBe('special');
    expect(classifyName('[vvar]').kind).toBe('special');
    expect(classifyName('').kind).toBe('anon');
  });
});
