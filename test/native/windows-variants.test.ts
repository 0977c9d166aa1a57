// Windows introspection across the supported builds and discovery paths, plus hostile images: every walk is
// bounded, broken structures become problems, and what can be read is still reported.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory, ParasightError } from '../../src/index.js';
import { WindowsIntrospector } from '../../src/introspect/windows/introspector.js';
import { openIntrospector } from '../../src/introspect/open.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex, generic } from '../fixtures/windows/scenarios.js';
import type { ImageTruth, Scenario } from '../fixtures/windows/scenario.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-winv-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function build(s: Scenario): ImageTruth {
  return buildImage(s, join(dir, `img-${n++}.raw`));
}

function withIntrospector<T>(t: ImageTruth, fn: (w: WindowsIntrospector) => T, opts = {}): T {
  const mem = openMemory(t.path);
  try {
    const w = WindowsIntrospector.open(mem, opts);
    try {
      return fn(w);
    } finally {
      w.close();
    }
  } finally {
    mem.close();
  }
}

const pids = (w: WindowsIntrospector): number[] => w.processes().items.map((p) => p.pid);
const connKeys = (list: Array<{ localPort: number; remotePort: number; pid: number }>): string[] =>
  list.map((c) => `${c.localPort}>${c.remotePort}@${c.pid}`).sort();

describe('builds and paging modes', () => {
  const cases: Array<[string, Partial<Scenario>, string]> = [
    ['XP SP3 non-PAE, tcpip 5.1.2600.5625', { servicePack: 3, pae: false, tcpipBuild: '5625', seed: 11 }, 'xp-sp3-x86'],
    ['XP SP2 PAE, tcpip 5.1.2600.2180', { servicePack: 2, pae: true, tcpipBuild: '2180', seed: 12 }, 'xp-sp2-x86'],
    ['Server 2003 SP1 non-PAE, tcpip 5.2.3790.1830', { family: '2003', servicePack: 1, pae: false, tcpipBuild: '1830', seed: 13 }, '2003-sp1-x86'],
    ['Server 2003 SP2 PAE, tcpip 5.2.3790.3959', { family: '2003', servicePack: 2, pae: true, tcpipBuild: '3959', seed: 14 }, '2003-sp2-x86'],
  ];
  for (const [title, over, profile] of cases) {
    it(`${title}: profile ${profile}, every process, connection and socket`, () => {
      const t = build(generic(over));
      withIntrospector(t, (w) => {
        expect(w.info().profile).toBe(profile);
        expect(w.info().paging).toBe(t.pae ? 'pae' : 'x86');
        expect(w.info().dtb).toBe(t.dtb);
        expect(pids(w)).toEqual(t.processes.map((p) => p.pid));
        expect(w.processes().items.map((p) => p.name)).toEqual(t.processes.map((p) => p.name));
        expect(connKeys(w.connections().items)).toEqual(connKeys(t.connections));
        expect(w.sockets().items.map((s) => `${s.localAddress}:${s.localPort}/${s.proto}@${s.pid}@${s.createTime}`).sort()).toEqual(
          t.sockets.map((s) => `${s.address}:${s.port}/${s.proto === 6 ? 'tcp' : 'udp'}@${s.pid}@${s.createTime}`).sort(),
        );
        expect(w.tcpip.tcb?.how).toMatch(/^rva:/);
        // VAD trees: XP's pointer root and 2003's AVL table both give every mapped DLL with its path.
        const pid = t.processes[t.processes.length - 1]!.pid;
        const map = w.memoryMap(pid).items;
        expect(map).toHaveLength(t.vads.get(pid)!.length);
        expect(map.find((m) => m.path === '\\WINDOWS\\system32\\ntdll.dll')).toMatchObject({ start: 0x7c900000n, perms: 'rwx', kind: 'file' });
      });
    });
  }

  it('a sparser image (no headers on ordinary processes, no KUSER version, no tcpip version resource) still reads', () => {
    const t = build(generic({ seed: 25, minimal: true }));
    withIntrospector(t, (w) => {
      expect(w.info().dtb).toBe(t.dtb);
      expect(w.discovery.dtbFoundBy).toBe('self-map');
      expect(pids(w)).toEqual(t.processes.map((p) => p.pid));
      expect(w.tcpip.build).toMatch(/^unknown/);
      expect(connKeys(w.connections().items)).toEqual(connKeys(t.connections));
      expect(w.sockets().items).toHaveLength(t.sockets.length);
    });
  });

  it('KdVersionBlock NULL: KDBG found by a physical scan, past a header-less tag and a decoy needle', () => {
    const t = build(generic({ noKdVersionBlock: true, seed: 21 }));
    withIntrospector(t, (w) => {
      expect(w.discovery.kdbgFoundBy).toBe('scan');
      expect(w.discovery.kdbg).toBe(t.kdbg);
      expect(pids(w)).toEqual(t.processes.map((p) => p.pid));
      expect(w.info().problems.some((p) => p.code === 'DECOY' && /KDBG/.test(p.message))).toBe(true);
    });
  });

  it('a profile whose offsets do not fit the image finds no kernel', () => {
    const t = build(generic({ seed: 22 }));
    const mem = openMemory(t.path);
    const wrong = join(process.cwd(), 'src/profiles/windows/2003-sp2-x86.json');
    expect(() => WindowsIntrospector.open(mem, { profile: wrong })).toThrow(ParasightError);
    mem.close();
  });

  it('loads a user ISF file (.json.xz) that lacks the KDBG layout, as Volatility 3 symbol files do', () => {
    const t = build(generic({ seed: 23, servicePack: 3 }));
    const doc = JSON.parse(readFileSync(join(process.cwd(), 'src/profiles/windows/xp-sp3-x86.json'), 'utf8'));
    delete doc.user_types._KDDEBUGGER_DATA64;
    delete doc.user_types._DBGKD_DEBUG_DATA_HEADER64;
    const file = join(dir, 'user-xp.json');
    writeFileSync(file, JSON.stringify(doc));
    execFileSync('xz', ['-f', file]);
    withIntrospector(t, (w) => {
      expect(w.info().profile).toBe(`${file}.xz`);
      expect(pids(w)).toEqual(t.processes.map((p) => p.pid));
    }, { profile: `${file}.xz` });
  });

  it('openIntrospector detects the Windows guest from a path', () => {
    const t = build(generic({ seed: 24 }));
    const g = openIntrospector(t.path);
    expect(g.info().os).toBe('windows');
    expect(g.processes().items).toHaveLength(t.processes.length);
    g.close();
  });
});

