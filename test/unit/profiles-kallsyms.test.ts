// kallsyms tables found by structure in every layout the kernel has used, built here from the layout rules of
// scripts/kallsyms.c: offsets before the names (up to 6.1) or after the token index (6.2+, Debian 6.12), with or
// without kallsyms_seqs_of_names between the markers and the token table, and offsets with or without
// KALLSYMS_ABSOLUTE_PERCPU (later kernels store every entry as an unsigned offset from kallsyms_relative_base).
import { describe, expect, it } from 'vitest';
import { findKallsyms, type KernelSymbol } from '../../src/profiles/linux/kallsyms.js';

const TEXT = 0xffffffff81000000n;

interface Layout {
  offsetsFirst: boolean;
  seqsBetween: boolean;
  absolutePercpu: boolean;
}

/** Per-CPU symbols first (absolute in the per-CPU layout), then _text and text/data symbols in address order. */
function symbols(count: number, absolutePercpu: boolean): KernelSymbol[] {
  const out: KernelSymbol[] = [];
  for (let i = 0; i < 4; i++) out.push({ name: `pcpu_${i}`, type: 'A', address: absolutePercpu ? BigInt(i * 0x1000) : TEXT - 0x100000n + BigInt(i * 0x1000) });
  out.push({ name: '_text', type: 'T', address: TEXT });
  for (let i = 1; out.length < count; i++) out.push({ name: `sym_${i}_${'x'.repeat(i % 7)}`, type: i % 3 ? 't' : 'D', address: TEXT + BigInt(i * 0x30) });
  return out;
}

class Writer {
  bytes: number[] = [];
  align8(): number {
    while (this.bytes.length % 8) this.bytes.push(0);
    return this.bytes.length;
  }
  u16(v: number): void {
    this.bytes.push(v & 0xff, (v >> 8) & 0xff);
  }
  u32(v: number): void {
    this.u16(v & 0xffff);
    this.u16(v >>> 16);
  }
  u64(v: bigint): void {
    this.u32(Number(v & 0xffffffffn));
    this.u32(Number(v >> 32n));
  }
}

/** The tables as a kernel image's .rodata would hold them, behind some unrelated bytes. */
function build(syms: KernelSymbol[], base: bigint, layout: Layout): Uint8Array {
  const w = new Writer();
  for (let i = 0; i < 200; i++) w.bytes.push((i * 37) & 0xff);
  // Token i is the single character i (token 0 is never used by the names below), so a name is its own bytes.
  const tokens = Array.from({ length: 256 }, (_, i) => (i === 0 ? 'zz' : String.fromCharCode(i)));
  const offsets = () => {
    w.align8();
    for (const s of syms) {
      const delta = s.address - base;
      if (layout.absolutePercpu) w.u32(Number(BigInt.asUintN(32, s.address < base ? s.address : -delta - 1n)));
      else w.u32(Number(BigInt.asUintN(32, delta)));
    }
    w.align8();
    w.u64(base);
  };
  if (layout.offsetsFirst) offsets();
  w.align8();
  w.u32(syms.length);
  w.u32(0);
  const namesAt = w.bytes.length;
  const markers: number[] = [];
  syms.forEach((s, i) => {
    if (i % 256 === 0) markers.push(w.bytes.length - namesAt);
    const text = s.type + s.name;
    w.bytes.push(text.length, ...Array.from(text, (c) => c.charCodeAt(0)));
  });
  w.align8();
  for (const m of markers) w.u32(m);
  if (layout.seqsBetween) {
    w.align8();
    for (let i = 0; i < syms.length; i++) w.bytes.push(i & 0xff, (i >> 8) & 0xff, 0);
  }
  w.align8();
  const tableAt = w.bytes.length;
  const index: number[] = [];
  for (const t of tokens) {
    index.push(w.bytes.length - tableAt);
    w.bytes.push(...Array.from(t, (c) => c.charCodeAt(0)), 0);
  }
  w.align8();
  for (const v of index) w.u16(v);
  if (!layout.offsetsFirst) offsets();
  if (!layout.seqsBetween) for (let i = 0; i < syms.length; i++) w.bytes.push(i & 0xff, (i >> 8) & 0xff, 0);
  w.align8();
  return Uint8Array.from(w.bytes);
}

const layouts: Array<Layout & { what: string }> = [
  { what: 'offsets first, per-CPU absolute (6.1)', offsetsFirst: true, seqsBetween: false, absolutePercpu: true },
  { what: 'offsets first, seqs between markers and tokens (Debian 6.1 backport)', offsetsFirst: true, seqsBetween: true, absolutePercpu: true },
  { what: 'offsets after the token index, per-CPU absolute (6.2+, Debian 6.12)', offsetsFirst: false, seqsBetween: false, absolutePercpu: true },
  { what: 'offsets after the token index, all relative (no KALLSYMS_ABSOLUTE_PERCPU)', offsetsFirst: false, seqsBetween: false, absolutePercpu: false },
];

describe('findKallsyms', () => {
  it.each(layouts)('decodes every name and address: $what', (layout) => {
    const syms = symbols(1300, layout.absolutePercpu);
    const base = layout.absolutePercpu ? TEXT : TEXT - 0x100000n;
    const found = findKallsyms(build(syms, base, layout), 'synthetic', (a) => a === TEXT);
    expect(found.length).toBe(syms.length);
    expect(found).toEqual(syms);
  });

  it('refuses tables whose _text does not land on .text, and bytes without tables', () => {
    const layout = layouts[2]!;
    const ro = build(symbols(1300, true), TEXT, layout);
    expect(() => findKallsyms(ro, 'synthetic', (a) => a === TEXT + 0x1000n)).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/do not decode/) }));
    expect(() => findKallsyms(new Uint8Array(4096), 'zeros', () => true)).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/token table not found/) }));
  });
});
