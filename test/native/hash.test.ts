import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hashBytes,
  hashFile,
  hashFileSync,
  hashRange,
  hashRangeSync,
  loadWasmHasher,
  openMemory,
  ParasightError,
  type HashAlgorithm,
} from '../../src/index.js';
import { MiB, PageTableBuilder, pattern } from '../fixtures/paging/page-tables.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-hash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The xxHash project's sanity-check input (cli/xsum_sanity_check.c): byte i is the top byte of PRIME32 * PRIME64^i.
const PRIME32 = 2654435761n;
const PRIME64 = 11400714785074694797n;
function sanityBuffer(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let gen = PRIME32;
  for (let i = 0; i < length; i++) {
    out[i] = Number(gen >> 56n);
    gen = (gen * PRIME64) & 0xffff_ffff_ffff_ffffn;
  }
  return out;
}

// Expected values from the xxHash project's sanity-check tables.
const XXH64_VECTORS: Array<[number, bigint, bigint]> = [
  [0, 0n, 0xef46db3751d8e999n],
  [0, PRIME32, 0xac75fda2929b17efn],
  [1, 0n, 0xe934a84adb052768n],
  [1, PRIME32, 0x5014607643a9b4c3n],
  [4, 0n, 0x9136a0dca57457een],
  [14, 0n, 0x8282dcc4994e35c8n],
  [14, PRIME32, 0xc3bd6bf63deb6df0n],
  [222, 0n, 0xb641ae8cb691c174n],
  [222, PRIME32, 0x20cb8ab7ae10c14an],
];
const XXH3_VECTORS: Array<[number, bigint, bigint]> = [
  [0, 0n, 0x2d06800538d394c2n],
  [0, PRIME64, 0xa8a6b918b2f0364an],
  [1, 0n, 0xc44bdff4074eecdbn],
  [1, PRIME64, 0x032be332dd766ef8n],
  [6, 0n, 0x27b56a84cd2d7325n],
  [12, PRIME64, 0xe7303e1b2336de0en],
  [24, 0n, 0xa3fe70bf9d3510ebn],
  [48, PRIME64, 0xadc2cbaa44acc616n],
  [80, 0n, 0xbcdefbbb2c47c90an],
  [195, PRIME64, 0xba68003d370cb3d9n],
  [403, 0n, 0xcdeb804d65c6dea4n],
  [512, PRIME64, 0x3ce457de14c27708n],
  [2048, 0n, 0xdd59e2c3a5f038e0n],
  [2240, PRIME64, 0x757ba8487d1b5247n],
  [2367, 0n, 0xcb37aeb9e5d361edn],
];
// [len, seed, low64, high64]
const XXH128_VECTORS: Array<[number, bigint, bigint, bigint]> = [
  [0, 0n, 0x6001c324468d497fn, 0x99aa06d3014798d8n],
  [1, PRIME32, 0xb53d5557e7f76f8dn, 0x89b99554ba22467cn],
  [12, 0n, 0x061a192713f69ad9n, 0x6e3efd8fc7802b18n],
  [81, PRIME32, 0x703fbb3d7a5f755cn, 0x2724ec7adc750fb6n],
  [403, PRIME64, 0x6259f6ecfd6443fdn, 0xbed311971e0be8f2n],
  [2367, PRIME32, 0x6f5360ae69c2f406n, 0xd23aae4b76c31ecbn],
];

const hex128 = (low: bigint, high: bigint): string => high.toString(16).padStart(16, '0') + low.toString(16).padStart(16, '0');

describe('native hashes match the xxHash project test vectors', () => {
  const buf = sanityBuffer(4096 + 64 + 1);
  it.each(XXH64_VECTORS)('XXH64 len %i seed %s', (len, seed, want) => {
    expect(hashBytes(buf.subarray(0, len), { algorithm: 'xxh64', seed })).toBe(want);
  });
  it.each(XXH3_VECTORS)('XXH3-64 len %i seed %s', (len, seed, want) => {
    expect(hashBytes(buf.subarray(0, len), { algorithm: 'xxh3-64', seed })).toBe(want);
  });
  it.each(XXH128_VECTORS)('XXH3-128 len %i seed %s', (len, seed, low, high) => {
    expect(hashBytes(buf.subarray(0, len), { algorithm: 'xxh3-128', seed })).toBe(hex128(low, high));
  });
});

