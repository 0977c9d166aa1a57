import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { elfCore, limeFile, pattern, LIME_MAGIC, type ImageSegment } from '../fixtures/memory-images.js';
import { caught } from '../fixtures/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-formats-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function write(bytes: Uint8Array, name = `f${fileCount++}.img`): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

// Two RAM pieces with a hole between them (like the VGA hole of a real guest), plus one high above 4 GiB.
const segs: ImageSegment[] = [
  { paddr: 0n, bytes: pattern(1, 0x3000) },
  { paddr: 0x5000n, bytes: pattern(2, 0x2000) },
  { paddr: 0x1_0000_0000n, bytes: pattern(3, 0x1000) },
];

function checkReads(path: string, kind: string, segments: ImageSegment[]): void {
  const mem = openMemory(path);
  try {
    expect(mem.kind).toBe(kind);
    expect(mem.ranges).toEqual(segments.map((s) => ({ start: s.paddr, length: BigInt(s.bytes.length) })));
    const last = segments[segments.length - 1]!;
    expect(mem.size).toBe(last.paddr + BigInt(last.bytes.length));
    for (const s of segments) {
      expect(Array.from(mem.readPhysical(s.paddr + 0x123n, 64))).toEqual(Array.from(s.bytes.subarray(0x123, 0x123 + 64)));
    }
    // Hole between the first two segments: the error names the first missing byte.
    const hole = caught(() => mem.readPhysical(0x2ff0n, 0x20));
    expect(hole.code).toBe('HOLE');
    expect(hole.address).toBe(0x3000n);
    expect(hole.message).toBe(`physical address 0x3000 is in a hole of ${path}`);
    const past = caught(() => mem.readPhysical(mem.size, 1));
    expect(past.code).toBe('OUT_OF_RANGE');
    // A partial read across the hole keeps the bytes on both sides.
    const dst = new Uint8Array(0x4000).fill(0xaa);
    expect(mem.readPhysicalInto(0x2000n, dst, { partial: true })).toBe(0x1000 + 0x1000);
    expect(Array.from(dst.subarray(0, 16))).toEqual(Array.from(segments[0]!.bytes.subarray(0x2000, 0x2010)));
    expect(dst.subarray(0x1000, 0x3000).every((b) => b === 0)).toBe(true);
    expect(Array.from(dst.subarray(0x3000, 0x3010))).toEqual(Array.from(segments[1]!.bytes.subarray(0, 16)));
  } finally {
    mem.close();
  }
}

describe('ELF cores (QEMU dump-guest-memory layout)', () => {
  it('ELF64: PT_LOAD physical addresses become ranges, gaps are holes, the PT_NOTE is skipped', () => {
    checkReads(write(elfCore(segs).bytes), 'elf-core', segs);
  });

  it('ELF32 cores read the same way', () => {
    const low = segs.slice(0, 2);
    checkReads(write(elfCore(low, { elfClass: 32 }).bytes), 'elf-core', low);
  });

  it('PN_XNUM: the segment count comes from section header 0', () => {
    checkReads(write(elfCore(segs, { xnum: true }).bytes), 'elf-core', segs);
  });

  it('bytes between p_filesz and p_memsz are a hole, not zeros', () => {
    const path = write(elfCore([{ paddr: 0x1000n, bytes: pattern(4, 0x1000), memsz: 0x3000n }]).bytes);
    const mem = openMemory(path);
    expect(mem.ranges).toEqual([{ start: 0x1000n, length: 0x1000n }]);
    expect(caught(() => mem.readPhysical(0x2000n, 4)).code).toBe('OUT_OF_RANGE');
    mem.close();
  });

  it('format can be forced: raw reads the ELF file as flat bytes', () => {
    const { bytes } = elfCore(segs);
    const mem = openMemory({ kind: 'file', path: write(bytes), format: 'raw' });
    expect(mem.kind).toBe('raw');
    expect(Array.from(mem.readPhysical(0n, 4))).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    mem.close();
  });
});

