import { beforeAll, describe, expect, it } from 'vitest';
import type { FileProbe, FileUse } from '../../src/baseline/collect.js';
import { buildRecord, compare, mergeRecords } from '../../src/baseline/compare.js';
import { loadDigest, type Digest } from '../../src/baseline/digest.js';
import { canonicalFeature } from '../../src/baseline/feature.js';
import { parseMaps } from '../../src/baseline/maps.js';
import type { BaselineRecord, Finding, Snapshot } from '../../src/baseline/types.js';

let digest: Digest;
beforeAll(async () => {
  digest = await loadDigest();
});

const line = (start: number, perms: string, path: string, inode = 1) =>
  `${start.toString(16).padStart(12, '0')}-${(start + 0x1000).toString(16).padStart(12, '0')} ${perms} 00000000 fe:00 ${inode}    ${path}`;

/** A process map built from (perms, path) pairs; addresses shift with `aslr` like a restart would move them. */
function proc(pid: number, maps: [string, string][], aslr = 0): Snapshot['processes'][number] {
  const text = maps.map(([perms, path], i) => line(0x7f0000000000 + aslr * 0x100000 + i * 0x1000, perms, path)).join('\n');
  return { pid, name: 'app', exe: '/opt/app/bin/app', entries: parseMaps(text).entries, problems: [] };
}

function snap(processes: Snapshot['processes'], version = '1.0'): Snapshot {
  return {
    app: '/opt/app/bin/app',
    appVersion: { version, source: 'given' },
    env: { osVersion: 'TestOS 1; kernel 6.1', deviceModel: 'Test Board' },
    processes,
    origin: 'host',
    collectedAt: '2026-01-01T00:00:00.000Z',
    problems: [],
  };
}

/** File access by table: content hash per path (mutable so a test can "tamper"), ELF magic per path. */
function probe(hashes: Record<string, string>, elf: string[] = []): FileProbe {
  return {
    isElf: (u: FileUse) => elf.includes(u.name),
    hash: (u: FileUse) => (hashes[u.name] === undefined ? undefined : { hash: digest.text(hashes[u.name]!), size: 1 }),
    sha256: (u: FileUse) => (hashes[u.name] === undefined ? undefined : `sha256-of-${u.name}`),
  };
}

const clean: [string, string][] = [
  ['r-xp', '/opt/app/bin/app'],
  ['r--p', '/opt/app/bin/app'],
  ['r-xp', '/usr/lib/libc.so.6'],
  ['r--p', '/usr/share/locale/locale-archive'],
  ['rw-p', '[heap]'],
  ['rwxp', ''],
];
const contents = {
  '/opt/app/bin/app': 'app v1',
  '/usr/lib/libc.so.6': 'libc',
  '/usr/share/locale/locale-archive': 'locales',
};

function record(p = probe(contents)): BaselineRecord {
  return buildRecord(snap([proc(10, clean)]), { digest, probe: p });
}

const kinds = (fs: Finding[]) => fs.map((f) => `${f.kind}:${f.risk}:${f.path}`).sort();

