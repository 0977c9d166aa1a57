/**
 * The two ELF facts the baseline needs: "is this file ELF" (magic) and the GNU build-id of an executable (the
 * NT_GNU_BUILD_ID note reached through the program headers, which every linked executable and shared object has;
 * section headers may be stripped). Reads a few hundred bytes; never throws on a malformed file.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;
/** Notes are small; a bigger PT_NOTE is not one we want to read whole. */
const MAX_NOTE_BYTES = 64 * 1024;
const MAX_PHDRS = 256;

export function isElfMagic(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** True when the file starts with the ELF magic; false when it does not or cannot be read. */
export function fileIsElf(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && isElfMagic(b);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, offset: number, length: number): Buffer | undefined {
  const b = Buffer.alloc(length);
  const got = readSync(fd, b, 0, length, offset);
  return got === length ? b : undefined;
}

/** GNU build-id as lowercase hex, or undefined when the file is not ELF or has none. */
export function readBuildId(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return buildIdOf(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function buildIdOf(fd: number): string | undefined {
  const h = readAt(fd, 0, 64);
  if (!h || !isElfMagic(h)) return undefined;
  const is64 = h[4] === 2;
  const le = h[5] === 1;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
  const phoff = word(h, is64 ? 0x20 : 0x1c);
  const phentsize = u16(h, is64 ? 0x36 : 0x2a);
  const phnum = u16(h, is64 ? 0x38 : 0x2c);
  if (phnum === 0 || phnum > MAX_PHDRS || phentsize < (is64 ? 56 : 32)) return undefined;
  const table = readAt(fd, phoff, phentsize * phnum);
  if (!table) return undefined;
  for (let i = 0; i < phnum; i++) {
    const base = i * phentsize;
    if (u32(table, base) !== PT_NOTE) continue;
    const offset = word(table, base + (is64 ? 0x08 : 0x04));
    const size = word(table, base + (is64 ? 0x20 : 0x10));
    if (size <= 0 || size > MAX_NOTE_BYTES) continue;
    const notes = readAt(fd, offset, size);
    if (!notes) continue;
    const id = findBuildIdNote(notes, u32);
    if (id) return id;
  }
  return undefined;
}

// Note layout: namesz, descsz, type (4 bytes each), name padded to 4, desc padded to 4.
function findBuildIdNote(b: Buffer, u32: (b: Buffer, o: number) => number): string | undefined {
  const pad4 = (n: number) => (n + 3) & ~3;
  let p = 0;
  while (p + 12 <= b.length) {
    const namesz = u32(b, p);
    const descsz = u32(b, p + 4);
    const type = u32(b, p + 8);
    const nameAt = p + 12;
    const descAt = nameAt + pad4(namesz);
    const next = descAt + pad4(descsz);
    if (next > b.length || next <= p) return undefined;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && b.toString('latin1', nameAt, nameAt + 3) === 'GNU') {
      return b.toString('hex', descAt, descAt + descsz);
    }
    p = next;
  }
  return undefined;
}