describe('lookupConnection', () => {
  it('answers from the snapshot, and refreshes once on a miss (a connection that appeared after the walk)', () => {
    const t = build(cridex({ memoryMiB: 32, seed: 31 }));
    const mem = openMemory(t.path);
    const w = WindowsIntrospector.open(mem);
    const c2 = t.closedConnections[0]!;
    const tuple = { proto: 'tcp' as const, family: 4 as const, localAddress: c2.localAddress, localPort: c2.localPort, remoteAddress: c2.remoteAddress, remotePort: c2.remotePort };
    // Link the freed TCB into an empty bucket of the live table, in the image file itself (mapped shared).
    const table = w.tcpip.tcb!.table;
    const space = mem.addressSpace({ mode: 'pae', dtb: t.dtb });
    let slot = -1n;
    for (let i = 0n; i < 512n; i++) {
      const pa = space.translate(table + 4n * i).pa;
      if (new DataView(mem.readPhysical(pa, 4).slice().buffer).getUint32(0, true) === 0) {
        slot = pa;
        break;
      }
    }
    expect(slot).toBeGreaterThan(0n);
    const fd = openSync(t.path, 'r+');
    const b = Buffer.alloc(4);
    b.writeUInt32LE(Number(c2.address));
    writeSync(fd, b, 0, 4, Number(slot));
    closeSync(fd);
    space.close();

    const hit = w.lookupConnection({ proto: 'tcp', family: 4, localAddress: '172.16.112.128', localPort: 1038, remoteAddress: '41.168.5.140', remotePort: 8080 });
    expect(hit).toMatchObject({ pid: 1484, answeredFrom: 'snapshot' });
    const fresh = w.lookupConnection(tuple);
    expect(fresh).toMatchObject({ pid: 1484, answeredFrom: 'refresh' });
    expect(fresh?.process?.name).toBe('explorer.exe');
    // Sockets answer for UDP and for TCP ports with no TCB; unknown tuples stay undefined.
    expect(w.lookupConnection({ proto: 'udp', family: 4, localAddress: '172.16.112.128', localPort: 137, remoteAddress: '172.16.112.2', remotePort: 137 })?.pid).toBe(4);
    expect(w.lookupConnection({ proto: 'tcp', family: 4, localAddress: '172.16.112.128', localPort: 135, remoteAddress: '172.16.112.2', remotePort: 40000 })?.process?.name).toBe('svchost.exe');
    expect(w.lookupConnection({ proto: 'tcp', family: 4, localAddress: '172.16.112.128', localPort: 9, remoteAddress: '1.2.3.4', remotePort: 9 })).toBeUndefined();
    w.close();
    mem.close();
  });
});

