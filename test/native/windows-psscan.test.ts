// psscan on generated XP images: process objects found in physical memory by their pool tag, matched against the
// active list; hidden (unlinked) and exited (freed pool) processes are found by the scan only, decoys never.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { WindowsIntrospector } from '../../src/introspect/windows/introspector.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex, generic } from '../fixtures/windows/scenarios.js';
import type { ImageTruth, Scenario } from '../fixtures/windows/scenario.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-psscan-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(s: Scenario): ImageTruth {
  return buildImage(s, join(dir, `${s.name}-${s.seed}.raw`));
}

function scan(t: ImageTruth) {
  const mem = openMemory(t.path);
  const w = WindowsIntrospector.open(mem);
  try {
    return { list: w.processes().items, scan: w.psscan() };
  } finally {
    w.close();
    mem.close();
  }
}

const hiddenScenario = (): Scenario => {
  const base = cridex();
  return cridex({
    name: 'cridex-hidden',
    seed: 0x51dde,
    procDecoys: true,
    processes: [
      ...base.processes,
      { name: 'svch0st.exe', pid: 1996, ppid: 1484, created: '2012-07-22T02:44:50Z', hidden: true },
      { name: 'cmd.exe', pid: 1852, ppid: 1484, created: '2012-07-22T02:43:10Z', exited: '2012-07-22T02:43:12Z', freed: true },
      { name: 'ipconfig.exe', pid: 1864, ppid: 1852, created: '2012-07-22T02:43:11Z', exited: '2012-07-22T02:43:12Z' },
    ],
  });
};

describe('psscan (process pool-tag scan)', () => {
  it('finds every listed process at its physical address, and nothing else on a clean image', () => {
    const t = build(generic({ name: 'psscan-clean', decoys: true }));
    const { list, scan: r } = scan(t);
    expect(r.problems).toEqual([]);
    expect(r.bytesScanned).toBeGreaterThan(0);
    const got = r.items.map((p) => [p.pid, p.name, p.physical, p.foundBy, p.address, p.hidden, p.freed]);
    expect(got.sort()).toEqual(t.processes.map((p) => [p.pid, p.name, p.physical, 'pslist+psscan', p.address, false, false]).sort());
    expect(list.length).toBe(t.processes.length);
  });

  it('reports hidden and freed processes as found by the scan only, and rejects Proc decoys', () => {
    const t = build(hiddenScenario());
    const { list, scan: r } = scan(t);
    expect(list.map((p) => p.pid)).not.toContain(1996);
    expect(list.map((p) => p.pid)).not.toContain(1852);
    expect(list.map((p) => p.pid)).toContain(1864);
    const onlyScan = r.items.filter((p) => p.foundBy === 'psscan');
    expect(onlyScan.map((p) => [p.pid, p.name, p.physical, p.hidden, p.freed, p.exitTime]).sort()).toEqual(
      t.unlisted.map((p) => [p.pid, p.name, p.physical, p.hidden, p.freed, p.exitTime]).sort(),
    );
    expect(onlyScan.find((p) => p.pid === 1996)!.hidden).toBe(true);
    // The exited (still linked) process is on both; nothing from the decoys (pids 2000, 2004, random bytes).
    const both = r.items.filter((p) => p.foundBy === 'pslist+psscan');
    expect(both.map((p) => p.pid).sort()).toEqual(t.processes.map((p) => p.pid).sort());
    expect(both.find((p) => p.pid === 1864)!.exitTime).toBe(t.processes.find((p) => p.pid === 1864)!.exitTime);
    expect(r.items.length).toBe(t.processes.length + t.unlisted.length);
  });

  it('locates a hidden process through its self-pointing links, and then walks its VADs', () => {
    const t = build(hiddenScenario());
    const mem = openMemory(t.path);
    const w = WindowsIntrospector.open(mem);
    try {
      expect(w.memoryMap(1996).problems[0]!.code).toBe('NOT_FOUND'); // not on the list: unknown before a scan
      const r = w.psscan();
      const hidden = r.items.find((p) => p.pid === 1996)!;
      expect(hidden.address).toBe(t.unlisted.find((p) => p.pid === 1996)!.address);
      expect(r.items.find((p) => p.pid === 1852)!.address).toBe(0n); // freed: not located
      const map = w.memoryMap(1996);
      expect(map.problems).toEqual([]);
      expect(map.items.map((m) => m.start)).toEqual(t.vads.get(1996)!.map((v) => BigInt(v.start)).sort((a, b) => (a < b ? -1 : 1)));
      expect(w.injectedCode(1996)).toEqual({ items: [], problems: [] });
    } finally {
      w.close();
      mem.close();
    }
  });

  it('does not crash on a truncated image and still reports what lies before the cut', () => {
    const s = hiddenScenario();
    const full = build(s);
    const cutAt = 24 << 20;
    const t = build({ ...s, name: 'cridex-hidden-cut', hostile: { truncateAt: cutAt } });
    const mem = openMemory(t.path);
    try {
      const w = WindowsIntrospector.open(mem);
      const r = w.psscan();
      expect(r.bytesScanned).toBeLessThanOrEqual(cutAt);
      const expected = [...full.processes, ...full.unlisted].filter((p) => p.physical < BigInt(cutAt) - 0x1000n).map((p) => p.pid);
      expect(expected.length).toBeGreaterThan(2);
      for (const pid of expected) expect(r.items.map((p) => p.pid)).toContain(pid);
      expect(r.items.every((p) => p.physical < BigInt(cutAt))).toBe(true);
      w.close();
    } finally {
      mem.close();
    }
  });
});

