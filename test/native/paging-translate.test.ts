import { describe, expect, it } from 'vitest';
import { TranslateStatus, UNTRANSLATED } from '../../src/index.js';
import { GiB, MiB, NX, P, PageTableBuilder, PS, RW, US, pattern, type FixtureMode } from '../fixtures/paging/page-tables.js';
import { pageTableImages } from '../fixtures/paging/images.js';
import { caught } from '../fixtures/errors.js';

const open = pageTableImages('paging');

const SIZE = 8 * MiB;
const TOP: Record<FixtureMode, number> = { x86: 2, pae: 3, ia32e: 4, la57: 5 };
// A user-range address every mode can hold, with different indices at every level.
const VA: Record<FixtureMode, bigint> = {
  x86: 0x4123_5000n,
  pae: 0x4123_5000n,
  ia32e: 0x0000_7f12_3456_7000n,
  la57: 0x00ab_cdef_1234_5000n,
};

describe.each(['x86', 'pae', 'ia32e', 'la57'] as const)('%s translation', (mode) => {
  const wide = mode !== 'x86';
  const va = VA[mode];

  it('translates a 4 KiB page with its permission bits', () => {
    const b = new PageTableBuilder(mode, SIZE);
    b.map(va, 0x30_0000n, { writable: false, user: true, noExecute: wide });
    b.map(va + 0x1000n, 0x31_0000n, { writable: true, user: false });
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    expect(space.translate(va + 0x123n)).toEqual({
      pa: 0x30_0123n,
      pageSize: 4096,
      writable: false,
      user: true,
      noExecute: wide,
      transition: false,
    });
    const t = space.translate(va + 0x1ffen);
    expect(t.pa).toBe(0x31_0ffen);
    expect([t.writable, t.user, t.noExecute]).toEqual([true, false, false]);
    space.close();
  });

  it('reports the failing level, entry and entry address for a missing mapping at every level', () => {
    for (let level = TOP[mode]; level >= 1; level--) {
      const b = new PageTableBuilder(mode, SIZE);
      b.map(va, 0x30_0000n);
      // A neighbour that differs from va at `level` only lands in a non-present entry of the same table.
      const shift = BigInt(b.layout.levels.find((l) => l.level === level)!.shift);
      const other = va ^ (1n << shift);
      const raw = 0x1234_5000n & ~P; // not present, arbitrary software bits
      const ea = b.setRaw(other, level, raw);
      const space = open(b).addressSpace({ dtb: b.dtb, mode });
      const err = caught(() => space.translate(other));
      expect(err.code).toBe('PAGE_NOT_PRESENT');
      expect(err.level).toBe(level);
      expect(err.entry).toBe(raw);
      expect(err.entryAddress).toBe(ea);
      expect(err.address).toBe(other);
      expect(space.translate(va).pa).toBe(0x30_0000n);
      space.close();
    }
  });

  it('reads across page boundaries from non-adjacent frames', () => {
    const b = new PageTableBuilder(mode, SIZE);
    const frames = [0x50_0000n, 0x20_0000n, 0x70_0000n];
    frames.forEach((f, i) => {
      b.map(va + BigInt(i) * 0x1000n, f);
      for (let j = 0; j < 4096; j++) b.bytes[Number(f) + j] = (i * 31 + j) & 0xff;
    });
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    const got = space.read(va + 0xff0n, 0x1020);
    const want = [...Array(0x1020).keys()].map((k) => {
      const off = 0xff0 + k;
      const page = Math.floor(off / 4096);
      return (page * 31 + (off % 4096)) & 0xff;
    });
    expect(Array.from(got)).toEqual(want);
    // In one page: a view of the same bytes.
    expect(Array.from(space.read(va + 0x10n, 4))).toEqual([0x10, 0x11, 0x12, 0x13]);
    // readInto matches read.
    const dst = new Uint8Array(0x1020);
    expect(space.readInto(va + 0xff0n, dst)).toBe(0x1020);
    expect(Array.from(dst)).toEqual(want);
    space.close();
  });

  it('reads frames that are also contiguous physically in one piece, and stops exactly where they end', () => {
    const b = new PageTableBuilder(mode, SIZE);
    // Three contiguous frames, then a jump back, then an unmapped page.
    const frames = [0x30_0000n, 0x30_1000n, 0x30_2000n, 0x10_0000n + b.next];
    frames.forEach((f, i) => b.map(va + BigInt(i) * 0x1000n, f));
    const src = pattern(3, 0x4000);
    frames.forEach((f, i) => b.write(f, src.subarray(i * 0x1000, (i + 1) * 0x1000)));
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    expect(Array.from(space.read(va + 0x10n, 0x3ff0))).toEqual(Array.from(src.subarray(0x10)));
    const dst = new Uint8Array(0x5000);
    const err = caught(() => space.readInto(va, dst));
    expect(err).toMatchObject({ code: 'PAGE_NOT_PRESENT', address: va + 0x4000n });
    expect(space.readInto(va, dst, { partial: true })).toBe(0x4000);
    expect(Array.from(dst.subarray(0, 0x4000))).toEqual(Array.from(src));
    space.close();
  });

  it('a read stops at an unmapped page with its virtual address; partial reads zero it', () => {
    const b = new PageTableBuilder(mode, SIZE);
    b.map(va, 0x30_0000n);
    b.bytes.fill(0x5a, 0x30_0000, 0x30_1000);
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    const err = caught(() => space.read(va + 0xff8n, 16));
    expect(err.code).toBe('PAGE_NOT_PRESENT');
    expect(err.address).toBe(va + 0x1000n);
    const dst = new Uint8Array(16).fill(0xee);
    expect(space.readInto(va + 0xff8n, dst, { partial: true })).toBe(8);
    expect(Array.from(dst)).toEqual([...new Array(8).fill(0x5a), ...new Array(8).fill(0)]);
    space.close();
  });

  it('translates large pages and reads inside them', () => {
    const b = new PageTableBuilder(mode, SIZE);
    const large = mode === 'x86' ? 4 * MiB : 2 * MiB;
    const largeVa = mode === 'x86' || mode === 'pae' ? 0x8000_0000n : 0x0000_7f00_0000_0000n;
    b.map(largeVa, 0x40_0000n, { pageSize: large, writable: false, user: true });
    b.bytes[0x40_0000 + 0x1_2345] = 0xab;
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    const t = space.translate(largeVa + 0x1_2345n);
    expect(t).toMatchObject({ pa: 0x41_2345n, pageSize: large, writable: false, user: true });
    expect(space.read(largeVa + 0x1_2345n, 1)[0]).toBe(0xab);
    // The last byte of the large page.
    expect(space.translate(largeVa + BigInt(large) - 1n).pa).toBe(0x40_0000n + BigInt(large) - 1n);
    space.close();
  });

  it('follows a self-referencing root without looping', () => {
    const b = new PageTableBuilder(mode, SIZE);
    b.map(va, 0x30_0000n);
    const root = mode === 'pae' ? b.dtb & ~0xfffn : b.dtb;
    if (mode === 'pae') {
      // Windows PAE self-map: PD3[0..3] point at PD0..PD3, so PD3[3] points at itself.
      for (let i = 0n; i < 4n; i++) b.entryAddress(i << 30n, 2); // creates PD0..PD3
      const pds = [0n, 1n, 2n, 3n].map((i) => b.readEntry(b.dtb + i * 8n) & 0x000f_ffff_ffff_f000n);
      const pd3 = pds[3]!;
      pds.forEach((pd, i) => b.writeEntry(pd3 + BigInt(i) * 8n, pd | P | RW));
      const space = open(b).addressSpace({ dtb: b.dtb, mode });
      // 0xC0600000 + 8 * 0x... : the PDs appear at 0xC0600000..0xC0603FFF.
      expect(space.translate(0xc060_0000n).pa).toBe(pds[0]);
      expect(space.translate(0xc060_3008n).pa).toBe(pd3 + 8n);
      // Every entry names itself when all levels go through the self entry.
      expect(space.translateMany(new BigUint64Array([0xc060_3000n]))[0]).toBe(pd3);
      space.close();
      return;
    }
    // Index k at the top level points at the root itself.
    const k = mode === 'x86' ? 0x300n : 0x1edn;
    b.writeEntry(root + k * BigInt(b.layout.entrySize), root | P | RW);
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    // A VA whose indices are all k resolves to the root table itself (entry k's own address in the last step).
    let selfVa = 0n;
    for (const l of b.layout.levels) selfVa |= k << BigInt(l.shift);
    if (mode !== 'x86') selfVa = BigInt.asUintN(64, BigInt.asIntN(mode === 'la57' ? 57 : 48, selfVa));
    expect(space.translate(selfVa).pa).toBe(root);
    expect(space.translate(selfVa + k * BigInt(b.layout.entrySize)).pa).toBe(root + k * BigInt(b.layout.entrySize));
    space.close();
  });

  it('reports a table past the end of the source as unreadable with the level it was needed at', () => {
    const b = new PageTableBuilder(mode, SIZE);
    // The level-2 entry points at a page table far past the end.
    b.setRaw(va, 2, 0x7000_0000n | P | RW | US);
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    const err = caught(() => space.translate(va));
    expect(err.code).toBe('OUT_OF_RANGE');
    expect(err.level).toBe(1);
    expect(err.entryAddress).toBe(0x7000_0000n + b.index(va, 1) * BigInt(b.layout.entrySize));
    const status = new Uint8Array(1);
    expect(space.translateMany(new BigUint64Array([va]), { status })[0]).toBe(UNTRANSLATED);
    expect(status[0]).toBe(TranslateStatus.TABLE_UNREADABLE);
    space.close();
  });

  it('translates a leaf past the end of the source but its read fails', () => {
    const b = new PageTableBuilder(mode, SIZE);
    b.map(va, 0x7000_0000n);
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    expect(space.translate(va + 4n).pa).toBe(0x7000_0004n);
    const err = caught(() => space.read(va, 16));
    expect(err.code).toBe('OUT_OF_RANGE');
    expect(err.address).toBe(va);
    const err2 = caught(() => space.read(va + 0xff0n, 0x20));
    expect(err2.code).toBe('OUT_OF_RANGE');
    expect(err2.address).toBe(va + 0xff0n);
    space.close();
  });

  it('translates a batch with a sentinel and a status per address', () => {
    const b = new PageTableBuilder(mode, SIZE);
    b.map(va, 0x30_0000n);
    b.map(va + 0x5000n, 0x60_0000n);
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    const vas = new BigUint64Array([va + 7n, va + 0x1000n, va + 0x5ff0n, va + 8n]);
    const status = new Uint8Array(vas.length);
    const out = space.translateMany(vas, { status });
    expect(Array.from(out)).toEqual([0x30_0007n, UNTRANSLATED, 0x60_0ff0n, 0x30_0008n]);
    expect(Array.from(status)).toEqual([
      TranslateStatus.OK,
      TranslateStatus.NOT_PRESENT,
      TranslateStatus.OK,
      TranslateStatus.OK,
    ]);
    // Same answers without the TLB.
    const noTlb = open(b).addressSpace({ dtb: b.dtb, mode, tlbEntries: 0 });
    expect(Array.from(noTlb.translateMany(vas))).toEqual(Array.from(out));
    space.close();
    noTlb.close();
  });

  it('rejects addresses outside the mode', () => {
    const b = new PageTableBuilder(mode, SIZE);
    const space = open(b).addressSpace({ dtb: b.dtb, mode });
    const bad = mode === 'x86' || mode === 'pae' ? 0x1_0000_0000n : mode === 'ia32e' ? 0x0000_8000_0000_0000n : 1n << 57n;
    const err = caught(() => space.translate(bad));
    expect(err.code).toBe('OUT_OF_RANGE');
    const status = new Uint8Array(1);
    space.translateMany(new BigUint64Array([bad]), { status });
    expect(status[0]).toBe(TranslateStatus.NON_CANONICAL);
    space.close();
  });
});