describe('native and wasm XXH64 agree', () => {
  it('on many lengths, contents and seeds', async () => {
    const wasm = await loadWasmHasher();
    const data = pattern(1234, 70_000);
    let checked = 0;
    for (let len = 0; len < 300; len++) {
      const seed = BigInt(len) * 0x9e37_79b9_7f4a_7c15n & 0xffff_ffff_ffff_ffffn;
      const slice = data.subarray(len * 7, len * 7 + len);
      expect(hashBytes(slice, { algorithm: 'xxh64', seed })).toBe(wasm.xxh64(slice, seed));
      checked++;
    }
    for (const len of [1023, 1024, 1025, 4096, 65_536, 69_999]) {
      const slice = data.subarray(0, len);
      expect(hashBytes(slice, { algorithm: 'xxh64' })).toBe(wasm.xxh64(slice));
      checked++;
    }
    expect(wasm.xxh64('abc')).toBe(hashBytes(new TextEncoder().encode('abc'), { algorithm: 'xxh64' }));
    expect(checked).toBe(306);
  });
});

describe('hashFile', () => {
  const algorithms: HashAlgorithm[] = ['xxh3-64', 'xxh3-128', 'xxh64'];

  it.each(algorithms)('%s of small and big files equals the hash of their bytes', async (algorithm) => {
    // 9 MiB + 5 takes the two-thread (read while hashing) path.
    for (const size of [0, 1, 4095, 1 << 20, (3 << 20) + 17, (9 << 20) + 5]) {
      const bytes = pattern(size + 1, size);
      const path = join(dir, `f-${algorithm}-${size}`);
      writeFileSync(path, bytes);
      const want = hashBytes(bytes, { algorithm, seed: 7n });
      await expect(hashFile(path, { algorithm, seed: 7n })).resolves.toEqual({ hash: want, bytes: size });
      expect(hashFileSync(path, { algorithm, seed: 7n })).toEqual({ hash: want, bytes: size });
    }
  });

  it('XXH3-128 of a file matches the format of the xxHash CLI when it is installed', async () => {
    const path = join(dir, 'cli-check');
    writeFileSync(path, pattern(99, 100_000));
    let cli: string | undefined;
    try {
      cli = execFileSync('xxh128sum', [path], { encoding: 'utf8' }).split(/\s+/)[0];
    } catch {
      cli = undefined; // the CLI is optional; the test vectors above pin the algorithm
    }
    const { hash } = await hashFile(path, { algorithm: 'xxh3-128' });
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
    if (cli !== undefined) expect(hash).toBe(cli);
  });

  it('reports progress and can be cancelled while it runs (a FIFO keeps the worker waiting for bytes)', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = openSync(fifo, 'r+'); // read-write open never blocks, so hashFile's open does not either
    const progress: Array<[number, number]> = [];
    const controller = new AbortController();
    let sawProgress!: () => void;
    const progressed = new Promise<void>((resolve) => (sawProgress = resolve));
    const promise = hashFile(fifo, {
      signal: controller.signal,
      onProgress: (done, total) => {
        progress.push([done, total]);
        sawProgress();
      },
    });
    const chunk = new Uint8Array(1 << 20);
    // The pipe holds 64 KiB: each write returns once the worker has read most of it.
    for (let i = 0; i < 20; i++) writeSync(writer, chunk);
    await progressed;
    controller.abort();
    // A few bytes (less than the pipe holds, so this never blocks) wake the worker's read(); it then sees the flag.
    writeSync(writer, chunk.subarray(0, 4096));
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    closeSync(writer);
    expect(err).toBeInstanceOf(ParasightError);
    expect((err as ParasightError).code).toBe('CANCELLED');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]![0]).toBeGreaterThanOrEqual(16 << 20);
    expect(progress[0]![1]).toBe(0); // a FIFO has no size
  });

  it('an already-aborted signal rejects at once; missing files and directories reject with codes', async () => {
    const path = join(dir, 'small');
    writeFileSync(path, 'x');
    await expect(hashFile(path, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(hashFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(hashFile(dir)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(hashFile(path, { algorithm: 'md5' as never })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(() => hashFileSync(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});

describe('hashRange', () => {
  it('physical ranges (inline and off-thread) equal the hash of the bytes', async () => {
    const bytes = pattern(5, 6 * MiB);
    const path = join(dir, 'phys.raw');
    writeFileSync(path, bytes);
    const mem = openMemory(path);
    for (const [start, len] of [
      [0, 0],
      [100, 5000],
      [4096, 5 * MiB],
    ] as const) {
      const want = hashBytes(bytes.subarray(start, start + len), { algorithm: 'xxh3-128' });
      await expect(hashRange(mem, BigInt(start), len, { algorithm: 'xxh3-128' })).resolves.toEqual({ hash: want, bytes: len });
      expect(hashRangeSync(mem, BigInt(start), BigInt(len), { algorithm: 'xxh3-128' }).hash).toBe(want);
    }
    await expect(hashRange(mem, BigInt(6 * MiB - 10), 20)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(hashRange(mem, BigInt(4 * MiB), 4 * MiB)).rejects.toMatchObject({ code: 'OUT_OF_RANGE', address: BigInt(6 * MiB) });
    mem.close();
  });

  it('virtual ranges follow the page tables across 4 KiB and large pages', async () => {
    const b = new PageTableBuilder('ia32e', 8 * MiB);
    const va = 0x0000_7f00_0000_0000n;
    // 2 MiB large page, then scattered 4 KiB pages, then an unmapped page.
    b.map(va, 0x40_0000n, { pageSize: 2 * MiB });
    const frames = [0x70_0000n, 0x30_0000n, 0x30_1000n, 0x65_0000n];
    frames.forEach((f, i) => b.map(va + 0x20_0000n + BigInt(i) * 0x1000n, f));
    b.bytes.set(pattern(8, 2 * MiB), 0x40_0000);
    for (const f of frames) b.bytes.set(pattern(Number(f >> 12n), 4096), Number(f));
    const path = join(dir, 'virt.raw');
    b.saveTo(path);
    const mem = openMemory(path);
    const space = mem.addressSpace({ dtb: b.dtb, mode: 'ia32e' });
    const start = va + 0x1_0010n;
    const len = 0x20_0000 - 0x1_0010 + 4 * 4096 - 100;
    const want = hashBytes(space.read(start, len));
    await expect(hashRange(space, start, len)).resolves.toEqual({ hash: want, bytes: len });
    expect(hashRangeSync(space, start, len).hash).toBe(want);
    // Small virtual range, inline.
    const small = hashBytes(space.read(va + 0x20_0ff0n, 0x30), { algorithm: 'xxh64' });
    await expect(hashRange(space, va + 0x20_0ff0n, 0x30, { algorithm: 'xxh64' })).resolves.toMatchObject({ hash: small });
    // The unmapped page after the last mapped one stops the hash with its address.
    const err = await hashRange(space, va + 0x20_3000n, 0x2000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PAGE_NOT_PRESENT', address: va + 0x20_4000n, level: 1 });
    space.close();
    mem.close();
  });

  it('validates its arguments', async () => {
    await expect(hashRange({} as never, 0n, 1)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    const path = join(dir, 'v.raw');
    writeFileSync(path, new Uint8Array(4096));
    const mem = openMemory(path);
    await expect(hashRange(mem, 0xffff_ffff_ffff_fff0n, 0x20)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    mem.close();
    await expect(hashRange(mem, 0n, 1)).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
