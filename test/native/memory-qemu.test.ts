/**
 * A real, paused QEMU (q35, no kernel: `-S`), its RAM seeded by QEMU's own generic loader with a known pattern.
 * Reads through QMP discovery (gpa2hva + info mtree -f), through /proc/PID/maps, and through the memfd backend must
 * all return the bytes QEMU put there, including RAM above 4 GiB.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateQemuRam, openMemory, ParasightError, QmpClient, type Memory } from '../../src/index.js';
import { pattern } from '../fixtures/memory-images.js';

const qemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const MiB = 1n << 20n;
const HIGH = 1n << 32n;

let dir: string;
const seed = pattern(42, 8192);
const started: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-qemu-'));
  writeFileSync(join(dir, 'seed.bin'), seed);
});
afterAll(async () => {
  for (const c of started) {
    if (c.exitCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Guest {
  pid: number;
  qmp: string;
  child: ChildProcess;
}

let guestCount = 0;
/** Starts a paused q35 guest whose RAM holds `seed` at 1 MiB and at 4 GiB + 4 KiB when RAM reaches that high. */
async function startGuest(machine: string, extra: string[] = [], options: { memory?: string; loadAt?: string[] } = {}): Promise<Guest> {
  const qmp = join(dir, `qmp${guestCount++}.sock`);
  const at = options.loadAt ?? ['0x100000', ...(machine.includes('max-ram-below-4g') ? ['0x100001000'] : [])];
  const loaders = at.flatMap((addr) => [
    '-device',
    `loader,file=${join(dir, 'seed.bin')},addr=${addr},force-raw=on`,
  ]);
  const child = spawn(
    'qemu-system-x86_64',
    ['-machine', machine, '-m', options.memory ?? '64M', '-S', '-nodefaults', '-display', 'none', '-monitor', 'none', '-serial', 'none',
      '-qmp', `unix:${qmp},server=on,wait=off`, ...loaders, ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  started.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 200 && !existsSync(qmp); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(qmp)) throw new Error(`QEMU did not start: ${stderr}`);
  return { pid: child.pid!, qmp, child };
}

async function withMemory<T>(p: Promise<Memory>, fn: (m: Memory) => T): Promise<T> {
  const m = await p;
  try {
    return fn(m);
  } finally {
    m.close();
  }
}

describe.skipIf(!qemu)('paused QEMU guest (qemu-system-x86_64 -machine q35 -S)', () => {
  it('QMP (gpa2hva) and /proc/PID/maps find the same RAM block and read the bytes QEMU loaded', async () => {
    const g = await startGuest('q35');
    const viaQmp = await locateQemuRam(g.pid, { qmp: g.qmp });
    const viaMaps = await locateQemuRam(g.pid);
    expect(viaQmp).toMatchObject({ how: 'gpa2hva', blockName: 'pc.ram', ramSize: 64n * MiB, lowRamSize: 64n * MiB });
    expect(viaMaps).toMatchObject({ how: 'maps', ramSize: 64n * MiB, lowRamSize: 64n * MiB, hva: viaQmp.hva });
    for (const spec of [{ qmp: g.qmp }, {}]) {
      await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, ...spec }), (m) => {
        expect(m.kind).toBe('qemu-process');
        expect(m.ranges).toEqual([{ start: 0n, length: 64n * MiB }]);
        expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
        // A paused guest that never ran has touched almost nothing: the scan list stays small.
        const resident = m.residentRanges().reduce((n, r) => n + r.length, 0n);
        expect(resident).toBeGreaterThanOrEqual(BigInt(seed.length));
        expect(resident).toBeLessThan(8n * MiB);
      });
    }
  });

  it('RAM above 4 GiB: the layout comes from info mtree -f, or from lowRamSize without QMP', async () => {
    const g = await startGuest('q35,max-ram-below-4g=32M');
    const expected = [
      { start: 0n, length: 32n * MiB },
      { start: HIGH, length: 32n * MiB },
    ];
    for (const spec of [{ qmp: g.qmp }, { lowRamSize: 32n * MiB }]) {
      await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, ...spec }), (m) => {
        expect(m.ranges).toEqual(expected);
        expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
        expect(m.readPhysical(HIGH + 0x1000n, seed.length)).toEqual(seed);
        expect(() => m.readPhysical(32n * MiB, 1)).toThrow(expect.objectContaining({ code: 'HOLE' }));
      });
    }
  });

  it('a pc-dimm is its own RAM block: found through QMP and read at its guest-physical address', async () => {
    const g = await startGuest(
      'q35',
      ['-object', 'memory-backend-ram,id=d1,size=64M', '-device', 'pc-dimm,id=dimm1,memdev=d1,addr=0x100000000'],
      { memory: '64M,slots=2,maxmem=256M', loadAt: ['0x100000', '0x100002000'] },
    );
    const layout = await locateQemuRam(g.pid, { qmp: g.qmp });
    expect(layout.extraBlocks).toEqual([{ name: 'd1', start: HIGH, length: 64n * MiB, hva: expect.any(BigInt) }]);
    await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp }), (m) => {
      expect(m.ranges).toEqual([
        { start: 0n, length: 64n * MiB },
        { start: HIGH, length: 64n * MiB },
      ]);
      expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
      expect(m.readPhysical(HIGH + 0x2000n, seed.length)).toEqual(seed);
    });
  });

  it('NUMA: the backend of each node is its own block', async () => {
    const g = await startGuest(
      'q35',
      ['-object', 'memory-backend-ram,id=m0,size=32M', '-object', 'memory-backend-ram,id=m1,size=32M',
        '-numa', 'node,nodeid=0,memdev=m0', '-numa', 'node,nodeid=1,memdev=m1'],
      { loadAt: ['0x100000', '0x2001000'] },
    );
    const layout = await locateQemuRam(g.pid, { qmp: g.qmp });
    expect(layout).toMatchObject({ blockName: 'm0', ramSize: 32n * MiB, lowRamSize: 32n * MiB });
    expect(layout.extraBlocks?.map((b) => [b.name, b.start, b.length])).toEqual([['m1', 32n * MiB, 32n * MiB]]);
    await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp }), (m) => {
      expect(m.ranges).toEqual([
        { start: 0n, length: 32n * MiB },
        { start: 32n * MiB, length: 32n * MiB },
      ]);
      expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
      expect(m.readPhysical(0x2001000n, seed.length)).toEqual(seed);
      // One read across the two blocks (two host mappings) still returns contiguous guest memory.
      expect(m.readPhysical(0x2001000n - 16n, 32).subarray(16)).toEqual(seed.subarray(0, 16));
    });
  });

  it('a real dump-guest-memory ELF core reads the same bytes as the live process', async () => {
    const g = await startGuest('q35,max-ram-below-4g=32M');
    const core = join(dir, 'guest.core');
    const qmp = await QmpClient.connect(g.qmp);
    await qmp.execute('dump-guest-memory', { paging: false, protocol: `file:${core}` }, { timeoutMs: 60_000 });
    qmp.close();
    const live = await openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp });
    const dump = openMemory(core);
    try {
      expect(dump.kind).toBe('elf-core');
      const covers = (start: bigint, end: bigint): boolean => dump.ranges.some((r) => r.start <= start && r.start + r.length >= end);
      expect(covers(0x100000n, 32n * MiB)).toBe(true);
      expect(covers(HIGH, HIGH + 32n * MiB)).toBe(true);
      for (const at of [0x100000n, HIGH + 0x1000n]) {
        expect(dump.readPhysical(at, seed.length)).toEqual(seed);
        expect(dump.readPhysical(at, seed.length)).toEqual(live.readPhysical(at, seed.length));
      }
    } finally {
      dump.close();
      live.close();
    }
  });

  it('memfd backend: the memfd is mapped (zero-copy when sealed), or read through the process when asked', async () => {
    const g = await startGuest('q35,memory-backend=mem', ['-object', 'memory-backend-memfd,id=mem,size=64M,share=on']);
    await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp }), (m) => {
      expect(m.kind).toBe('qemu-memfd');
      expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
      // QEMU seals its memfd against shrinking, so views over the mapping are safe: two reads share one buffer.
      expect(m.readPhysical(0x100000n, 16).buffer).toBe(m.readPhysical(0x200000n, 16).buffer);
      const resident = m.residentRanges().reduce((n, r) => n + r.length, 0n);
      expect(resident).toBeLessThan(8n * MiB);
    });
    await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp, memfd: false }), (m) => {
      expect(m.kind).toBe('qemu-process');
      expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
    });
  });

  it('file backend (memory-backend-file,share=on): the file is found with or without QMP and read as a live file', async () => {
    const ramPath = join(dir, 'guest.ram');
    const g = await startGuest('q35,memory-backend=mem', [
      '-object', `memory-backend-file,id=mem,size=64M,mem-path=${ramPath},share=on`,
    ]);
    for (const spec of [{ qmp: g.qmp }, {}]) {
      await withMemory(openMemory({ kind: 'qemu-process', pid: g.pid, ...spec }), (m) => {
        expect(m.kind).toBe('live-file');
        expect(m.origin).toBe(ramPath);
        expect(m.readPhysical(0x100000n, seed.length)).toEqual(seed);
        expect(m.residentRanges().reduce((n, r) => n + r.length, 0n)).toBeLessThan(8n * MiB);
      });
    }
  });

  it('memfd backend: native reads end with the QEMU process even though the memfd outlives it', async () => {
    const g = await startGuest('q35,memory-backend=mem', ['-object', 'memory-backend-memfd,id=mem,size=64M,share=on']);
    const m = await openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp });
    const dst = new Uint8Array(16);
    m.readPhysicalInto(0x100000n, dst);
    expect(dst).toEqual(seed.subarray(0, 16));
    const exited = new Promise((r) => g.child.once('exit', r));
    g.child.kill('SIGTERM');
    await exited;
    expect(() => m.readPhysicalInto(0x100000n, dst)).toThrow(expect.objectContaining({ code: 'SOURCE_GONE' }));
    expect(Array.from(m.readMany(new BigUint64Array([0x100000n]), 8).ok)).toEqual([0]);
    m.close();
  });

  it('QEMU quitting turns reads into SOURCE_GONE; the QMP client reports errors clearly', async () => {
    const g = await startGuest('q35');
    const m = await openMemory({ kind: 'qemu-process', pid: g.pid, qmp: g.qmp });
    const client = await QmpClient.connect(g.qmp);
    expect(client.greeting).toHaveProperty('version');
    await expect(client.execute('no-such-command')).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: 'QMP command "no-such-command" failed: CommandNotFound: The command no-such-command has not been found',
    });
    expect(await client.hmp('gpa2hva 0x100000')).toMatch(/^Host virtual address for 0x100000 \(pc\.ram\) is 0x[0-9a-f]+\n$/);
    const exited = new Promise((r) => g.child.once('exit', r));
    await client.execute('quit').catch(() => undefined); // QEMU may close the socket before replying
    await exited;
    let err: ParasightError | undefined;
    try {
      m.readPhysical(0x100000n, 16);
    } catch (e) {
      err = e as ParasightError;
    }
    expect(err?.code).toBe('SOURCE_GONE');
    await expect(client.execute('query-status')).rejects.toMatchObject({ code: 'IO' });
    client.close();
    m.close();
    await expect(QmpClient.connect(g.qmp)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
