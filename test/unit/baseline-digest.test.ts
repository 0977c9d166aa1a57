import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashCache, loadDigest, sha256File } from '../../src/baseline/digest.js';
import { hashBytes } from '../../src/hash/hash.js';

const dir = mkdtempSync(join(tmpdir(), 'bl-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('baseline digest', () => {
  it('hashes a file like the same bytes in memory, tagged with the algorithm', async () => {
    const d = await loadDigest();
    const p = join(dir, 'a.bin');
    writeFileSync(p, Buffer.alloc(3 << 20, 7));
    const expected = `xxh3:${(hashBytes(readFileSync(p), { algorithm: 'xxh3-64' }) as bigint).toString(16).padStart(16, '0')}`;
    expect(d.file(p)).toEqual({ hash: expected, size: 3 << 20 });
    expect(d.text('abc')).toBe(`xxh3:${(hashBytes(Buffer.from('abc'), { algorithm: 'xxh3-64' }) as bigint).toString(16).padStart(16, '0')}`);
  });

  it('refuses device files and missing files instead of reading forever or throwing', async () => {
    const d = await loadDigest();
    expect(d.file('/dev/zero')).toBeUndefined();
    expect(d.file(join(dir, 'missing'))).toBeUndefined();
    expect(sha256File(join(dir, 'missing'))).toBeUndefined();
  });

  it('remembers hashes by file identity and notices a rewrite even when mtime is put back', async () => {
    const cache = new HashCache(await loadDigest());
    const p = join(dir, 'lib.so');
    writeFileSync(p, 'original content');
    const first = cache.file(p)!;
    expect(cache.file(p)).toEqual(first);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
    const { atime, mtime } = statSync(p);
    // File times come from the kernel's coarse clock (one tick, a few ms): let it move on, as it has by the time
    // anyone rewrites a library after it was hashed.
    await new Promise((r) => setTimeout(r, 30));
    writeFileSync(p, 'tampered content'); // same size
    utimesSync(p, atime, mtime);
    const second = cache.file(p)!;
    expect(cache.misses).toBe(2);
    expect(second.hash).not.toBe(first.hash);
  });
});
