import { describe, expect, it } from 'vitest';
import { TranslateStatus, UNTRANSLATED } from '../../src/index.js';
import { MiB, P, PageTableBuilder, RW, US, WIN_PROTOTYPE, WIN_TRANSITION } from '../fixtures/paging/page-tables.js';
import { pageTableImages } from '../fixtures/paging/images.js';
import { caught } from '../fixtures/errors.js';

const open = pageTableImages('winpte');

// Windows protection field (bits 5..9) value 4 = read/write: present in real transition PTEs, harmless here.
const PROTECTION_RW = 4n << 5n;

describe.each(['x86', 'pae', 'ia32e'] as const)('Windows not-present entries (%s)', (mode) => {
  const va = mode === 'ia32e' ? 0x0000_0000_0123_4000n : 0x0123_4000n;
  const frame = 0x56_7000n;

  function build(pte: bigint): { b: PageTableBuilder; ea: bigint } {
    const b = new PageTableBuilder(mode, 8 * MiB);
    b.map(va + 0x1000n, 0x40_0000n, { user: true });
    b.bytes.fill(0x3c, Number(frame), Number(frame) + 0x1000);
    const ea = b.setRaw(va, 1, pte);
    return { b, ea };
  }

  it('a transition PTE translates with transition: true and reads the frame still in RAM', () => {
    const pte = frame | WIN_TRANSITION | PROTECTION_RW | RW | US;
    const { b } = build(pte);
    const mem = open(b);
    const space = mem.addressSpace({ dtb: b.dtb, mode, windowsTransition: true });
    expect(space.translate(va + 0x10n)).toMatchObject({ pa: frame + 0x10n, transition: true, writable: true, user: true });
    expect(Array.from(space.read(va + 0xffcn, 8))).toEqual([0x3c, 0x3c, 0x3c, 0x3c, 0, 0, 0, 0]);
    const status = new Uint8Array(2);
    const out = space.translateMany(new BigUint64Array([va, va + 0x1000n]), { status });
    expect(Array.from(out)).toEqual([frame, 0x40_0000n]);
    expect(Array.from(status)).toEqual([TranslateStatus.TRANSITION, TranslateStatus.OK]);
    // Without Windows decoding the same entry is just not present.
    const plain = mem.addressSpace({ dtb: b.dtb, mode });
    expect(caught(() => plain.translate(va))).toMatchObject({ code: 'PAGE_NOT_PRESENT', level: 1, entry: pte });
    space.close();
    plain.close();
  });

  it('a prototype PTE is not present, named as such', () => {
    const pte = 0x0abc_d000n | WIN_PROTOTYPE | WIN_TRANSITION;
    const { b, ea } = build(pte);
    const space = open(b).addressSpace({ dtb: b.dtb, mode, windowsTransition: true });
    const err = caught(() => space.translate(va));
    expect(err).toMatchObject({ code: 'PAGE_NOT_PRESENT', level: 1, entry: pte, entryAddress: ea });
    expect(err.message).toMatch(/prototype/);
    const status = new Uint8Array(1);
    expect(space.translateMany(new BigUint64Array([va]), { status })[0]).toBe(UNTRANSLATED);
    expect(status[0]).toBe(TranslateStatus.PROTOTYPE);
    space.close();
  });

  it('a page-file PTE and a demand-zero PTE are told apart', () => {
    // Page-file offset lives in bits 12..31 (x86) or 32..63 (PAE, x64); page-file number in bits 1..4.
    const pageFile = mode === 'x86' ? (0x1234n << 12n) | (1n << 1n) | PROTECTION_RW : (0x1234n << 32n) | (1n << 1n) | PROTECTION_RW;
    const demandZero = PROTECTION_RW;
    const { b } = build(pageFile);
    b.setRaw(va + 0x2000n, 1, demandZero);
    const space = open(b).addressSpace({ dtb: b.dtb, mode, windowsTransition: true });
    const err = caught(() => space.translate(va));
    expect(err.code).toBe('PAGE_NOT_PRESENT');
    expect(err.message).toMatch(/page-file/);
    const status = new Uint8Array(2);
    space.translateMany(new BigUint64Array([va, va + 0x2000n]), { status });
    expect(Array.from(status)).toEqual([TranslateStatus.PAGE_FILE, TranslateStatus.NOT_PRESENT]);
    space.close();
  });

  it('a page table in transition (PDE) is still walked', () => {
    const b = new PageTableBuilder(mode, 8 * MiB);
    b.map(va, frame, { user: true });
    const pdeAddr = b.entryAddress(va, 2);
    const pde = b.readEntry(pdeAddr);
    // Valid clear, transition set; the PFN of the page table stays. Bit 7 is part of Protection here, not PS.
    b.writeEntry(pdeAddr, (pde & ~P) | WIN_TRANSITION | (1n << 7n));
    const mem = open(b);
    const space = mem.addressSpace({ dtb: b.dtb, mode, windowsTransition: true });
    expect(space.translate(va + 4n)).toMatchObject({ pa: frame + 4n, transition: true, pageSize: 4096 });
    const plain = mem.addressSpace({ dtb: b.dtb, mode });
    expect(caught(() => plain.translate(va))).toMatchObject({ code: 'PAGE_NOT_PRESENT', level: 2 });
    space.close();
    plain.close();
  });
});
