/**
 * The kernel's own symbol table (kallsyms), found by structure inside an uncompressed vmlinux: Debian ships a stub
 * System.map, but every kernel with CONFIG_KALLSYMS carries its symbols in .rodata as compressed tables
 * (scripts/kallsyms.c). Each table starts 8-byte aligned:
 *
 *   kallsyms_offsets[N] (s32), kallsyms_relative_base (u64), kallsyms_num_syms (u32), kallsyms_names,
 *   kallsyms_markers[ceil(N/256)] (u32), [kallsyms_seqs_of_names[N] (3 bytes)], kallsyms_token_table (256 NUL-terminated strings),
 *   kallsyms_token_index[256] (u16)
 *
 * We find the token table/index pair (256 strictly increasing u16 offsets, each pointing just past a NUL of the
 * table before them), then the num_syms/names/markers triple whose markers agree with the decoded names, then the
 * offsets. Newer kernels (6.2+) moved offsets and relative_base after token_index; both layouts are tried, and a
 * result is accepted only when the decoded addresses are sorted and _text lands on the .text section. Offsets are
 * decoded two ways: with KALLSYMS_ABSOLUTE_PERCPU (x86 up to 6.14: non-negative = absolute per-CPU offset, negative =
 * relative_base - 1 - value; seen on Debian 6.1 and 6.12) and without it (every entry an unsigned offset from
 * relative_base, kernels that dropped that option).
 */
import { ParasightError } from '../../errors.js';
import type { Elf64 } from './elf.js';

export interface KernelSymbol {
  name: string;
  /** nm-style type letter: T/t text, D/d data, B/b bss, R/r read-only, A absolute, ... */
  type: string;
  address: bigint;
}

const align8 = (n: number) => (n + 7) & ~7;

interface TokenTables {
  tableStart: number;
  indexStart: number;
  tokens: string[];
}

/**
 * Token table/index candidates, from the end of `ro` backwards: the tables are linked last into .rodata, so in a
 * window of guest memory that ends at the kernel's BTF they sit near the end, after megabytes of code.
 */
function* tokenTables(ro: Uint8Array, dv: DataView): Generator<TokenTables> {
  for (let p = (ro.length - 512) & ~7; p >= 0; p -= 8) {
    if (dv.getUint16(p, true) !== 0) continue;
    const first = dv.getUint16(p + 2, true);
    if (first < 2 || first > 64) continue;
    let ok = true;
    let prev = 0;
    for (let i = 1; i < 256; i++) {
      const v = dv.getUint16(p + 2 * i, true);
      if (v <= prev + 1 || v - prev > 128) {
        ok = false;
        break;
      }
      prev = v;
    }
    if (!ok) continue;
    // The table ends with the last token's NUL, 0..7 padding bytes before the index.
    for (let pad = 0; pad < 8; pad++) {
      const tEnd = p - pad; // one past the last NUL
      if (tEnd < 2 || ro[tEnd - 1] !== 0) continue;
      let s = tEnd - 2;
      while (s >= 0 && ro[s] !== 0) s--;
      const tableStart = s + 1 - prev;
      if (tableStart < 0 || tableStart % 8 !== 0) continue;
      const tokens: string[] = [];
      let good = true;
      for (let i = 0; i < 256 && good; i++) {
        const from = tableStart + dv.getUint16(p + 2 * i, true);
        const to = i < 255 ? tableStart + dv.getUint16(p + 2 * (i + 1), true) - 1 : tEnd - 1;
        if (ro[to] !== 0) good = false;
        for (let k = from; k < to && good; k++) if (ro[k] === 0) good = false;
        tokens.push(Buffer.from(ro.buffer, ro.byteOffset + from, to - from).toString('latin1'));
      }
      if (good) {
        yield { tableStart, indexStart: p, tokens };
        break;
      }
    }
  }
}

// Token-table look-alikes are rare; a few wrong ones before the real one are tolerated, not an unbounded number.
const MAX_TOKEN_CANDIDATES = 16;

interface Names {
  numSymsAt: number;
  /** Where kallsyms_names starts, and how many entries it has. */
  namesAt: number;
  count: number;
  markersEnd: number;
}

/**
 * Walks `count` length-prefixed names from `at` by their lengths alone, checking every 256th offset against
 * kallsyms_markers as it goes: a wrong candidate fails within the first few hundred names, and nothing is decoded.
 */
function markersAgree(ro: Uint8Array, dv: DataView, at: number, count: number, markersAt: number): boolean {
  const end = markersAt;
  let p = at;
  for (let i = 0; i < count; i++) {
    if (p >= end) return false;
    if ((i & 255) === 0 && dv.getUint32(markersAt + 4 * (i >>> 8), true) !== p - at) return false;
    let len = ro[p]!;
    p++;
    if (len & 0x80) {
      len = (len & 0x7f) | (ro[p]! << 7);
      p++;
    }
    if (len === 0 || p + len > end) return false;
    p += len;
  }
  return true;
}

/** The names (type letter + name) of a table markersAgree accepted. */
function decodeNames(ro: Uint8Array, at: number, count: number, tokens: string[]): Array<{ type: string; name: string }> {
  const names = new Array<{ type: string; name: string }>(count);
  let p = at;
  for (let i = 0; i < count; i++) {
    let len = ro[p]!;
    p++;
    if (len & 0x80) {
      len = (len & 0x7f) | (ro[p]! << 7);
      p++;
    }
    let s = '';
    for (let k = 0; k < len; k++) s += tokens[ro[p + k]!];
    p += len;
    names[i] = { type: s.slice(0, 1), name: s.slice(1) };
  }
  return names;
}

