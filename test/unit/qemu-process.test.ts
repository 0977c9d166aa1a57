import { describe, expect, it } from 'vitest';
import {
  lowRamFromMtree,
  mtreeRam,
  parseMaps,
  parseQemuSize,
  q35LowRamSize,
  ramFileMapping,
  ramMappingCandidates,
  ramSizeFromCmdline,
} from '../../src/memory/qemu-process.js';

const MiB = 1n << 20n;
const GiB = 1n << 30n;

describe('QEMU command line and sizes', () => {
  it('parses -m in its forms, MiB by default, 128 MiB when absent', () => {
    expect(parseQemuSize('64M')).toBe(64n * MiB);
    expect(parseQemuSize('2g')).toBe(2n * GiB);
    expect(parseQemuSize('4096')).toBe(4096n * MiB);
    expect(parseQemuSize('12x')).toBeUndefined();
    expect(ramSizeFromCmdline(['qemu-system-x86_64', '-machine', 'q35', '-m', '4G'])).toBe(4n * GiB);
    expect(ramSizeFromCmdline(['qemu', '-m', 'size=6G,slots=4,maxmem=16G'])).toBe(6n * GiB);
    expect(ramSizeFromCmdline(['qemu', '-m', '8192'])).toBe(8n * GiB);
    expect(ramSizeFromCmdline(['qemu', '-smp', '2'])).toBe(128n * MiB);
  });

  it('q35 keeps 2 GiB below 4 GiB from 2.75 GiB of RAM on', () => {
    expect(q35LowRamSize(64n * MiB)).toBe(64n * MiB);
    expect(q35LowRamSize(0xafff_f000n)).toBe(0xafff_f000n);
    expect(q35LowRamSize(0xb000_0000n)).toBe(2n * GiB);
    expect(q35LowRamSize(16n * GiB)).toBe(2n * GiB);
  });
});

// Shaped like QEMU 7.2's `info mtree -f` for -m 64M with max-ram-below-4g=32M (an SMM flat view comes first).
const MTREE = `FlatView #0
 AS "mch", root: bus master container
 Root memory region: (none)
  No rendered FlatView

FlatView #1
 AS "cpu-smm-0", root: memory
 Root memory region: memory
  0000000000000000-00000000000bffff (prio 0, ram): pc.ram
  0000000100000000-0000000101ffffff (prio 0, ram): pc.ram @0000000003000000

FlatView #2
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 Root memory region: system
  0000000000000000-00000000000bffff (prio 0, ram): pc.ram
  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom
  0000000000100000-0000000001ffffff (prio 0, ram): pc.ram @0000000000100000
  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios
  0000000100000000-0000000101ffffff (prio 0, ram): pc.ram @0000000002000000
`;

describe('info mtree -f', () => {
  it('takes low RAM from the offset of the block at 4 GiB in the system flat view', () => {
    expect(lowRamFromMtree(MTREE, 'pc.ram', 64n * MiB)).toBe(32n * MiB);
  });
  it('lists the RAM ranges of the system address space with their offsets in the block', () => {
    expect(mtreeRam(MTREE)).toEqual([
      { start: 0n, length: 0xc0000n, name: 'pc.ram', offset: 0n },
      { start: 0x100000n, length: 0x1f00000n, name: 'pc.ram', offset: 0x100000n },
      { start: 1n << 32n, length: 32n * MiB, name: 'pc.ram', offset: 32n * MiB },
    ]);
  });
  it('without RAM at 4 GiB the whole block is low; other blocks are ignored', () => {
    const low = MTREE.split('\n').filter((l) => !l.includes('0000000100000000')).join('\n');
    expect(lowRamFromMtree(low, 'pc.ram', 64n * MiB)).toBe(64n * MiB);
    expect(lowRamFromMtree(MTREE, 'mem', 64n * MiB)).toBe(64n * MiB);
  });
});

const MAPS = `55d0c0a00000-55d0c0b00000 r-xp 00000000 fe:00 1234   /usr/bin/qemu-system-x86_64
7f0000000000-7f0001000000 rw-p 00000000 00:00 0
7f0001000000-7f0001001000 ---p 00000000 00:00 0
7f0001200000-7f0005200000 rw-p 00000000 00:00 0
7f0005200000-7f0005201000 ---p 00000000 00:00 0
7f0005400000-7f0009400000 rw-s 00000000 00:1a 99     /dev/shm/vm1.ram
7f0009400000-7f0009401000 rw-p 00000000 00:00 0
7f000a000000-7f000e000000 rw-p 00000000 00:00 0
`;

describe('/proc/PID/maps', () => {
  const maps = parseMaps(MAPS);
  it('parses ranges, permissions, inode and path', () => {
    expect(maps).toHaveLength(8);
    expect(maps[5]).toEqual({ start: 0x7f0005400000n, end: 0x7f0009400000n, perms: 'rw-s', inode: 99, path: '/dev/shm/vm1.ram' });
    expect(maps[1]!.path).toBe('');
  });
  it('guest RAM is the 2 MiB-aligned anonymous rw-p mapping of the RAM size followed by a guard page', () => {
    expect(ramMappingCandidates(maps, 64n * MiB).map((m) => m.start)).toEqual([0x7f0001200000n]);
    // 16 MiB matches the VGA-RAM-like mapping too; the last 64 MiB mapping has no guard page.
    expect(ramMappingCandidates(maps, 16n * MiB).map((m) => m.start)).toEqual([0x7f0000000000n]);
  });
  it('a shared file mapping of the RAM size is memory-backend-file', () => {
    expect(ramFileMapping(maps, 64n * MiB)?.path).toBe('/dev/shm/vm1.ram');
    expect(ramFileMapping(maps, 32n * MiB)).toBeUndefined();
  });
});
