import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, openSync, writeSync, ftruncateSync, closeSync, truncateSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { pattern } from '../fixtures/memory-images.js';
import { caught } from '../fixtures/errors.js';

// /dev/shm is where QEMU's memory-backend-file usually lives (tmpfs: holes are real, SEEK_DATA works).
const base = existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(base, 'parasight-live-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PAGE = 4096;

/** A sparse RAM file of `pages` pages where only `touched` pages were written (like a guest that used them). */
function ramFile(name: string, pages: number, touched: number[]): { path: string; page: (i: number) => Uint8Array } {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, pages * PAGE);
  for (const i of touched) writeSync(fd, pattern(i + 1, PAGE), 0, PAGE, i * PAGE);
  closeSync(fd);
  return { path, page: (i) => (touched.includes(i) ? pattern(i + 1, PAGE) : new Uint8Array(PAGE)) };
}

describe('live guest RAM file', () => {
  it('small files lie entirely below 4 GiB (q35 default rule)', () => {
    const f = ramFile('small.ram', 16, [0, 5]);
    const mem = openMemory({ kind: 'live-file', path: f.path });
    expect(mem.kind).toBe('live-file');
    expect(mem.ranges).toEqual([{ start: 0n, length: BigInt(16 * PAGE) }]);
    expect(Array.from(mem.readPhysical(5n * 4096n + 10n, 8))).toEqual(Array.from(f.page(5).subarray(10, 18)));
    mem.close();
  });

  it('with lowRamSize, the rest of the file sits at guest-physical 4 GiB', () => {
    const f = ramFile('split.ram', 8, [1, 2, 6]);
    const mem = openMemory({ kind: 'live-file', path: f.path, lowRamSize: 4 * PAGE });
    expect(mem.ranges).toEqual([
      { start: 0n, length: BigInt(4 * PAGE) },
      { start: 1n << 32n, length: BigInt(4 * PAGE) },
    ]);
    // guest-physical 4 GiB + 2 pages = file offset lowRamSize + 2 pages = page 6
    expect(Array.from(mem.readPhysical((1n << 32n) + 2n * 4096n, 16))).toEqual(Array.from(f.page(6).subarray(0, 16)));
    expect(caught(() => mem.readPhysical(4n * 4096n, 4)).code).toBe('HOLE');
    mem.close();
  });

  it('resident ranges are the pages the guest wrote (tmpfs holes are skipped)', () => {
    const f = ramFile('sparse.ram', 16, [0, 3, 4, 10]);
    const mem = openMemory({ kind: 'live-file', path: f.path, lowRamSize: 8 * PAGE });
    expect(mem.residentRanges()).toEqual([
      { start: 0n, length: 4096n },
      { start: 3n * 4096n, length: 2n * 4096n },
      { start: (1n << 32n) + 2n * 4096n, length: 4096n },
    ]);
    // Clipped to the query.
    expect(mem.residentRanges(4n * 4096n, 0x10n)).toEqual([{ start: 4n * 4096n, length: 0x10n }]);
    mem.close();
  });

  it('a file that shrinks under the reader gives SOURCE_GONE, and reads are never views', () => {
    const f = ramFile('shrink.ram', 16, [0, 12]);
    const mem = openMemory({ kind: 'live-file', path: f.path });
    const a = mem.readPhysical(0n, 16);
    const b = mem.readPhysical(0n, 16);
    expect(a.buffer).not.toBe(b.buffer); // copies: the file may change size
    truncateSync(f.path, 4 * PAGE);
    const e = caught(() => mem.readPhysical(12n * 4096n, 8));
    expect(e.code).toBe('SOURCE_GONE');
    expect(e.address).toBe(12n * 4096n);
    mem.close();
  });

  it('lowRamSize is validated', () => {
    expect(() => openMemory({ kind: 'live-file', path: '/x', lowRamSize: 2n ** 33n })).toThrow(
      'lowRamSize must be an integer in 0..4 GiB (0x100000000), got 8589934592',
    );
    expect(() => openMemory({ kind: 'live-file', path: '' })).toThrow('path must be a non-empty string');
  });
});
