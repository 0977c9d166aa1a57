// Synthetic IA-32e guest images for benchmarks: `pages` 4 KiB data pages mapped at a virtual base through real
// 4-level page tables (4 KiB PTEs, so every page is its own translation), written to a file. Data pages are laid
// out physically contiguous in virtual order, so "the same bytes" for a reference memcpy is one contiguous range.
import { closeSync, existsSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from './harness.mjs';

export const VA_BASE = 0x0000_7f00_0000_0000n;
const P_RW = 0x3n;

/**
 * Returns {path, dtb, vaBase, pages, dataOffset, pageList}. The file is reused across trials of one run when its
 * size matches (the content is deterministic). With `shuffle`, virtual page i maps to a pseudo-random frame (a
 * permutation), like a real process's scattered frames; `pageList` then names a file of u64 file offsets, one per
 * virtual page in order, for the C reference to copy the same bytes in the same order.
 */
export function guestImage(pages, { shuffle = false } = {}) {
  const name = `parasight-bench-guest-${pages}${shuffle ? '-shuffled' : ''}.raw`;
  const ptPages = Math.ceil(pages / 512);
  const pdPages = Math.ceil(ptPages / 512);
  const pdptPages = Math.ceil(pdPages / 512);
  if (pdptPages > 1) throw new Error('guestImage supports up to 512 GiB');
  const tablePages = 1 + pdptPages + pdPages + ptPages; // PML4, PDPT, PDs, PTs
  const dataOffset = tablePages * 4096;
  const size = dataOffset + pages * 4096;
  const path = join(scratchDir, name);
  const pageList = `${path}.pages`;
  const info = { path, dtb: 0n, vaBase: VA_BASE, pages, dataOffset: BigInt(dataOffset), size, pageList: shuffle ? pageList : undefined };
  if (existsSync(path) && statSync(path).size === size) return info;

  const frameOf = new Uint32Array(pages);
  for (let i = 0; i < pages; i++) frameOf[i] = i;
  if (shuffle) {
    const r = randomIndices(pages, 0x7fff_ffff, 99);
    for (let i = pages - 1; i > 0; i--) {
      const j = r[i] % (i + 1);
      const t = frameOf[i];
      frameOf[i] = frameOf[j];
      frameOf[j] = t;
    }
    const list = Buffer.alloc(pages * 8);
    for (let i = 0; i < pages; i++) list.writeBigUInt64LE(BigInt(dataOffset + frameOf[i] * 4096), i * 8);
    writeFileSync(pageList, list);
  }

  const buf = Buffer.alloc(size);
  const pml4 = 0;
  const pdpt = 4096;
  const pdBase = pdpt + pdptPages * 4096;
  const ptBase = pdBase + pdPages * 4096;
  // PML4E and PDPTEs (one PDPT covers 512 GiB: VA_BASE is 512 GiB aligned).
  buf.writeBigUInt64LE(BigInt(pdpt) | P_RW, pml4 + Number((VA_BASE >> 39n) & 0x1ffn) * 8);
  for (let i = 0; i < pdPages; i++) buf.writeBigUInt64LE(BigInt(pdBase + i * 4096) | P_RW, pdpt + i * 8);
  for (let i = 0; i < ptPages; i++) buf.writeBigUInt64LE(BigInt(ptBase + i * 4096) | P_RW, pdBase + i * 8);
  for (let i = 0; i < pages; i++) buf.writeBigUInt64LE(BigInt(dataOffset + frameOf[i] * 4096) | P_RW, ptBase + i * 8);
  // Data: a cheap non-constant pattern (hashes and sums must not see zeros only).
  for (let off = dataOffset; off < size; off += 8) buf.writeUInt32LE((off * 2654435761) >>> 0, off);
  writeFileSync(path, buf);
  return info;
}

/** A plain file of `bytes` bytes with deterministic content, for file-hashing trials. */
export function dataFile(bytes, name = `parasight-bench-file-${bytes}.bin`) {
  const path = join(scratchDir, name);
  if (existsSync(path) && statSync(path).size === bytes) return path;
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2246822519) >>> 0, i);
  const parts = [];
  for (let done = 0; done < bytes; done += chunk.length) parts.push(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/**
 * An image of `mib` MiB of noise written 1 MiB at a time: no kernel structure survives a discovery filter, so a scan
 * for one reads every byte (the worst case).
 */
export function noiseImage(path, mib) {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(1 << 20);
  for (let off = 0; off < mib << 20; off += buf.length) {
    for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((Math.imul(off + i, 2654435761) ^ 0x5bd1e995) >>> 0, i);
    writeSync(fd, buf, 0, buf.length, off);
  }
  closeSync(fd);
}

/** Deterministic pseudo-random integers in [0, n). */
export function randomIndices(count, n, seed = 12345) {
  const out = new Uint32Array(count);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x % n;
  }
  return out;
}