describe('connscan/sockscan beside the tcpip.sys tables', () => {
  it('tells table objects, unlinked live connections and closed ones apart', () => {
    const base = cridex();
    const hidden = { localAddress: '172.16.112.128', localPort: 1040, remoteAddress: '188.40.0.138', remotePort: 8080, pid: 1484, hidden: true };
    const t = build(cridex({ name: 'cridex-connscan', seed: 0xc0ff, memoryMiB: 32, connections: [...base.connections, hidden] }));
    expect(t.unlinkedConnections).toHaveLength(1);
    const mem = openMemory(t.path);
    const w = WindowsIntrospector.open(mem);
    const kernel = mem.addressSpace({ mode: 'pae', dtb: t.dtb });
    try {
      const key = (c: { localPort: number; remoteAddress: string; remotePort: number; pid: number }) => `${c.localPort}>${c.remoteAddress}:${c.remotePort}/${c.pid}`;
      // The table walk sees only the linked connection.
      expect(w.connections().items.map(key)).toEqual(t.connections.map(key));
      const r = w.connscan();
      expect(r.problems).toEqual([]);
      const rows = r.connections.map((c) => [key(c), c.foundBy, c.unlinked, c.freed, c.physical, c.address]).sort();
      const pa = (va: bigint) => kernel.translate(va).pa;
      expect(rows).toEqual(
        [
          ...t.connections.map((c) => [key(c), 'table+pool-scan', false, false, pa(c.address), c.address]),
          ...t.unlinkedConnections.map((c) => [key(c), 'pool-scan', true, false, pa(c.address), 0n]),
          ...t.closedConnections.map((c) => [key(c), 'pool-scan', false, true, pa(c.address), 0n]),
        ].sort(),
      );
      expect(r.sockets).toHaveLength(t.sockets.length);
      expect(r.sockets.every((s) => s.foundBy === 'table+pool-scan' && !s.unlinked && !s.freed)).toBe(true);
      expect(r.sockets.filter((s) => s.proto === undefined).map((s) => s.protocol)).toEqual([255]);
    } finally {
      kernel.close();
      w.close();
      mem.close();
    }
  });
});
