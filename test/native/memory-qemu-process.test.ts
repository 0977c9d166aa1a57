/**
 * The qemu-process source on a real process whose memory the test controls (test/fixtures/ram-standin.c lays out
 * "guest RAM" like QEMU does): /proc/PID/maps discovery, both read paths (process_vm_readv and /proc/PID/mem),
 * batched reads, resident ranges from /proc/PID/pagemap, and process exit.
 */
import { describe, expect, it, afterEach, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyze } from '../../src/cli/commands/analyze.js';
import { watch } from '../../src/cli/commands/watch.js';
import { buildFrame } from '../fixtures/packets/frames.js';
import { writePcap, type TimedFrame } from '../fixtures/packets/pcap-writer.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import { openMemory, ParasightError, type Memory } from '../../src/index.js';
import { PAGE, patternPage, startStandin, type Standin } from '../fixtures/ram-standin.js';

const MiB = 1 << 20;
const running: Standin[] = [];
const open: Memory[] = [];
afterEach(async () => {
  for (const m of open.splice(0)) m.close();
  for (const s of running.splice(0)) await s.kill();
});

async function standin(size: string, copies: number, touched: number[] | string): Promise<Standin> {
  const s = await startStandin(size, copies, touched);
  running.push(s);
  return s;
}

async function track(p: Promise<Memory>): Promise<Memory> {
  const m = await p;
  open.push(m);
  return m;
}

async function rejection(p: Promise<unknown>): Promise<ParasightError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ParasightError);
    return e as ParasightError;
  }
  throw new Error('expected a rejection');
}

const page = (n: number): bigint => BigInt(n * PAGE);

for (const access of ['process_vm_readv', 'proc-mem'] as const) {
  describe(`qemu-process source via ${access}`, () => {
    it('finds the RAM block from /proc/PID/maps and the -m argument, and reads touched pages', async () => {
      const s = await standin('8M', 1, [0, 3, 1500]);
      const mem = await track(openMemory({ kind: 'qemu-process', pid: s.pid, access }));
      expect(mem.kind).toBe('qemu-process');
      expect(mem.origin).toBe(`pid ${s.pid}`);
      expect(mem.ranges).toEqual([{ start: 0n, length: BigInt(8 * MiB) }]);
      for (const p of [0, 3, 1500]) expect(mem.readPhysical(page(p), PAGE)).toEqual(patternPage(p));
      // Crossing the end: the error names the first missing byte.
      const e = (() => {
        try {
          mem.readPhysical(BigInt(8 * MiB - 4), 8);
        } catch (err) {
          return err as ParasightError;
        }
        return undefined;
      })();
      expect(e?.code).toBe('OUT_OF_RANGE');
      expect(e?.address).toBe(BigInt(8 * MiB));
      // The guest keeps running: a page written after open is seen by the next read.
      await s.touch(77);
      expect(mem.readPhysical(page(77) + 100n, 16)).toEqual(patternPage(77).subarray(100, 116));
    });

    it('batched reads: thousands of items in few calls, holes and edge-crossing items flagged', async () => {
      const s = await standin('8M', 1, [1, 2, 9]);
      const mem = await track(openMemory({ kind: 'qemu-process', pid: s.pid, access }));
      const addrs: bigint[] = [];
      const expected: Array<Uint8Array | undefined> = [];
      for (let i = 0; i < 3000; i++) {
        const p = [1, 2, 9][i % 3]!;
        const off = (i * 8) % PAGE;
        addrs.push(page(p) + BigInt(off));
        expected.push(patternPage(p).subarray(off, off + 8));
      }
      addrs.push(BigInt(8 * MiB - 4), BigInt(64 * MiB)); // crosses the end; far past the end
      expected.push(undefined, undefined);
      const { bytes, ok } = mem.readMany(BigUint64Array.from(addrs), 8);
      expected.forEach((want, i) => {
        expect(ok[i]).toBe(want ? 1 : 0);
        expect(bytes.subarray(i * 8, i * 8 + 8)).toEqual(want ?? new Uint8Array(8));
      });
    });

    it('process exit makes every read SOURCE_GONE', async () => {
      const s = await standin('8M', 1, [0]);
      const mem = await track(openMemory({ kind: 'qemu-process', pid: s.pid, access }));
      expect(mem.readPhysical(0n, 4)).toEqual(patternPage(0).subarray(0, 4));
      await s.kill();
      running.length = 0;
      let err: ParasightError | undefined;
      try {
        mem.readPhysical(0n, 4);
      } catch (e) {
        err = e as ParasightError;
      }
      expect(err?.code).toBe('SOURCE_GONE');
      expect(err?.message).toBe(`process ${s.pid} has exited; cannot read physical 0x0`);
      const { ok } = mem.readMany(new BigUint64Array([0n, 8n]), 8);
      expect(Array.from(ok)).toEqual([0, 0]);
      expect(() => mem.residentRanges()).toThrow(expect.objectContaining({ code: 'SOURCE_GONE' }));
    });
  });
}