describe('baseline comparison', () => {
  it('finds nothing on a clean restart (other addresses, same files)', () => {
    const c = compare(snap([proc(99, clean, 7)]), record(), { digest, probe: probe(contents) });
    expect(c.findings).toEqual([]);
    expect(c.risk).toBe('none');
    expect(c.samePaths).toBe(true);
  });

  it('reports an extra shared object as high risk code, an extra data file as low', () => {
    const now = [...clean, ['r-xp', '/tmp/evil.so'] as [string, string], ['r--p', '/tmp/fonts.cache'] as [string, string]];
    const c = compare(snap([proc(11, now)]), record(), { digest, probe: probe({ ...contents, '/tmp/evil.so': 'x', '/tmp/fonts.cache': 'y' }) });
    expect(kinds(c.findings)).toEqual(['extra:high:/tmp/evil.so', 'extra:low:/tmp/fonts.cache']);
    expect(c.risk).toBe('high');
    expect(c.samePaths).toBe(false);
    const evil = c.findings.find((f) => f.path === '/tmp/evil.so')!;
    expect(evil).toMatchObject({ code: true, why: 'exec-mapping', pids: [11], sha256: 'sha256-of-/tmp/evil.so' });
  });

  it('classifies a read-only mapped file as code by ELF magic or by extension', () => {
    const now = [...clean, ['r--p', '/tmp/blob'] as [string, string], ['r--p', '/tmp/x.jar'] as [string, string]];
    const c = compare(snap([proc(11, now)]), record(), { digest, probe: probe(contents, ['/tmp/blob']), hashFiles: false });
    const by = Object.fromEntries(c.findings.map((f) => [f.path, f]));
    expect(by['/tmp/blob']).toMatchObject({ risk: 'high', why: 'elf' });
    expect(by['/tmp/x.jar']).toMatchObject({ risk: 'high', why: 'extension' });
  });

  it('reports missing code as high and missing data as low', () => {
    const now = clean.filter(([, p]) => p !== '/usr/lib/libc.so.6' && p !== '/usr/share/locale/locale-archive');
    const c = compare(snap([proc(12, now)]), record(), { digest, probe: probe(contents) });
    expect(kinds(c.findings)).toEqual(['missing:high:/usr/lib/libc.so.6', 'missing:low:/usr/share/locale/locale-archive']);
  });

  it('finds a tampered file when the path list is equal but the content is not', () => {
    const c = compare(snap([proc(13, clean)]), record(), {
      digest,
      probe: probe({ ...contents, '/usr/lib/libc.so.6': 'libc with a hook' }),
    });
    expect(c.samePaths).toBe(true);
    expect(kinds(c.findings)).toEqual(['tampered:high:/usr/lib/libc.so.6']);
    const f = c.findings[0]!;
    expect(f.hashFrom).toBe('baseline');
    expect(f.expectedHash).toBe(digest.text('libc'));
    expect(f.actualHash).toBe(digest.text('libc with a hook'));
  });

  it('falls back to the previous version\'s hashes (weaker) and to presets (strong)', () => {
    const unhashed = buildRecord(snap([proc(10, clean)], '2.0'), { digest, probe: probe(contents), hashFiles: false });
    const previous = record();
    const tampered = probe({ ...contents, '/usr/lib/libc.so.6': 'other', '/usr/share/locale/locale-archive': 'changed' });
    const c = compare(snap([proc(14, clean)], '2.0'), unhashed, { digest, probe: tampered, previous });
    expect(kinds(c.findings)).toEqual(['tampered:low:/usr/share/locale/locale-archive', 'tampered:medium:/usr/lib/libc.so.6']);
    const preset = new Map([['/usr/lib/libc.so.6', digest.text('libc')]]);
    const p = compare(snap([proc(14, clean)], '2.0'), unhashed, { digest, probe: tampered, preset });
    expect(kinds(p.findings)).toEqual(['tampered:high:/usr/lib/libc.so.6']);
    expect(p.findings[0]!.hashFrom).toBe('preset');
  });

  it('flags memfd code, deleted code and extra anonymous executable memory', () => {
    const now: [string, string][] = [
      ...clean.map(([perms, path]) => [perms, path === '/usr/lib/libc.so.6' ? '/usr/lib/libc.so.6 (deleted)' : path] as [string, string]),
      ['r-xp', '/memfd:payload (deleted)'],
      ['r-xp', ''],
    ];
    const c = compare(snap([proc(15, now)]), record(), { digest, probe: probe(contents), hashFiles: false });
    expect(kinds(c.findings)).toEqual(['anon-exec:high:', 'deleted:high:/usr/lib/libc.so.6', 'memfd:high:memfd:payload']);
    expect(c.findings.find((f) => f.kind === 'anon-exec')!.ranges).toHaveLength(2);
  });

  it('keeps the anonymous executable allowance per app: a number, "any", or what the clean run showed', () => {
    const now = [...clean, ['r-xp', ''] as [string, string], ['rwxp', ''] as [string, string]];
    const base = record();
    expect(base.anonExecMax).toBe(1);
    const s = snap([proc(16, now)]);
    expect(kinds(compare(s, base, { digest, probe: probe(contents) }).findings)).toEqual(['anon-exec:high:']);
    expect(compare(s, { ...base, policy: { anonExec: 3 } }, { digest, probe: probe(contents) }).findings).toEqual([]);
    expect(compare(s, { ...base, policy: { anonExec: 'any' } }, { digest, probe: probe(contents) }).findings).toEqual([]);
  });

  it('reports written code pages beyond what the clean recording showed, per file', () => {
    /** A process whose text mapping of `path` has `pages` private copies (undefined: code pages not checked). */
    const written = (pid: number, pages: Record<string, number> | undefined) => {
      const p = proc(pid, clean);
      if (pages !== undefined) {
        p.modifiedCode = Object.entries(pages).map(([path, n]) => {
          const e = p.entries.find((x) => x.path === path && x.perms === 'r-x')!;
          return { path, start: e.start, end: e.end, perms: e.perms, pages: n, first: e.start };
        });
      }
      return p;
    };
    const ctx = { digest, probe: probe(contents), hashFiles: false };
    const plain = buildRecord(snap([proc(10, clean)]), ctx);
    expect(plain.files.every((f) => f.modifiedCode === undefined)).toBe(true);
    expect(compare(snap([written(20, {})]), plain, ctx).findings).toEqual([]);
    // Not checked at all says nothing.
    expect(compare(snap([written(21, undefined)]), plain, ctx).findings).toEqual([]);
    const c = compare(snap([written(22, { '/usr/lib/libc.so.6': 2 }), written(23, {})]), plain, ctx);
    expect(kinds(c.findings)).toEqual(['code-modified:high:/usr/lib/libc.so.6']);
    expect(c.findings[0]).toMatchObject({ pids: [22], code: true, why: 'exec-mapping' });
    expect(c.findings[0]!.reason).toMatch(/2 code page\(s\) of \/usr\/lib\/libc.so.6 .*had none/);
    // A library relocated in its text (TEXTREL) shows private pages when clean: that many stay normal for it.
    const textrel = buildRecord(snap([written(11, { '/opt/app/bin/app': 3 })]), ctx);
    expect(textrel.files.find((f) => f.path === '/opt/app/bin/app')!.modifiedCode).toBe(3);
    expect(compare(snap([written(24, { '/opt/app/bin/app': 3 })]), textrel, ctx).findings).toEqual([]);
    expect(kinds(compare(snap([written(25, { '/opt/app/bin/app': 4 })]), textrel, ctx).findings)).toEqual(['code-modified:high:/opt/app/bin/app']);
    expect(mergeRecords(plain, textrel, digest).files.find((f) => f.path === '/opt/app/bin/app')!.modifiedCode).toBe(3);
  });

  it('reports a file it cannot read as unverified, not as tampered', () => {
    const c = compare(snap([proc(17, clean)]), record(), { digest, probe: probe({ '/opt/app/bin/app': 'app v1', '/usr/lib/libc.so.6': 'libc' }) });
    expect(kinds(c.findings)).toEqual(['unverified:low:/usr/share/locale/locale-archive']);
  });

  it('merges all processes of an app and names the process that carries an extra file', () => {
    const c = compare(snap([proc(20, clean), proc(21, [...clean, ['r-xp', '/dev/shm/x.so']], 3)]), record(), {
      digest,
      probe: probe(contents),
    });
    expect(kinds(c.findings)).toEqual(['extra:high:/dev/shm/x.so']);
    expect(c.findings[0]!.pids).toEqual([21]);
  });
});

