// The Windows XP/2003 introspector end to end on generated guest images: discovery (DTB, paging mode, KDBG),
// processes, modules, tcpip.sys tables and connection ownership, compared with the builder's truth.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { WindowsIntrospector } from '../../src/introspect/windows/introspector.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex, generic, zeus } from '../fixtures/windows/scenarios.js';
import type { ImageTruth, Scenario } from '../fixtures/windows/scenario.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-win-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(s: Scenario): ImageTruth {
  return buildImage(s, join(dir, `${s.name}-${s.family}-sp${s.servicePack}-${s.pae ? 'pae' : 'x86'}-${s.seed}.raw`));
}

function open(t: ImageTruth, opts = {}) {
  const mem = openMemory(t.path);
  const w = WindowsIntrospector.open(mem, opts);
  return { mem, w };
}

function expectMatchesTruth(w: WindowsIntrospector, t: ImageTruth): void {
  const info = w.info();
  expect(info.dtb).toBe(t.dtb);
  expect(info.paging).toBe(t.pae ? 'pae' : 'x86');
  expect(info.kernelBase).toBe(t.kernelBase);
  expect(w.discovery.kdbg).toBe(t.kdbg);
  const procs = w.processes().items;
  expect(procs.map((p) => [p.pid, p.ppid, p.name, p.address, p.createTime, p.exitTime])).toEqual(
    t.processes.map((p) => [p.pid, p.ppid, p.name, p.address, p.createTime, p.exitTime]),
  );
  for (const p of t.processes) if (p.path) expect(procs.find((x) => x.pid === p.pid)!.path).toBe(p.path);
  expect(w.modules().items.map((m) => [m.name, m.path, m.base, m.size])).toEqual(t.modules.map((m) => [m.name, m.path, m.base, m.size]));
  const perms = ['---', 'r--', '--x', 'r-x', 'rw-', 'rw-', 'rwx', 'rwx'];
  for (const [pid, vads] of t.vads) {
    const map = w.memoryMap(pid);
    expect(map.problems).toEqual([]);
    expect(map.items.map((m) => [m.start, m.end, m.perms, m.kind, m.path])).toEqual(
      [...vads]
        .sort((a, b) => a.start - b.start)
        .map((v) => [BigInt(v.start), BigInt(v.start + Math.ceil(v.size / 4096) * 4096), perms[v.protection], v.file ? 'file' : 'private', v.file]),
    );
  }
  const conns = w.connections().items.map((c) => [c.localAddress, c.localPort, c.remoteAddress, c.remotePort, c.pid, c.address]);
  expect(conns.sort()).toEqual(t.connections.map((c) => [c.localAddress, c.localPort, c.remoteAddress, c.remotePort, c.pid, c.address]).sort());
  const socks = [
    ...w.sockets().items.map((s) => [s.pid, s.localPort, s.proto === 'tcp' ? 6 : 17, s.localAddress, s.createTime, s.address]),
    ...w.otherSockets().map((s) => [s.pid, s.localPort, s.protocol, s.localAddress, s.createTime, s.address]),
  ];
  expect(socks.sort()).toEqual(t.sockets.map((s) => [s.pid, s.port, s.proto, s.address, s.createTime, s.object]).sort());
}

describe('Windows introspector on generated XP/2003 images', () => {
  it('XP SP2 non-PAE: finds the kernel through KPCR and walks everything', () => {
    const t = build(generic());
    const { mem, w } = open(t);
    expectMatchesTruth(w, t);
    expect(w.info().profile).toBe('xp-sp2-x86');
    expect(w.discovery.kdbgFoundBy).toBe('version-block');
    expect(w.tcpip.build).toBe('5.1.2600.2180');
    w.close();
    mem.close();
  });

  it('cridex (XP SP3, PAE): stock SP3 tcpip.sys tables found by scanning its data; owner of the C&C connection', () => {
    const t = build(cridex());
    const { mem, w } = open(t);
    expectMatchesTruth(w, t);
    expect(w.info().profile).toBe('xp-sp3-x86');
    expect(w.tcpip.tcb?.how).toBe('scan');
    const owner = w.lookupConnection({ proto: 'tcp', family: 4, localAddress: '172.16.112.128', localPort: 1038, remoteAddress: '41.168.5.140', remotePort: 8080 });
    expect(owner?.pid).toBe(1484);
    expect(owner?.process?.name).toBe('explorer.exe');
    expect(owner?.answeredFrom).toBe('snapshot');
    // malfind's hit: private read-write-execute memory in explorer.exe.
    expect(w.memoryMap(1484).items.filter((m) => m.kind === 'private' && m.perms === 'rwx').map((m) => m.start)).toEqual([0x1460000n]);
    expect(w.memoryMap(1484).items.find((m) => m.start === 0x1000000n)?.path).toBe('\\WINDOWS\\Explorer.EXE');
    expect(w.memoryMap(99999).problems[0]?.code).toBe('NOT_FOUND');
    // The closed connection lives only in freed pool: a table walk must not report it.
    expect(w.connections().items.some((c) => c.localPort === 1037)).toBe(false);
    w.close();
    mem.close();
  });

  it('zeus (XP SP2, PAE): svchost 856 owns both connections to 193.104.41.75:80', () => {
    const t = build(zeus());
    const { mem, w } = open(t);
    expectMatchesTruth(w, t);
    const a = w.lookupConnection({ proto: 'tcp', family: 4, localAddress: '172.16.176.143', localPort: 1056, remoteAddress: '193.104.41.75', remotePort: 80 });
    expect(a?.process?.name).toBe('svchost.exe');
    expect(a?.pid).toBe(856);
    const cmd = w.processes().items.find((p) => p.pid === 124)!;
    expect(cmd.exitTime).toBe(Date.parse('2010-08-15T19:17:56Z'));
    w.close();
    mem.close();
  });
});