describe('resident ranges (the pagemap hazard)', () => {
  it('lists only the pages the guest touched; reading an untouched page commits it', async () => {
    const s = await standin('8M', 1, [0, 3, 4, 100]);
    const mem = await track(openMemory({ kind: 'qemu-process', pid: s.pid }));
    const before = [
      { start: 0n, length: page(1) },
      { start: page(3), length: page(2) },
      { start: page(100), length: page(1) },
    ];
    expect(mem.residentRanges()).toEqual(before);
    // Reading only resident ranges allocates nothing new.
    for (const r of mem.residentRanges()) mem.readPhysical(r.start, Number(r.length));
    expect(mem.residentRanges()).toEqual(before);
    // The hazard itself: one read of a never-touched page makes the host commit it.
    mem.readPhysical(page(7), 8);
    expect(mem.residentRanges()).toEqual([...before.slice(0, 2), { start: page(7), length: page(1) }, before[2]]);
    // Clipped to the query; pages the guest touches later appear.
    await s.touch(200);
    expect(mem.residentRanges(page(150), page(100))).toEqual([{ start: page(200), length: page(1) }]);
    expect(mem.residentRanges(page(3) + 10n, 20n)).toEqual([{ start: page(3) + 10n, length: 20n }]);
  });

  it('follows the layout above 4 GiB (lowRamSize)', async () => {
    const s = await standin('8M', 1, [1500]);
    const mem = await track(openMemory({ kind: 'qemu-process', pid: s.pid, lowRamSize: 4 * MiB }));
    const high = (1n << 32n) + page(1500) - BigInt(4 * MiB);
    expect(mem.ranges).toEqual([
      { start: 0n, length: BigInt(4 * MiB) },
      { start: 1n << 32n, length: BigInt(4 * MiB) },
    ]);
    expect(mem.residentRanges()).toEqual([{ start: high, length: page(1) }]);
    expect(mem.readPhysical(high, PAGE)).toEqual(patternPage(1500));
  });
});

describe('locating guest RAM without QMP: clear errors', () => {
  it('several same-sized candidates are ambiguous and say how to resolve it', async () => {
    const s = await standin('4M', 2, []);
    const e = await rejection(openMemory({ kind: 'qemu-process', pid: s.pid }));
    expect(e.code).toBe('NOT_FOUND');
    const ranges = s.addresses.map((a) => `0x${a.toString(16)}-0x${(a + BigInt(4 * MiB)).toString(16)}`);
    expect(e.message).toBe(
      `pid ${s.pid}: 2 mappings could be guest RAM, each an anonymous rw-p mapping of 4194304 bytes (2 MiB aligned, ` +
        `followed by a ---p guard page): ${ranges.sort().join(', ')}; pass a QMP socket (qmp) so that gpa2hva tells ` +
        'which one (e.g. -m 16M has the size of vga.vram)',
    );
  });

  it('a wrong RAM size finds nothing', async () => {
    const s = await standin('4M', 1, []);
    const e = await rejection(openMemory({ kind: 'qemu-process', pid: s.pid, ramSize: 16 * MiB }));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toContain('no anonymous rw-p mapping of 16777216 bytes');
  });

  it('a missing process and bad arguments', async () => {
    expect((await rejection(openMemory({ kind: 'qemu-process', pid: 0x3ffffe }))).message).toBe('no process with pid 4194302');
    expect((await rejection(openMemory({ kind: 'qemu-process', pid: -1 }))).message).toBe('pid must be a positive integer, got -1');
    expect(
      (await rejection(openMemory({ kind: 'qemu-process', pid: 1, access: 'mmap' as 'auto' }))).message,
    ).toBe('access must be one of auto, process_vm_readv, proc-mem, got "mmap"');
  });
});

