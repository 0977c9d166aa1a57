import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory, ParasightError } from '../../src/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-raw-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function image(name: string, size: number): { path: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('raw image source', () => {
  it('reports one range covering the file and reads bytes at any offset', () => {
    const { path, bytes } = image('a.raw', 3 * 4096 + 100);
    const mem = openMemory(path);
    expect(mem.kind).toBe('raw');
    expect(mem.size).toBe(BigInt(bytes.length));
    expect(mem.ranges).toEqual([{ start: 0n, length: BigInt(bytes.length) }]);
    expect(Array.from(mem.readPhysical(0x0ffcn, 16))).toEqual(Array.from(bytes.subarray(0xffc, 0xffc + 16)));
    mem.close();
  });

  it('throws OUT_OF_RANGE with the failing address past the end', () => {
    const { path } = image('b.raw', 8192);
    const mem = openMemory(path);
    let caught: unknown;
    try {
      mem.readPhysical(8190n, 4);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ParasightError);
    expect((caught as ParasightError).code).toBe('OUT_OF_RANGE');
    expect((caught as ParasightError).address).toBe(8192n);
    expect((caught as ParasightError).message).toContain(path);
    mem.close();
  });

  it('partial reads zero the unreadable tail and count what was read', () => {
    const { path, bytes } = image('c.raw', 8192);
    const mem = openMemory(path);
    const dst = new Uint8Array(16).fill(0xaa);
    expect(mem.readPhysicalInto(8184n, dst, { partial: true })).toBe(8);
    expect(Array.from(dst.subarray(0, 8))).toEqual(Array.from(bytes.subarray(8184)));
    expect(Array.from(dst.subarray(8))).toEqual(new Array(8).fill(0));
    mem.close();
  });

  it('batched reads flag each item', () => {
    const { path, bytes } = image('d.raw', 8192);
    const mem = openMemory(path);
    const { bytes: out, ok } = mem.readMany(new BigUint64Array([0n, 4096n, 9000n]), 8);
    expect(Array.from(ok)).toEqual([1, 1, 0]);
    expect(Array.from(out.subarray(8, 16))).toEqual(Array.from(bytes.subarray(4096, 4104)));
    expect(Array.from(out.subarray(16))).toEqual(new Array(8).fill(0));
    mem.close();
  });

  it('batched reads of a file truncated while mapped flag the lost items and keep the rest', () => {
    const { path, bytes } = image('f.raw', 64 * 1024);
    const mem = openMemory(path);
    truncateSync(path, 8192);
    // Reads in one batch run under one fault guard: a fault in the middle must not lose the items after it.
    const addrs = new BigUint64Array([0n, 40000n, 4096n, 50000n, 8188n, 100n]);
    const { bytes: out, ok } = mem.readMany(addrs, 8);
    expect(Array.from(ok)).toEqual([1, 0, 1, 0, 0, 1]);
    for (const i of [0, 2, 5]) {
      const at = Number(addrs[i]);
      expect(Array.from(out.subarray(i * 8, i * 8 + 8))).toEqual(Array.from(bytes.subarray(at, at + 8)));
    }
    for (const i of [1, 3, 4]) expect(Array.from(out.subarray(i * 8, i * 8 + 8))).toEqual(new Array(8).fill(0));
    mem.close();
  });

  it('a file truncated while mapped gives SOURCE_GONE, not SIGBUS', () => {
    const { path } = image('e.raw', 64 * 1024);
    const mem = openMemory(path);
    truncateSync(path, 4096);
    const dst = new Uint8Array(16);
    let code: string | undefined;
    try {
      mem.readPhysicalInto(32768n, dst);
    } catch (e) {
      code = (e as ParasightError).code;
    }
    expect(code).toBe('SOURCE_GONE');
    mem.close();
  });

  it('missing files and closed handles fail with clear codes', () => {
    expect(() => openMemory(join(dir, 'nope.raw'))).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    const { path } = image('f.raw', 4096);
    const mem = openMemory(path);
    const view = mem.readPhysical(0n, 16);
    mem.close();
    expect(() => mem.readPhysical(0n, 4)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(view[1]).toBe(7); // views handed out before close stay valid
  });
});
