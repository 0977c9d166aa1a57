// ldrmodules and malfind on generated XP images: the three PEB loader lists and their disagreements (a DLL
// unlinked from one list, an image mapping no list names), hostile loader data (cyclic list, bad PEB pointer),
// and executable+writable memory with content (a PE image, a prologue) while empty or absent regions are skipped.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { WindowsIntrospector } from '../../src/introspect/windows/introspector.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import type { ImageTruth, ProcessSpec } from '../fixtures/windows/scenario.js';

let dir: string;
let truth: ImageTruth;
let w: WindowsIntrospector;
let close: () => void;

const SYS = '\\WINDOWS\\system32\\';
const explorerExtras: NonNullable<ProcessSpec['extraVads']> = [
  { start: 0x01460000, size: 0x21000, protection: 6, content: 'pe' },
  { start: 0x01500000, size: 0x3000, protection: 6, content: 'zero' },
  { start: 0x01600000, size: 0x2000, protection: 6 },
  { start: 0x01700000, size: 0x2000, protection: 7, content: 'prologue' },
  { start: 0x01800000, size: 0x1000, protection: 4, content: 'pe' },
  { start: 0x10000000, size: 0x20000, protection: 7, file: `${SYS}evil.dll` },
  { start: 0x11000000, size: 0x10000, protection: 7, file: `${SYS}ghost.dll` },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-userland-'));
  const base = cridex();
  const processes = base.processes.map((p): ProcessSpec => {
    if (p.pid === 1484) return { ...p, extraVads: explorerExtras, loader: { unlink: [{ file: `${SYS}evil.dll`, from: ['memory'] }, { file: `${SYS}ghost.dll`, from: ['load', 'memory', 'init'] }] } };
    if (p.pid === 1640) return { ...p, loader: { cyclic: true } };
    if (p.pid === 1136) return { ...p, badPeb: true };
    if (p.pid === 368) return { ...p, extraVads: [{ start: 0x30000000, size: 0x20000000, protection: 6 }] };
    return p;
  });
  truth = buildImage(cridex({ name: 'cridex-userland', seed: 0x1d7, loaderLists: true, processes }), join(dir, 'userland.raw'));
  const mem = openMemory(truth.path);
  w = WindowsIntrospector.open(mem);
  close = () => {
    w.close();
    mem.close();
  };
});
afterAll(() => {
  close?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('loadedModules (ldrmodules)', () => {
  it('reports every module with the lists naming it, and flags the unlinked and unlisted DLLs', () => {
    const r = w.loadedModules(1484);
    expect(r.problems).toEqual([]);
    const rows = r.items.map((m) => [m.base, m.path, m.inLoad, m.inMemory, m.inInit, m.suspicious]);
    expect(rows).toEqual([
      [0x01000000n, '\\WINDOWS\\Explorer.EXE', true, true, false, false],
      [0x10000000n, `${SYS}evil.dll`, true, false, true, true],
      [0x11000000n, `${SYS}ghost.dll`, false, false, false, true],
      [0x7c800000n, `${SYS}kernel32.dll`, true, true, true, false],
      [0x7c900000n, `${SYS}ntdll.dll`, true, true, true, false],
    ]);
    expect(r.items.find((m) => m.base === 0x7c900000n)).toMatchObject({ name: 'ntdll.dll', size: 0xaf000, mappedPath: `${SYS}ntdll.dll` });
  });

  it('nothing suspicious in an untouched process', () => {
    const r = w.loadedModules(664);
    expect(r.problems).toEqual([]);
    expect(r.items.length).toBe(3);
    expect(r.items.some((m) => m.suspicious)).toBe(false);
  });

  it('stops a cyclic loader list and reports it, keeping the other lists', () => {
    const r = w.loadedModules(1640);
    expect(r.problems.map((p) => [p.code, p.walk])).toEqual([['CYCLE', 'ldr load order']]);
    expect(r.items.every((m) => m.inMemory)).toBe(true);
    expect(r.items.length).toBe(3);
  });

  it('reports an unreadable PEB without throwing', () => {
    const r = w.loadedModules(1136);
    expect(r.problems.length).toBeGreaterThan(0);
    expect(r.problems[0]!.walk).toBe('ldr');
    expect(r.items.every((m) => !m.inLoad && !m.inMemory && !m.inInit)).toBe(true);
  });

  it('answers NOT_FOUND for an unknown pid and nothing for System', () => {
    expect(w.loadedModules(99999).problems[0]!.code).toBe('NOT_FOUND');
    expect(w.loadedModules(4)).toEqual({ items: [], problems: [] });
  });
});

describe('injectedCode (malfind)', () => {
  it('reports executable+writable regions with content, with their first bytes and where they were read', () => {
    const r = w.injectedCode(1484);
    expect(r.problems).toEqual([]);
    expect(r.items.map((f) => [f.start, f.end, f.protection, f.private, f.peHeader, f.prologue, f.readAt])).toEqual([
      [0x01460000n, 0x01481000n, 'PAGE_EXECUTE_READWRITE', true, true, false, 0x01460000n],
      [0x01700000n, 0x01702000n, 'PAGE_EXECUTE_WRITECOPY', true, false, true, 0x01700000n],
    ]);
    const pe = r.items[0]!;
    expect(pe.head.length).toBe(128);
    expect(pe.head.startsWith('4d5a')).toBe(true);
    expect(pe.peAt).toBe(0x01460000n);
    expect(r.items[1]!.head.startsWith('558bec')).toBe(true);
    // The physical address is where those bytes are in the image.
    const fd = openSync(truth.path, 'r');
    try {
      for (const f of r.items) {
        const b = Buffer.alloc(64);
        readSync(fd, b, 0, 64, Number(f.physical));
        expect(b.toString('hex')).toBe(f.head);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('bounds a huge executable+writable VAD and says so', () => {
    const r = w.injectedCode(368);
    expect(r.items).toEqual([]);
    expect(r.problems.map((p) => [p.code, p.walk])).toEqual([['LIMIT', 'malfind']]);
  });

  it('finds nothing in processes whose executable+writable memory is not resident', () => {
    for (const p of w.processes().items) {
      if (p.pid === 1484) continue;
      expect(w.injectedCode(p.pid).items).toEqual([]);
    }
  });
});

describe('memoryMap commit charge', () => {
  it('reports each VAD\'s committed pages', () => {
    const map = w.memoryMap(1484);
    expect(map.problems).toEqual([]);
    const want = [...truth.vads.get(1484)!].sort((a, b) => a.start - b.start).map((v) => [BigInt(v.start), v.file ? 0 : Math.ceil(v.size / 4096)]);
    expect(map.items.map((m) => [m.start, m.committedPages])).toEqual(want);
  });
});