describe('hostile images', () => {
  it('cyclic process list: CYCLE problem, every process still reported (tail recovered through Blink)', () => {
    const t = build(generic({ seed: 41, hostile: { cyclicProcessList: true } }));
    withIntrospector(t, (w) => {
      expect(w.processes().problems.map((p) => p.code)).toContain('CYCLE');
      expect(pids(w).sort()).toEqual(t.processes.map((p) => p.pid).sort());
    });
  });

  it('a process linked to itself: CYCLE, the others recovered', () => {
    const t = build(generic({ seed: 42, hostile: { selfLinkedProcess: true } }));
    withIntrospector(t, (w) => {
      expect(w.processes().problems.map((p) => p.code)).toContain('CYCLE');
      expect(pids(w).sort()).toEqual(t.processes.map((p) => p.pid).sort());
    });
  });

  it('module list into unmapped memory: PAGE_NOT_PRESENT, tcpip.sys still found', () => {
    const t = build(generic({ seed: 43, hostile: { moduleListIntoHole: true } }));
    withIntrospector(t, (w) => {
      expect(w.modules().problems.map((p) => p.code)).toContain('PAGE_NOT_PRESENT');
      expect(w.modules().items.map((m) => m.name)).toContain('tcpip.sys');
      expect(connKeys(w.connections().items)).toEqual(connKeys(t.connections));
    });
  });

  it('absurd bucket counts, a cyclic chain and a bucket into a hole: bounded walk, problems, real objects kept', () => {
    const t = build(generic({ seed: 44, hostile: { absurdCounts: true, cyclicBucket: true, bucketIntoHole: true } }));
    withIntrospector(t, (w) => {
      const codes = w.connections().problems.map((p) => p.code);
      expect(codes).toEqual(expect.arrayContaining(['LIMIT', 'CYCLE', 'OUT_OF_RANGE']));
      expect(connKeys(w.connections().items)).toEqual(connKeys(t.connections));
      expect(w.sockets().items).toHaveLength(t.sockets.length);
    });
  });

  it('no KDBG anywhere (header wiped): the process list is found through System, tcpip through the version block', () => {
    const t = build(generic({ seed: 46, hostile: { noKdbg: true } }));
    withIntrospector(t, (w) => {
      expect(w.discovery.kdbg).toBe(0n);
      expect(w.info().problems.map((p) => p.code)).toContain('PARTIAL');
      expect(pids(w)).toEqual(t.processes.map((p) => p.pid));
      expect(connKeys(w.connections().items)).toEqual(connKeys(t.connections));
    });
  });

  it('tcpip.sys without a readable PE header: tables found by searching the whole image', () => {
    const t = build(generic({ seed: 47, tcpipBuild: '5512', hostile: { noTcpipHeader: true } }));
    withIntrospector(t, (w) => {
      expect(w.connections().problems.map((p) => p.code)).toContain('FORMAT');
      expect(w.tcpip.tcb?.how).toBe('scan');
      expect(connKeys(w.connections().items)).toEqual(connKeys(t.connections));
      expect(w.sockets().items).toHaveLength(t.sockets.length);
    });
  });

  it('tcpip.sys missing from the module list: connections and sockets from a pool-tag scan, closed ones too', () => {
    const t = build(cridex({ memoryMiB: 32, seed: 48, hostile: { unlinkTcpip: true } }));
    withIntrospector(t, (w) => {
      const conns = w.connections();
      expect(conns.problems.map((p) => p.walk)).toContain('pool-scan');
      expect(conns.items.every((c) => c.foundBy === 'pool-scan')).toBe(true);
      expect(connKeys(conns.items)).toEqual(connKeys([...t.connections, ...t.closedConnections]));
      expect(w.sockets().items.length + w.otherSockets().length).toBe(t.sockets.length);
      expect(w.lookupConnection({ proto: 'tcp', family: 4, localAddress: '172.16.112.128', localPort: 1038, remoteAddress: '41.168.5.140', remotePort: 8080 })?.process?.name).toBe('explorer.exe');
    });
  });

  it('truncated image (KUSER_SHARED_DATA, KPCR and pool cut off): kernel still found, every loss a problem', () => {
    const t = build(generic({ seed: 45, memoryMiB: 32, hostile: { truncateAt: 20 << 20 } }));
    withIntrospector(t, (w) => {
      expect(w.info().dtb).toBe(t.dtb);
      expect(w.discovery.dtbFoundBy).toBe('self-map');
      expect(w.discovery.kdbgFoundBy).toBe('scan');
      expect(w.discovery.kdbg).toBe(t.kdbg);
      const all = [...w.info().problems, ...w.modules().problems, ...w.processes().problems, ...w.connections().problems];
      expect(all.filter((p) => p.code === 'OUT_OF_RANGE').length).toBeGreaterThan(0);
      expect(all.some((p) => p.walk === 'pslist')).toBe(true);
    });
  });

  it('random bytes only: a clear NOT_FOUND, bounded time', () => {
    const path = join(dir, 'noise.raw');
    const b = Buffer.alloc(16 << 20);
    for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    writeFileSync(path, b);
    const mem = openMemory(path);
    expect(() => WindowsIntrospector.open(mem)).toThrow(/no Windows XP\/2003 x86 kernel/);
    mem.close();
  });
});