describe('mode-specific entries', () => {
  it('IA-32e and LA57 map 1 GiB pages', () => {
    for (const mode of ['ia32e', 'la57'] as const) {
      const b = new PageTableBuilder(mode, SIZE);
      const va = 0x0000_0040_0000_0000n;
      b.map(va, 0n, { pageSize: GiB, user: true });
      b.bytes[0x7f_fff0] = 0x77;
      const space = open(b).addressSpace({ dtb: b.dtb, mode });
      expect(space.translate(va + 0x7f_fff0n)).toMatchObject({ pa: 0x7f_fff0n, pageSize: GiB, user: true });
      expect(space.read(va + 0x7f_fff0n, 1)[0]).toBe(0x77);
      // A 1 GiB page at 4 GiB translates (the leaf may lie past the source) but does not read.
      b.map(va + BigInt(GiB), 4n * BigInt(GiB), { pageSize: GiB });
      const space2 = open(b).addressSpace({ dtb: b.dtb, mode });
      expect(space2.translate(va + BigInt(GiB) + 5n).pa).toBe(4n * BigInt(GiB) + 5n);
      space.close();
      space2.close();
    }
  });

  it('x86 4 MiB pages carry PSE-36 high physical bits', () => {
    const b = new PageTableBuilder('x86', SIZE);
    b.map(0x8040_0000n, 0x3_0040_0000n, { pageSize: 4 * MiB });
    const space = open(b).addressSpace({ dtb: b.dtb, mode: 'x86' });
    expect(space.translate(0x8040_0010n)).toMatchObject({ pa: 0x3_0040_0010n, pageSize: 4 * MiB });
    space.close();
  });

  it('PAE finds the PDPT at a 32-byte-aligned DTB inside a page, and ignores permissions in PDPTEs', () => {
    const b = new PageTableBuilder('pae', SIZE, { dtbOffset: 0x60 });
    expect(b.dtb & 0xfffn).toBe(0x60n);
    b.map(0x7ffe_0000n, 0x45_6000n, { user: true, writable: true, noExecute: true });
    const space = open(b).addressSpace({ dtb: b.dtb, mode: 'pae' });
    expect(space.translate(0x7ffe_0010n)).toMatchObject({ pa: 0x45_6010n, user: true, writable: true, noExecute: true });
    // The same tables read with the DTB's low bits set (CR3 flags) give the same answer.
    const flagged = open(b).addressSpace({ dtb: b.dtb | 0x18n, mode: 'pae' });
    expect(flagged.translate(0x7ffe_0010n).pa).toBe(0x45_6010n);
    space.close();
    flagged.close();
  });

  it('permissions combine across levels: any read-only or supervisor level wins, NX anywhere wins', () => {
    const b = new PageTableBuilder('ia32e', SIZE);
    const va = 0x0000_1234_5678_9000n;
    b.map(va, 0x30_0000n, { writable: true, user: true });
    const pdeAddr = b.entryAddress(va, 2);
    b.writeEntry(pdeAddr, (b.readEntry(pdeAddr) & ~RW) | NX);
    const space = open(b).addressSpace({ dtb: b.dtb, mode: 'ia32e' });
    expect(space.translate(va)).toMatchObject({ writable: false, user: true, noExecute: true });
    space.close();
  });

  it('address bits above MAXPHYADDR and reserved large-page bits are errors, not crashes', () => {
    const b = new PageTableBuilder('ia32e', SIZE);
    const va = 0x0000_0000_4000_0000n;
    b.map(va, 0x30_0000n);
    const pte = b.entryAddress(va, 1);
    b.writeEntry(pte, (1n << 40n) | 0x30_0000n | P | RW);
    const mem = open(b);
    const strict = mem.addressSpace({ dtb: b.dtb, mode: 'ia32e', maxPhysicalBits: 39 });
    const err = caught(() => strict.translate(va));
    expect(err.code).toBe('FORMAT');
    expect(err.level).toBe(1);
    expect(err.entryAddress).toBe(pte);
    // With the architectural maximum the same entry is a valid (if absent) physical address.
    const lax = mem.addressSpace({ dtb: b.dtb, mode: 'ia32e' });
    expect(lax.translate(va).pa).toBe((1n << 40n) | 0x30_0000n);

    const c = new PageTableBuilder('ia32e', SIZE);
    c.setRaw(va, 2, 0x40_0000n | (1n << 14n) | P | RW | PS); // bit 14 is reserved in a 2 MiB entry
    c.setRaw(0x0000_0080_0000_0000n, 4, 0x10_0000n | P | RW | PS); // PS in a PML4E
    const cs = open(c).addressSpace({ dtb: c.dtb, mode: 'ia32e' });
    expect(caught(() => cs.translate(va)).level).toBe(2);
    expect(caught(() => cs.translate(0x0000_0080_0000_0000n))).toMatchObject({ code: 'FORMAT', level: 4 });
    const status = new Uint8Array(2);
    cs.translateMany(new BigUint64Array([va, 0x0000_0080_0000_0000n]), { status });
    expect(Array.from(status)).toEqual([TranslateStatus.RESERVED, TranslateStatus.RESERVED]);
    strict.close();
    lax.close();
    cs.close();
  });

  it('a DTB past the end of the source fails at the top level', () => {
    const b = new PageTableBuilder('ia32e', SIZE);
    const space = open(b).addressSpace({ dtb: 0x1_0000_0000n, mode: 'ia32e' });
    expect(caught(() => space.translate(0x1000n))).toMatchObject({ code: 'OUT_OF_RANGE', level: 4 });
    space.close();
  });

  it('validates options and refuses closed handles', () => {
    const b = new PageTableBuilder('ia32e', SIZE);
    b.map(0x1000n, 0x2000n);
    const mem = open(b);
    expect(() => mem.addressSpace({ dtb: b.dtb, mode: 'arm' as never })).toThrow(/mode must be one of/);
    expect(() => mem.addressSpace({ dtb: b.dtb, mode: 'ia32e', tlbEntries: 3 })).toThrow(/power of two/);
    expect(() => mem.addressSpace({ dtb: -1n, mode: 'ia32e' })).toThrow(/dtb must be/);
    const space = mem.addressSpace({ dtb: b.dtb, mode: 'ia32e' });
    space.close();
    expect(caught(() => space.translate(0x1000n)).code).toBe('CLOSED');
    // The address space keeps the source alive after the Memory is closed.
    const mem2 = open(b);
    const s2 = mem2.addressSpace({ dtb: b.dtb, mode: 'ia32e' });
    mem2.close();
    expect(s2.translate(0x1004n).pa).toBe(0x2004n);
    s2.close();
  });
});
