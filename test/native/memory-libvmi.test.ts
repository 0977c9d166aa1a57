/** The LibVMI source against a stand-in libvmi.so built here with gcc (serves a buffer), and without LibVMI. */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMemory } from '../../src/index.js';
import { caught } from '../fixtures/errors.js';

let dir: string;
let lib: string;
let oldLib: string;
const ramByte = (i: number): number => (i * 29 + (i >> 12)) & 0xff;

function gcc(out: string, extra: string[]): void {
  const src = fileURLToPath(new URL('../fixtures/libvmi-standin.c', import.meta.url));
  const r = spawnSync('gcc', ['-shared', '-fPIC', '-O1', '-Wall', '-Werror', ...extra, '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc failed: ${r.stderr}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-libvmi-'));
  lib = join(dir, 'libvmi.so');
  oldLib = join(dir, 'libvmi-old.so');
  gcc(lib, []);
  gcc(oldLib, ['-DTOO_OLD']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LibVMI source (dlopen)', () => {
  it('reads physical memory through vmi_read_pa', () => {
    const mem = openMemory({ kind: 'libvmi', domain: 'test-vm', library: lib });
    expect(mem.kind).toBe('libvmi');
    expect(mem.origin).toBe('libvmi:test-vm');
    expect(mem.ranges).toEqual([{ start: 0n, length: 1n << 20n }]);
    const bytes = mem.readPhysical(0x12345n, 64);
    expect(Array.from(bytes)).toEqual(Array.from({ length: 64 }, (_, i) => ramByte(0x12345 + i)));
    const { ok, bytes: many } = mem.readMany(new BigUint64Array([0x1000n, 0x80000n, 0xffffcn, 0x100000n]), 4);
    expect(Array.from(ok)).toEqual([1, 0, 1, 0]);
    expect(Array.from(many.subarray(8, 12))).toEqual([0xffffc, 0xffffd, 0xffffe, 0xfffff].map(ramByte));
    mem.close();
  });

  it('failed reads are errors with the first unreadable address', () => {
    const mem = openMemory({ kind: 'libvmi', domain: 'test-vm', library: lib });
    const e = caught(() => mem.readPhysical(0x7fff0n, 0x20));
    expect(e.code).toBe('IO');
    expect(e.address).toBe(0x80000n);
    expect(e.message).toBe('LibVMI could not read physical 0x80000 of test-vm (not backed, or the VM is gone)');
    expect(caught(() => mem.readPhysical(0xffff0n, 0x20)).code).toBe('OUT_OF_RANGE');
    mem.close();
  });

  it('an unknown VM, an old library and a missing library are clear errors', () => {
    const vm = caught(() => openMemory({ kind: 'libvmi', domain: 'other-vm', library: lib }));
    expect(vm.code).toBe('NOT_FOUND');
    expect(vm.message).toBe('LibVMI cannot open other-vm: VM not found');
    const old = caught(() => openMemory({ kind: 'libvmi', domain: 'test-vm', library: oldLib }));
    expect(old.code).toBe('UNSUPPORTED');
    expect(old.message).toContain('LibVMI 0.14 or newer is needed');
    const missing = caught(() => openMemory({ kind: 'libvmi', domain: 'test-vm', library: join(dir, 'nope.so') }));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toMatch(/^LibVMI is not available \(.*nope\.so.*\): install libvmi or pass its path$/);
  });

  // With a real LibVMI installed, opening would try to reach a real VM: nothing to assert offline.
  const installed = spawnSync('sh', ['-c', 'ldconfig -p | grep -q "libvmi\\.so"']).status === 0;
  it.skipIf(installed)('without a library path, LibVMI is looked up by name and reported missing', () => {
    const e = caught(() => openMemory({ kind: 'libvmi', domain: 'test-vm' }));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toContain('libvmi.so');
  });

  it('arguments are validated', () => {
    expect(() => openMemory({ kind: 'libvmi', domain: '' })).toThrow('domain must be a non-empty string');
    expect(() => openMemory({ kind: 'libvmi', domain: 'x', mode: 'hyperv' as 'kvm' })).toThrow(
      'mode must be one of kvm, xen, file, got "hyperv"',
    );
  });
});
