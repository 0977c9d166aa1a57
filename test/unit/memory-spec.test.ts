import { describe, expect, it } from 'vitest';
import { parseMemorySpec } from '../../src/memory/spec.js';

describe('memory source strings', () => {
  it('plain paths and forced formats', () => {
    expect(parseMemorySpec('/images/xp.vmem')).toEqual({ kind: 'file', path: '/images/xp.vmem' });
    expect(parseMemorySpec('./qemu:1')).toEqual({ kind: 'file', path: './qemu:1' });
    expect(parseMemorySpec('lime:/caps/a,b.lime')).toEqual({ kind: 'file', path: '/caps/a,b.lime', format: 'lime' });
    expect(parseMemorySpec('elf:core')).toEqual({ kind: 'file', path: 'core', format: 'elf' });
  });

  it('live files, QEMU processes and LibVMI with options', () => {
    expect(parseMemorySpec('live:/dev/shm/vm1,low=2G')).toEqual({ kind: 'live-file', path: '/dev/shm/vm1', lowRamSize: 2n << 30n });
    expect(parseMemorySpec('live:/dev/shm/a,b')).toEqual({ kind: 'live-file', path: '/dev/shm/a,b' });
    expect(parseMemorySpec('qemu:4242,qmp=/run/vm1.qmp,ram=0x100000000,access=proc-mem,memfd=off')).toEqual({
      kind: 'qemu-process',
      pid: 4242,
      qmp: '/run/vm1.qmp',
      ramSize: 1n << 32n,
      access: 'proc-mem',
      memfd: false,
    });
    expect(parseMemorySpec('qemu:7')).toEqual({ kind: 'qemu-process', pid: 7 });
    expect(parseMemorySpec('libvmi:win7,mode=xen')).toEqual({ kind: 'libvmi', domain: 'win7', mode: 'xen' });
  });

  it('mistakes are BAD_ARGUMENT with the reason', () => {
    expect(() => parseMemorySpec('qemu:abc')).toThrow('qemu: pid must be a positive integer, got "abc"');
    expect(() => parseMemorySpec('qemu:1,qmpp=/x')).toThrow('qemu: unknown option qmpp (known: qmp, ram, low, access, memfd)');
    expect(() => parseMemorySpec('qemu:1,ram=lots')).toThrow('qemu: ram=lots is not a size (bytes, 0x…, or K/M/G/T suffix)');
    expect(() => parseMemorySpec('qemu:1,memfd=maybe')).toThrow('qemu: memfd must be on or off, got maybe');
    expect(() => parseMemorySpec('live:')).toThrow('live: needs a path');
    expect(() => parseMemorySpec('')).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