describe('hostile ELF cores: exact FORMAT errors, never a crash', () => {
  const base = elfCore(segs);
  const cases: Array<{ name: string; bytes: () => Uint8Array; offset: number; what: string }> = [
    {
      name: 'truncated inside the ELF header',
      bytes: () => base.bytes.subarray(0, 40),
      offset: 0,
      what: 'expected a 64-byte ELF64 header, the file has 40 bytes',
    },
    {
      name: 'unknown ELF class',
      bytes: () => elfCore(segs, { eiClass: 3 }).bytes,
      offset: 4,
      what: 'expected ELF class 1 (32-bit) or 2 (64-bit), found 3',
    },
    {
      name: 'big-endian',
      bytes: () => elfCore(segs, { eiData: 2 }).bytes,
      offset: 5,
      what: 'expected little-endian data (EI_DATA 1), found 2: only little-endian (x86) cores are supported',
    },
    {
      name: 'not a core file',
      bytes: () => elfCore(segs, { eType: 2 }).bytes,
      offset: 16,
      what: 'expected e_type 4 (ET_CORE), found 2',
    },
    {
      name: 'program header entries too small',
      bytes: () => elfCore(segs, { phentsize: 20 }).bytes,
      offset: 0x36,
      what: 'expected e_phentsize >= 56 for ELF64, found 20',
    },
    {
      name: 'program header table past EOF',
      bytes: () => elfCore(segs, { phoff: BigInt(base.bytes.length - 10) }).bytes,
      offset: base.bytes.length - 10,
      what: `expected a program header table of 4 entries × 56 bytes, but it runs past the end of the file (${base.bytes.length} bytes)`,
    },
    {
      name: 'absurd program header count',
      bytes: () => elfCore(segs, { phnum: 0xfffe }).bytes,
      offset: 64,
      what: `expected a program header table of 65534 entries × 56 bytes, but it runs past the end of the file (${base.bytes.length} bytes)`,
    },
    {
      name: 'PN_XNUM without a section header',
      bytes: () => elfCore(segs, { phnum: 0xffff }).bytes,
      offset: 0x28,
      what: 'e_phnum is PN_XNUM (0xffff): expected e_shoff to locate section header 0 holding the segment count, found 0',
    },
    {
      name: 'truncated core (last segment cut off)',
      bytes: () => base.bytes.subarray(0, base.dataOffsets[2]! + 100),
      offset: base.loadHeaderOffsets[2]!,
      what: `expected the bytes of PT_LOAD #3 (program header at ${hex(base.loadHeaderOffsets[2]!)}) (0x1000 at offset ${hex(base.dataOffsets[2]!)}) inside the file (${base.dataOffsets[2]! + 100} bytes): truncated core?`,
    },
    {
      name: 'overlapping PT_LOADs',
      bytes: () => elfCore(segs, { loadOverrides: { 1: { paddr: 0x2000n } } }).bytes,
      offset: base.loadHeaderOffsets[1]!,
      what: `expected non-overlapping PT_LOADs, but 0x2000+0x2000 overlaps 0x0+0x3000 (header at ${hex(base.loadHeaderOffsets[0]!)})`,
    },
    {
      name: 'p_filesz above p_memsz',
      bytes: () => elfCore(segs, { loadOverrides: { 0: { memsz: 0x10n } } }).bytes,
      offset: base.loadHeaderOffsets[0]!,
      what: `expected p_filesz <= p_memsz in PT_LOAD #1 (program header at ${hex(base.loadHeaderOffsets[0]!)}), found 0x3000 > 0x10`,
    },
    {
      name: 'no PT_LOAD at all',
      bytes: () => elfCore([]).bytes,
      offset: 64,
      what: 'expected at least one PT_LOAD segment among 1 program headers',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const path = write(c.bytes());
      const e = caught(() => openMemory(path));
      expect(e.code).toBe('FORMAT');
      expect(e.offset).toBe(c.offset);
      expect(e.message).toBe(`${path}: at file offset ${hex(c.offset)}: ${c.what}`);
    });
  }

  it('forcing elf on a file without the magic says so', () => {
    const path = write(pattern(9, 4096));
    const e = caught(() => openMemory({ kind: 'file', path, format: 'elf' }));
    expect(e.code).toBe('FORMAT');
    expect(e.message).toBe(`${path}: at file offset 0x0: expected the ELF magic 7f 45 4c 46`);
  });
});