describe('merged recordings', () => {
  it('marks files seen in only some clean runs optional, so their absence is not reported', () => {
    const withPlugin = buildRecord(snap([proc(1, [...clean, ['r-xp', '/opt/app/plugins/a.so']])]), {
      digest,
      probe: probe({ ...contents, '/opt/app/plugins/a.so': 'a' }),
    });
    const merged = mergeRecords(record(), withPlugin, digest);
    expect(merged.files.filter((f) => f.optional).map((f) => f.path)).toEqual(['/opt/app/plugins/a.so']);
    expect(compare(snap([proc(2, clean)]), merged, { digest, probe: probe(contents) }).findings).toEqual([]);
    // Without merging, the same run is reported: the plugin is missing code.
    expect(kinds(compare(snap([proc(2, clean)]), withPlugin, { digest, probe: probe(contents) }).findings)).toEqual([
      'missing:high:/opt/app/plugins/a.so',
    ]);
    // Files present in every run stay required.
    const noLibc = clean.filter(([, p]) => p !== '/usr/lib/libc.so.6');
    expect(kinds(compare(snap([proc(3, noLibc)]), merged, { digest, probe: probe(contents) }).findings)).toEqual([
      'missing:high:/usr/lib/libc.so.6',
    ]);
  });
});

describe('feature value', () => {
  it('is the documented canonical text, independent of map order and addresses', () => {
    const r = record();
    expect(r.feature.paths).toEqual(['/opt/app/bin/app', '/usr/lib/libc.so.6', '/usr/share/locale/locale-archive']);
    const text = canonicalFeature(r.feature, r.feature.paths);
    expect(text).toBe(
      'parasight-feature/1\napp=/opt/app/bin/app\napp-version=1.0\nos=TestOS 1; kernel 6.1\ndevice=Test Board\n' +
        '/opt/app/bin/app\n/usr/lib/libc.so.6\n/usr/share/locale/locale-archive\n',
    );
    expect(r.feature.featureHash).toBe(digest.text(text));
    const shuffled = buildRecord(snap([proc(3, [...clean].reverse(), 5)]), { digest, probe: probe(contents) });
    expect(shuffled.feature.featureHash).toBe(r.feature.featureHash);
  });

  it('cannot be forged by a newline inside a field', () => {
    const a = canonicalFeature({ app: 'a', appVersion: '1', osVersion: 'o', deviceModel: 'd' }, ['/x\n/y']);
    const b = canonicalFeature({ app: 'a', appVersion: '1', osVersion: 'o', deviceModel: 'd' }, ['/x', '/y']);
    expect(a).not.toBe(b);
  });

  it('changes with any key field', () => {
    const r = record();
    const other = buildRecord(snap([proc(10, clean)], '1.1'), { digest, probe: probe(contents) });
    expect(other.feature.pathHash).toBe(r.feature.pathHash);
    expect(other.feature.featureHash).not.toBe(r.feature.featureHash);
  });
});
