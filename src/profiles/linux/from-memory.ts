/**
 * A Linux profile built from guest memory alone, for a kernel nobody has a file of: the running kernel keeps its
 * own BTF (.BTF, CONFIG_DEBUG_INFO_BTF) and kallsyms tables in its physically contiguous image. The BTF is found
 * by its header in the resident RAM, validated by parsing it and finding task_struct; the kallsyms tables by
 * structure in the window of the image before it (.rodata). Symbols decoded from a running kernel are already
 * relocated, so the profile describes this boot (its KASLR slide is 0 against the profile).
 */
import { ParasightError } from '../../errors.js';
import type { Memory } from '../../memory/memory.js';
import type { IsfDocument } from '../isf.js';
import { Btf } from './btf.js';
import { cString } from './elf.js';
import { assembleLinuxProfile } from './generate.js';
import { findKallsyms } from './kallsyms.js';

// "9f eb" magic, version 1, flags 0, hdr_len 24: the header of every BTF blob the kernel holds.
const BTF_HEADER = Buffer.from([0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00]);
const CHUNK = 4 << 20;
const MAX_BTF = 64 << 20;
// .rodata (with the kallsyms tables) precedes .BTF in the image; 48 MiB covers the tables of large kernels.
const KALLSYMS_WINDOW = 48n << 20n;
const KERNEL_MIN = 0xffff_ffff_8000_0000n;

export interface MemoryProfileResult {
  doc: IsfDocument;
  /** Guest-physical address of the kernel's BTF. */
  btfPhysical: bigint;
}

function vmlinuxBtf(memory: Memory, pa: bigint): { btf: Btf; length: number } | undefined {
  let head: Uint8Array;
  try {
    head = memory.readPhysical(pa, 24);
  } catch {
    return undefined;
  }
  const dv = new DataView(head.buffer, head.byteOffset, 24);
  const typeOff = dv.getUint32(8, true), typeLen = dv.getUint32(12, true);
  const strOff = dv.getUint32(16, true), strLen = dv.getUint32(20, true);
  // vmlinux BTF: types first, strings right after; a module's split BTF is small and lacks task_struct.
  if (typeOff !== 0 || strOff !== typeLen || typeLen < 1 << 16 || strLen < 1 << 12 || typeLen + strLen > MAX_BTF) return undefined;
  const length = 24 + typeLen + strLen;
  try {
    const bytes = memory.readPhysical(pa, length);
    if (bytes[24 + strOff] !== 0 || bytes[length - 1] !== 0) return undefined;
    const btf = new Btf(bytes, `BTF at physical 0x${pa.toString(16)}`);
    return btf.findStruct('task_struct') ? { btf, length } : undefined;
  } catch {
    return undefined;
  }
}

/** Scans the resident RAM for the kernel's BTF; undefined when there is none (not Linux, or no BTF). */
export function findKernelBtf(memory: Memory): { btf: Btf; physical: bigint } | undefined {
  for (const r of memory.residentRanges()) {
    const end = r.start + r.length;
    for (let at = r.start; at < end; at += BigInt(CHUNK)) {
      const len = Number(end - at < BigInt(CHUNK + 8) ? end - at : BigInt(CHUNK + 8));
      let chunk: Uint8Array;
      try {
        chunk = memory.readPhysical(at, len);
      } catch {
        continue;
      }
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let i = buf.indexOf(BTF_HEADER); i >= 0 && i < CHUNK; i = buf.indexOf(BTF_HEADER, i + 4)) {
        if (i % 4 !== 0) continue;
        const found = vmlinuxBtf(memory, at + BigInt(i));
        if (found) return { btf: found.btf, physical: at + BigInt(i) };
      }
    }
  }
  return undefined;
}

/** The bytes in [start, start + length): a zero-copy view when the source has one, else a copy with holes zeroed. */
function readWindow(memory: Memory, start: bigint, length: number): Uint8Array {
  try {
    return memory.readPhysical(start, length);
  } catch {
    const out = new Uint8Array(length);
    memory.readPhysicalInto(start, out, { partial: true });
    return out;
  }
}

/** The profile of the kernel running in `memory`; NOT_FOUND when no kernel BTF or kallsyms is there. */
export function linuxProfileFromMemory(memory: Memory, options: { producerVersion?: string } = {}): MemoryProfileResult {
  const origin = memory.origin;
  const found = findKernelBtf(memory);
  if (!found) {
    throw new ParasightError(`${origin}: no Linux kernel BTF in memory (not Linux, or a kernel without CONFIG_DEBUG_INFO_BTF)`, {
      code: 'NOT_FOUND',
      source: origin,
    });
  }
  const start = found.physical > KALLSYMS_WINDOW ? (found.physical - KALLSYMS_WINDOW) & ~7n : 0n;
  const window = readWindow(memory, start, Number(found.physical - start));
  let syms;
  try {
    // A relocated _text is still 2 MiB aligned in the kernel's top 2 GiB.
    syms = findKallsyms(window, origin, (a) => a >= KERNEL_MIN && (a & 0x1f_ffffn) === 0n);
  } catch (e) {
    throw new ParasightError(`${origin}: Linux BTF found but no kallsyms tables before it: ${(e as Error).message}`, {
      code: 'NOT_FOUND',
      source: origin,
      cause: e,
    });
  }
  // Kernel addresses map to the image linearly: __start_BTF is where the BTF was found.
  const startBtf = syms.find((s) => s.name === '__start_BTF')?.address;
  const bannerOf = (va: bigint): string => {
    if (startBtf === undefined) return '';
    const pa = found.physical + va - startBtf;
    try {
      return cString(memory.readPhysical(pa, 512), 0, 512);
    } catch {
      return '';
    }
  };
  const doc = assembleLinuxProfile(found.btf, syms, bannerOf, {
    origin,
    symbols: 'kallsyms (guest memory, relocated)',
    ...(options.producerVersion !== undefined ? { producerVersion: options.producerVersion } : {}),
  });
  return { doc, btfPhysical: found.physical };
}