describe('LiME captures', () => {
  it('range headers become ranges (inclusive end), gaps are holes, auto-detected', () => {
    checkReads(write(limeFile(segs).bytes), 'lime', segs);
  });

  it('the real LiME capture matches the independent oracle at guest-physical 0x1000', () => {
    const fixture = new URL('../fixtures/lime/', import.meta.url);
    const oracle = readFileSync(new URL('deb-x86_64-slice_0x1000_volatility3_out', fixture));
    const mem = openMemory(new URL('deb-x86_64-slice.lime', fixture).pathname);
    expect(mem.kind).toBe('lime');
    expect(mem.ranges).toEqual([{ start: 0x1000n, length: 0x9f000n }]);
    expect(Buffer.from(mem.readPhysical(0x1000n, oracle.length)).equals(oracle)).toBe(true);
    expect(caught(() => mem.readPhysical(0xfffn, 2)).code).toBe('HOLE');
    mem.close();
  });

  it('forcing raw reads the headers as bytes', () => {
    const mem = openMemory({ kind: 'file', path: write(limeFile(segs).bytes), format: 'raw' });
    expect(new DataView(mem.readPhysical(0n, 4).slice().buffer).getUint32(0, true)).toBe(LIME_MAGIC);
    mem.close();
  });
});

describe('hostile LiME captures: exact FORMAT errors, never a crash', () => {
  const base = limeFile(segs);
  const h = base.headerOffsets;
  const cases: Array<{ name: string; bytes: () => Uint8Array; offset: number; what: string }> = [
    {
      name: 'trailing partial header',
      bytes: () => Buffer.concat([base.bytes, new Uint8Array(10)]),
      offset: base.bytes.length,
      what: 'expected a 32-byte LiME range header #3, only 10 bytes remain: truncated capture?',
    },
    {
      name: 'bad magic in the second header',
      bytes: () => limeFile(segs, { headerOverrides: { 1: { magic: 0x12345678 } } }).bytes,
      offset: h[1]!,
      what: 'expected LiME magic 0x4c694d45 in LiME range header #1, found 0x12345678',
    },
    {
      name: 'unknown version',
      bytes: () => limeFile(segs, { headerOverrides: { 0: { version: 2 } } }).bytes,
      offset: 4,
      what: 'expected LiME version 1 in LiME range header #0, found 2',
    },
    {
      name: 'end before start',
      bytes: () => limeFile(segs, { headerOverrides: { 2: { start: 0x2_0000_0000n } } }).bytes,
      offset: h[2]! + 8,
      what: 'expected s_addr <= e_addr (inclusive end) in LiME range header #2, found 0x200000000..0x100000fff',
    },
    {
      name: 'truncated data',
      bytes: () => base.bytes.subarray(0, h[2]! + 32 + 100),
      offset: h[2]!,
      what: 'LiME range header #2 declares 0x1000 bytes (0x100000000..0x100000fff) but only 100 bytes follow it: truncated capture?',
    },
    {
      name: 'absurd range length',
      bytes: () => limeFile(segs, { headerOverrides: { 0: { start: 0n, end: 0xffff_ffff_ffffn } } }).bytes,
      offset: 0,
      what: `LiME range header #0 declares 0x1000000000000 bytes (0x0..0xffffffffffff) but only ${base.bytes.length - 32} bytes follow it: truncated capture?`,
    },
    {
      name: 'overlapping ranges',
      bytes: () =>
        limeFile([
          { paddr: 0x1000n, bytes: pattern(5, 0x2000) },
          { paddr: 0x2000n, bytes: pattern(6, 0x1000) },
        ]).bytes,
      offset: 0x2020,
      what: 'expected non-overlapping LiME ranges, but 0x2000+0x1000 overlaps 0x1000+0x2000 (header at 0x0)',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const path = write(c.bytes());
      const e = caught(() => openMemory(path));
      expect(e.code).toBe('FORMAT');
      expect(e.offset).toBe(c.offset);
      expect(e.message).toBe(`${path}: at file offset ${hex(c.offset)}: ${c.what}`);
    });
  }

  it('invalid format names are rejected before any I/O', () => {
    expect(() => openMemory({ kind: 'file', path: '/x', format: 'vmdk' as 'raw' })).toThrow(
      'format must be one of auto, raw, elf, lime, got "vmdk"',
    );
  });
});
