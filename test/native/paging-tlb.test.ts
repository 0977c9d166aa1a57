import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory, TranslateStatus, UNTRANSLATED, type Memory } from '../../src/index.js';
import { MiB, P, PageTableBuilder, RW, pattern, type FixtureMode } from '../fixtures/paging/page-tables.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-tlb-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
/** Saves the fixture and returns the open source plus a way to change guest memory in place (the file is mapped
 * shared, so writes through the file show up in the mapping like a running guest's stores). */
function openLive(b: PageTableBuilder): { mem: Memory; poke: (pa: bigint, bytes: Uint8Array) => void; done: () => void } {
  const path = join(dir, `pt-${fileNo++}.raw`);
  b.saveTo(path);
  const mem = openMemory(path);
  const fd = openSync(path, 'r+');
  return {
    mem,
    poke: (pa, bytes) => void writeSync(fd, bytes, 0, bytes.length, Number(pa)),
    done: () => {
      mem.close();
      closeSync(fd);
    },
  };
}

function entryBytes(b: PageTableBuilder, value: bigint): Uint8Array {
  const out = new Uint8Array(b.layout.entrySize);
  const dv = new DataView(out.buffer);
  if (b.layout.entrySize === 4) dv.setUint32(0, Number(value), true);
  else dv.setBigUint64(0, value, true);
  return out;
}

describe('software TLB', () => {
  it('serves cached translations until invalidated, per page or all at once', () => {
    const b = new PageTableBuilder('ia32e', 8 * MiB);
    const va = 0x0000_0000_1000_0000n;
    b.map(va, 0x30_0000n);
    b.map(va + 0x1000n, 0x31_0000n);
    const live = openLive(b);
    const space = live.mem.addressSpace({ dtb: b.dtb, mode: 'ia32e' });
    expect(space.translate(va).pa).toBe(0x30_0000n);
    expect(space.translate(va + 0x1000n).pa).toBe(0x31_0000n);
    // The guest remaps both pages.
    live.poke(b.entryAddress(va, 1), entryBytes(b, 0x50_0000n | P | RW));
    live.poke(b.entryAddress(va + 0x1000n, 1), entryBytes(b, 0x51_0000n | P | RW));
    expect(space.translate(va).pa).toBe(0x30_0000n); // stale until invalidated: that is the contract
    space.invalidate(va + 0x123n);
    expect(space.translate(va).pa).toBe(0x50_0000n);
    expect(space.translate(va + 0x1000n).pa).toBe(0x31_0000n); // the other page is still cached
    space.invalidate();
    expect(space.translate(va + 0x1000n).pa).toBe(0x51_0000n);
    // Without a TLB every call walks.
    const noTlb = live.mem.addressSpace({ dtb: b.dtb, mode: 'ia32e', tlbEntries: 0 });
    live.poke(b.entryAddress(va, 1), entryBytes(b, 0x60_0000n | P | RW));
    expect(noTlb.translate(va).pa).toBe(0x60_0000n);
    space.close();
    noTlb.close();
    live.done();
  });

  it('invalidating any address of a large page drops all of its cached slots', () => {
    const b = new PageTableBuilder('pae', 8 * MiB);
    const va = 0x4000_0000n;
    b.map(va, 0x20_0000n, { pageSize: 2 * MiB });
    const live = openLive(b);
    const space = live.mem.addressSpace({ dtb: b.dtb, mode: 'pae' });
    expect(space.translate(va + 0x1000n).pa).toBe(0x20_1000n);
    expect(space.translate(va + 0x1f_f000n).pa).toBe(0x3f_f000n);
    live.poke(b.entryAddress(va, 2), entryBytes(b, 0x40_0000n | P | RW | (1n << 7n)));
    space.invalidate(va + 0x10_0000n); // a page of the large page never translated on its own
    expect(space.translate(va + 0x1000n).pa).toBe(0x40_1000n);
    expect(space.translate(va + 0x1f_f000n).pa).toBe(0x5f_f000n);
    space.close();
    live.done();
  });

  it('a tiny TLB with colliding pages still answers correctly', () => {
    const b = new PageTableBuilder('x86', 8 * MiB);
    const vas: bigint[] = [];
    for (let i = 0; i < 64; i++) {
      const va = 0x1000_0000n + BigInt(i) * 0x2000n; // every other page: collisions in a 4-entry TLB
      b.map(va, 0x20_0000n + BigInt(i) * 0x1000n);
      vas.push(va + BigInt(i));
    }
    const live = openLive(b);
    const space = live.mem.addressSpace({ dtb: b.dtb, mode: 'x86', tlbEntries: 4 });
    const batch = new BigUint64Array([...vas, ...vas.reverse()]);
    const out = space.translateMany(batch);
    for (let k = 0; k < batch.length; k++) {
      const i = Number((batch[k]! - 0x1000_0000n) / 0x2000n);
      expect(out[k]).toBe(0x20_0000n + BigInt(i) * 0x1000n + BigInt(i));
    }
    space.close();
    live.done();
  });
});