describe('permissions', () => {
  // Another user without CAP_SYS_PTRACE must get PERMISSION, not a crash or empty bytes. The child loads the addon
  // directly (plain node cannot import the TypeScript sources) as user nobody.
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const canDrop = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  it.skipIf(!canDrop)('reading a root process as nobody is PERMISSION', async () => {
    const s = await standin('4M', 1, [0]);
    const script = `
      const { join } = require('node:path');
      const root = ${JSON.stringify(root)};
      const addon = process.env.PARASIGHT_NATIVE_BUILD === 'asan'
        ? require(join(root, 'build-asan', 'Release', 'parasight.node'))
        : require(join(root, 'node_modules', 'node-gyp-build'))(root);
      try {
        addon.memory_open_process(${s.pid}, new BigUint64Array([0n, 4096n, ${s.addresses[0]}n]), 'auto');
        console.log(JSON.stringify({ opened: true }));
      } catch (e) {
        console.log(JSON.stringify({ code: e.code, message: e.message }));
      }`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      code: 'PERMISSION',
      message: `cannot open /proc/${s.pid}/mem: permission denied: reading another process's memory needs root or CAP_SYS_PTRACE over it`,
    });
  });
});

describe('end to end: parasight analyze on a running process holding a Windows guest image', () => {
  it('qemu:PID and live:PATH give the same analyze document and watch events as the image file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parasight-e2e-'));
    try {
      const truth = buildImage(cridex({ memoryMiB: 32 }), join(dir, 'cridex.raw'));
      const s = await standin('32M', 1, truth.path);
      const run = async (memory: string): Promise<unknown> => {
        const out: string[] = [];
        const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
        try {
          expect(await analyze.run(['--memory', memory, '--json'])).toBe(0);
        } finally {
          spy.mockRestore();
        }
        const doc = JSON.parse(out.join('')) as Record<string, unknown>;
        delete doc.source; // names the memory source itself
        return doc;
      };
      const fromFile = await run(truth.path);
      expect(await run(`qemu:${s.pid}`)).toEqual(fromFile);
      expect(await run(`live:${truth.path}`)).toEqual(fromFile);

      // watch: the sensor attributes captured connections through the running process as through the file.
      const GUEST = '172.16.112.128';
      let ts = Date.parse('2012-07-22T02:45:00Z');
      const frames: TimedFrame[] = [
        buildFrame({ src: GUEST, dst: '41.168.5.140', proto: 'tcp', sport: 1038, dport: 8080, flags: 'S' }),
        buildFrame({ src: '172.16.112.2', dst: GUEST, proto: 'udp', sport: 123, dport: 123, payload: 48 }),
      ].map((frame) => ({ ts: (ts += 3), frame }));
      const pcap = join(dir, 'cridex.pcap');
      writePcap(pcap, frames);
      const rules = join(dir, 'rules.yaml');
      writeFileSync(rules, 'version: 1\nprocesses:\n  - name: explorer.exe\n    mode: default-deny\n');
      const watchEvents = async (memory: string): Promise<unknown[]> => {
        const out: string[] = [];
        vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
        vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
        try {
          expect(await watch.run(['--pcap', pcap, '--memory', memory, '--rules', rules, '--guest-ip', GUEST, '--allowed', '--json'])).toBe(1);
        } finally {
          vi.restoreAllMocks();
        }
        // Ids are random and attribution latency is wall-clock time; everything else (ts is the capture time) must match.
        return out.join('').trim().split('\n').map((l) => {
          const { id: _id, attribution, ...rest } = JSON.parse(l) as Record<string, unknown> & { attribution: Record<string, unknown> };
          const { ms: _ms, ...how } = attribution;
          return { ...rest, attribution: how };
        });
      };
      const viaFile = await watchEvents(truth.path);
      expect(viaFile).toContainEqual(expect.objectContaining({ type: 'process.parasitized', process: expect.objectContaining({ pid: 1484 }) }));
      expect(await watchEvents(`qemu:${s.pid}`)).toEqual(viaFile);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
