// The Windows fixture builder itself: images carry what the facts say a real XP/2003 image carries, read back
// here with the builder's own layout table and a tiny independent page walk (not the product's walker).
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex, generic } from '../fixtures/windows/scenarios.js';
import { XP, KDBG } from '../fixtures/windows/layout.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-winfix-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function translate(img: Buffer, dtb: number, pae: boolean, va: number): number | undefined {
  if (!pae) {
    const pde = img.readUInt32LE(dtb + (va >>> 22) * 4);
    if (!(pde & 1)) return undefined;
    if (pde & 0x80) return ((pde & 0xffc00000) >>> 0) + (va & 0x3fffff);
    const pte = img.readUInt32LE(((pde & 0xfffff000) >>> 0) + ((va >>> 12) & 0x3ff) * 4);
    return pte & 1 ? ((pte & 0xfffff000) >>> 0) + (va & 0xfff) : undefined;
  }
  const pdpte = img.readBigUInt64LE(dtb + (va >>> 30) * 8);
  if (!(pdpte & 1n)) return undefined;
  const pde = img.readBigUInt64LE(Number(pdpte & 0xffffff000n) + ((va >>> 21) & 0x1ff) * 8);
  if (!(pde & 1n)) return undefined;
  if (pde & 0x80n) return Number(pde & 0xfffe00000n) + (va & 0x1fffff);
  const pte = img.readBigUInt64LE(Number(pde & 0xffffff000n) + ((va >>> 12) & 0x1ff) * 8);
  return pte & 1n ? Number(pte & 0xffffff000n) + (va & 0xfff) : undefined;
}

describe('windows fixture builder', () => {
  it('writes a non-PAE XP image with self-map, KUSER_SHARED_DATA alias, KDBG and processes', () => {
    const path = join(dir, 'g.raw');
    const t = buildImage(generic(), path);
    const img = readFileSync(path);
    expect(statSync(path).size).toBe(32 << 20);
    const dtb = Number(t.dtb);
    expect(translate(img, dtb, false, 0xc0300000)).toBe(dtb);
    const ku = translate(img, dtb, false, 0xffdf0000)!;
    expect(translate(img, dtb, false, 0x7ffe0000)).toBe(ku);
    expect(img.readUInt32LE(ku + 0x26c)).toBe(5);
    const kd = translate(img, dtb, false, Number(t.kdbg))!;
    expect(img.subarray(kd + 8, kd + 0x16)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('KDBG'), 0x90, 0x02]));
    expect(img.toString('latin1', kd + KDBG.ownerTag, kd + KDBG.ownerTag + 4)).toBe('KDBG');
    expect(img.readBigUInt64LE(kd + 8)).toBe(0n);
    for (const p of t.processes) {
      const pa = translate(img, dtb, false, Number(p.address))!;
      expect(img.readUInt32LE(pa + XP.eprocess.pid)).toBe(p.pid);
      expect(img.toString('latin1', pa + XP.eprocess.name, pa + XP.eprocess.name + p.name.length)).toBe(p.name);
      expect(img.toString('latin1', pa - 0x20 + 4, pa - 0x20 + 8)).toBe('Proc'.slice(0, 3) + '\u00e3');
    }
  });

  it('writes a PAE image (cridex shape) whose PD self-map and published addresses hold', () => {
    const path = join(dir, 'c.raw');
    const t = buildImage(cridex({ memoryMiB: 32 }), path);
    const img = readFileSync(path);
    const dtb = Number(t.dtb);
    expect(dtb).toBe(0x2fe000);
    const pd0 = Number(img.readBigUInt64LE(dtb) & 0xffffff000n);
    expect(translate(img, dtb, true, 0xc0600000)).toBe(pd0);
    const conn = translate(img, dtb, true, 0x81e87620)!;
    expect(img.toString('latin1', conn - 4, conn)).toBe('TCPT');
    expect(img.readUInt16BE(conn + 0x16)).toBe(1038);
    expect(img.readUInt32LE(conn + 0x18)).toBe(1484);
    expect(t.processes.find((p) => p.pid === 1484)!.address).toBe(0x821dea70n);
  });
});