/**
 * num_syms, names and markers before the token table; kernels with kallsyms_seqs_of_names (6.2+, and backported
 * to some 6.1 builds) have N 3-byte entries between the markers and the token table.
 */
function findNames(ro: Uint8Array, dv: DataView, tokens: TokenTables): Names | undefined {
  const floor = Math.max(0, tokens.tableStart - 24 * 1024 * 1024);
  for (let q = tokens.tableStart - 8; q >= floor; q -= 8) {
    const n = dv.getUint32(q, true);
    if (n < 1000 || n > 2_000_000 || dv.getUint32(q + 4, true) !== 0) continue;
    const m = Math.ceil(n / 256);
    const starts: number[] = [];
    for (const markersEndMax of [tokens.tableStart, (tokens.tableStart - 3 * n) & ~7]) {
      // Markers end at markersEndMax (or up to 7 bytes earlier, padding).
      starts.push(markersEndMax - align8(m * 4), markersEndMax - m * 4);
    }
    for (const markersStart of starts) {
      if (markersStart <= q + 8 || markersStart % 4 !== 0 || dv.getUint32(markersStart, true) !== 0) continue;
      if (markersAgree(ro, dv, q + 8, n, markersStart)) return { numSymsAt: q, namesAt: q + 8, count: n, markersEnd: markersStart + m * 4 };
    }
  }
  return undefined;
}

function addresses(dv: DataView, offsetsAt: number, n: number, base: bigint, absolutePercpu: boolean): bigint[] {
  const out: bigint[] = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    if (absolutePercpu) {
      // Non-negative entries are absolute (per-CPU offsets), negative ones count down from relative_base.
      const o = dv.getInt32(offsetsAt + 4 * i, true);
      out[i] = o >= 0 ? BigInt(o) : base - 1n - BigInt(o);
    } else {
      out[i] = base + BigInt(dv.getUint32(offsetsAt + 4 * i, true));
    }
  }
  return out;
}

function plausible(syms: KernelSymbol[], isText: (address: bigint) => boolean): boolean {
  const text = syms.find((s) => s.name === '_text');
  if (!text || !isText(text.address)) return false;
  let unsorted = 0;
  for (let i = 1; i < syms.length; i++) if (syms[i]!.address < syms[i - 1]!.address) unsorted++;
  // Per-CPU symbols come first with small absolute values; the rest are sorted.
  return unsorted <= 2;
}

/** Every kallsyms symbol of a vmlinux, or a FORMAT error saying which table was not found. */
export function readKallsyms(elf: Elf64): KernelSymbol[] {
  const ro = elf.sectionBytes('.rodata');
  const text = elf.section('.text');
  if (!ro || !text) throw new ParasightError(`${elf.origin}: no .rodata/.text section`, { code: 'FORMAT', source: elf.origin });
  return findKallsyms(ro, elf.origin, (a) => a === text.address);
}

/**
 * The kallsyms tables inside `ro` (8-byte aligned bytes holding them: a vmlinux's .rodata, or a window of guest
 * memory); `isText` accepts the address _text decodes to (the table is trusted only when it does).
 */
export function findKallsyms(ro: Uint8Array, origin: string, isText: (address: bigint) => boolean): KernelSymbol[] {
  const dv = new DataView(ro.buffer, ro.byteOffset, ro.byteLength);
  let tokens: TokenTables | undefined;
  let found: Names | undefined;
  let tried = 0;
  for (const t of tokenTables(ro, dv)) {
    tokens = t;
    found = findNames(ro, dv, t);
    if (found || ++tried >= MAX_TOKEN_CANDIDATES) break;
  }
  if (!tokens) {
    throw new ParasightError(`${origin}: kallsyms token table not found (kernel without CONFIG_KALLSYMS?)`, { code: 'FORMAT', source: origin });
  }
  if (!found) {
    throw new ParasightError(`${origin}: kallsyms names/markers not found before the token table`, { code: 'FORMAT', source: origin });
  }
  const n = found.count;
  const names = decodeNames(ro, found.namesAt, n, tokens.tokens);
  const candidates: Array<{ offsetsAt: number; baseAt: number }> = [
    // Up to 6.1: offsets, relative_base, num_syms.
    { offsetsAt: found.numSymsAt - 8 - align8(n * 4), baseAt: found.numSymsAt - 8 },
    // 6.2 and later: token_index, offsets, relative_base.
    { offsetsAt: align8(tokens.indexStart + 512), baseAt: align8(align8(tokens.indexStart + 512) + n * 4) },
  ];
  for (const c of candidates) {
    if (c.offsetsAt < 0 || c.baseAt + 8 > ro.length) continue;
    const base = dv.getBigUint64(c.baseAt, true);
    for (const absolutePercpu of [true, false]) {
      const addrs = addresses(dv, c.offsetsAt, n, base, absolutePercpu);
      const syms = names.map((s, i) => ({ name: s.name, type: s.type, address: addrs[i]! }));
      if (plausible(syms, isText)) return syms;
    }
  }
  throw new ParasightError(`${origin}: kallsyms addresses do not decode to a sorted table starting at _text`, {
    code: 'FORMAT',
    source: origin,
  });
}
