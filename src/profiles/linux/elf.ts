/**
 * The least of ELF64 a profile generator needs from a vmlinux: its sections (name, address, file range), and a
 * virtual-address → file-offset lookup for reading initialised kernel data (banner, kallsyms tables).
 */
import { ParasightError } from '../../errors.js';

export interface ElfSection {
  name: string;
  type: number;
  address: bigint;
  offset: number;
  size: number;
}

const SHT_NOBITS = 8;

export class Elf64 {
  readonly sections: ElfSection[];

  constructor(
    readonly bytes: Uint8Array,
    readonly origin: string,
  ) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 64 || dv.getUint32(0, false) !== 0x7f454c46) throw this.#bad('not an ELF file', 0);
    if (bytes[4] !== 2 || bytes[5] !== 1) throw this.#bad('not a little-endian ELF64 file', 4);
    const shoff = Number(dv.getBigUint64(0x28, true));
    const shentsize = dv.getUint16(0x3a, true);
    const shnum = dv.getUint16(0x3c, true);
    const shstrndx = dv.getUint16(0x3e, true);
    if (shentsize < 64 || shoff + shnum * shentsize > bytes.length || shstrndx >= shnum) {
      throw this.#bad('section header table lies outside the file', 0x28);
    }
    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * shentsize;
      raw.push({
        nameOff: dv.getUint32(at, true),
        type: dv.getUint32(at + 4, true),
        address: dv.getBigUint64(at + 0x10, true),
        offset: Number(dv.getBigUint64(at + 0x18, true)),
        size: Number(dv.getBigUint64(at + 0x20, true)),
      });
    }
    const strtab = raw[shstrndx]!;
    this.sections = raw.map((s) => ({
      name: cString(bytes, strtab.offset + s.nameOff),
      type: s.type,
      address: s.address,
      offset: s.offset,
      size: s.size,
    }));
    for (const s of this.sections) {
      if (s.type !== SHT_NOBITS && s.offset + s.size > bytes.length) throw this.#bad(`section ${s.name} is truncated`, s.offset);
    }
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** Bytes of a section that has file contents. */
  sectionBytes(name: string): Uint8Array | undefined {
    const s = this.section(name);
    if (!s || s.type === SHT_NOBITS) return undefined;
    return this.bytes.subarray(s.offset, s.offset + s.size);
  }

  /** File offset of a kernel virtual address inside an initialised section, or undefined. */
  fileOffset(address: bigint): number | undefined {
    for (const s of this.sections) {
      if (s.type === SHT_NOBITS || s.address === 0n) continue;
      if (address >= s.address && address < s.address + BigInt(s.size)) return s.offset + Number(address - s.address);
    }
    return undefined;
  }

  #bad(what: string, offset: number): ParasightError {
    return new ParasightError(`${this.origin}: ${what}`, { code: 'FORMAT', source: this.origin, offset });
  }
}

export function cString(bytes: Uint8Array, at: number, max = 4096): string {
  let end = at;
  const limit = Math.min(bytes.length, at + max);
  while (end < limit && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at).toString('latin1');
}