describe('hostile page tables', () => {
  it.each(['x86', 'pae', 'ia32e', 'la57'] as FixtureMode[])(
    '%s: random bytes as page tables never crash and every status is a known one',
    (mode) => {
      // Every byte of "physical memory" is random, so entries point anywhere, at themselves, past the end.
      const b = new PageTableBuilder(mode, 2 * MiB, { tableBase: 0x1000 });
      b.bytes.set(pattern(mode.length * 7919, b.bytes.length));
      const live = openLive(b);
      for (const tlbEntries of [0, 64]) {
        const space = live.mem.addressSpace({ dtb: 0x1000n, mode, windowsTransition: true, tlbEntries });
        const rnd = pattern(42, 4096 * 8);
        const dv = new DataView(rnd.buffer);
        const vas = new BigUint64Array(4096);
        for (let i = 0; i < vas.length; i++) {
          let v = dv.getBigUint64(i * 8, true);
          if (mode === 'x86' || mode === 'pae') v &= 0xffff_ffffn;
          else if (i % 2 === 0) v = BigInt.asUintN(64, BigInt.asIntN(mode === 'la57' ? 57 : 48, v)); // canonical
          vas[i] = v;
        }
        const status = new Uint8Array(vas.length);
        const out = space.translateMany(vas, { status });
        const known = new Set<number>(Object.values(TranslateStatus));
        for (let i = 0; i < vas.length; i++) {
          expect(known.has(status[i]!)).toBe(true);
          // A translation that succeeded must agree with the single-address API.
          if (status[i] === TranslateStatus.OK) expect(space.translate(vas[i]!).pa).toBe(out[i]);
        }
        // Reads over the same garbage: partial reads never throw.
        const dst = new Uint8Array(3 * 4096);
        for (let i = 0; i < 64; i++) space.readInto(vas[i]!, dst, { partial: true });
        space.close();
      }
      live.done();
    },
  );
});

describe('batched translation agrees with one-by-one translation', () => {
  it.each(['x86', 'pae', 'ia32e', 'la57'] as FixtureMode[])('%s: mixed mappings, repeats and misses', (mode) => {
    const b = new PageTableBuilder(mode, 8 * MiB);
    const base = mode === 'x86' || mode === 'pae' ? 0x1000_0000n : 0x0000_5555_0000_0000n;
    const rnd = pattern(mode.length, 4096);
    // 256 pages: mapped to scattered frames, some not present, some transition (Windows), one large page beside.
    for (let i = 0; i < 256; i++) {
      const va = base + BigInt(i) * 0x1000n;
      const frame = 0x40_0000n + BigInt(rnd[i]!) * 0x1000n;
      if (i % 7 === 3) continue; // never mapped
      if (i % 11 === 5) b.setRaw(va, 1, frame | (1n << 11n)); // transition
      else b.map(va, frame, { writable: i % 2 === 0, user: i % 3 === 0 });
    }
    const large = mode === 'x86' ? 4 * MiB : 2 * MiB;
    const largeVa = base + 0x40_0000n * 4n;
    b.map(largeVa, 0x20_0000n * (mode === 'x86' ? 2n : 1n), { pageSize: large });
    const live = openLive(b);
    const vas = new BigUint64Array(3000);
    for (let k = 0; k < vas.length; k++) {
      const r = rnd[k % 4096]! ^ (k >> 4);
      vas[k] = k % 9 === 0 ? largeVa + BigInt(k * 4099) % BigInt(large) : base + BigInt((r + k) % 260) * 0x1000n + BigInt(k % 4096);
    }
    const oracle = live.mem.addressSpace({ dtb: b.dtb, mode, windowsTransition: true, tlbEntries: 0 });
    const want = Array.from(vas, (v) => {
      try {
        return oracle.translate(v).pa;
      } catch {
        return UNTRANSLATED;
      }
    });
    for (const tlbEntries of [0, 8, 4096]) {
      const space = live.mem.addressSpace({ dtb: b.dtb, mode, windowsTransition: true, tlbEntries });
      const status = new Uint8Array(vas.length);
      expect(Array.from(space.translateMany(vas, { status }))).toEqual(want);
      // Twice: the second pass runs mostly on TLB hits.
      expect(Array.from(space.translateMany(vas))).toEqual(want);
      for (let k = 0; k < vas.length; k++) {
        expect(status[k] === TranslateStatus.OK || status[k] === TranslateStatus.TRANSITION).toBe(want[k] !== UNTRANSLATED);
      }
      space.close();
    }
    oracle.close();
    live.done();
  });
});
