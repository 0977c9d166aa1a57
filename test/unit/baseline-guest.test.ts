/**
 * Guest mode plumbing: the detector fed by a GuestIntrospector. The introspector here is a table in the shape of
 * the interface (no guest memory behind it), so this checks the adapter and the pipeline, not a real guest walk.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BaselineDetector } from '../../src/baseline/detector.js';
import { GuestMapSource } from '../../src/baseline/guest.js';
import { BaselineStore } from '../../src/baseline/store.js';
import type { GuestIntrospector, GuestProcess, MemoryMapEntry } from '../../src/introspect/types.js';

type Maps = Record<number, MemoryMapEntry[]>;

function guest(processes: Partial<GuestProcess>[], maps: Maps): GuestIntrospector {
  const none = { items: [], problems: [] };
  return {
    info: () => ({ os: 'linux', version: '6.1.0-26-amd64', profile: 'test', paging: 'ia32e', dtb: 0n, kernelBase: 0n, problems: [] }),
    processes: () => ({
      items: processes.map((p) => ({ ppid: 1, name: '', createTime: 0, createTimeBase: 'boot', address: 0n, foundBy: 'table', pid: 0, ...p })),
      problems: [],
    }),
    connections: () => none,
    sockets: () => none,
    lookupConnection: () => undefined,
    memoryMap: (pid) => ({ items: maps[pid] ?? [], problems: maps[pid] ? [] : [{ code: 'NOT_FOUND', message: `no mm for ${pid}` }] }),
    refresh: () => undefined,
    close: () => undefined,
  };
}

const file = (start: bigint, perms: string, path: string): MemoryMapEntry => ({ start, end: start + 0x1000n, perms, shared: false, kind: 'file', path });
const anon = (start: bigint, perms: string, path?: string): MemoryMapEntry => ({ start, end: start + 0x1000n, perms, shared: false, kind: 'private', ...(path ? { path } : {}) });

const cleanMap = (base: bigint): MemoryMapEntry[] => [
  file(base, 'r-x', '/usr/sbin/sshd'),
  file(base + 0x10000n, 'r-x', '/usr/lib/x86_64-linux-gnu/libc.so.6'),
  anon(base + 0x20000n, 'rw-', '[heap]'),
  anon(base + 0x30000n, 'r-x', '[vdso]'),
];

const stores: BaselineStore[] = [];
afterEach(() => stores.splice(0).forEach((s) => s.close()));

function newStore(): BaselineStore {
  const s = new BaselineStore(':memory:');
  stores.push(s);
  return s;
}

function detector(g: GuestIntrospector, store: BaselineStore) {
  return BaselineDetector.create({ store, source: new GuestMapSource(g, { vm: 'lab-vm' }) });
}

describe('guest mode (GuestIntrospector memory maps)', () => {
  it('records a guest process and finds injected code from outside, without file access', async () => {
    const procs = [{ pid: 300, tgid: 300, name: 'sshd', path: '/usr/sbin/sshd' }, { pid: 301, tgid: 300, name: 'sshd' }];
    const store = newStore();
    const det = await detector(guest(procs, { 300: cleanMap(0x7f0000000000n) }), store);
    const [rec] = det.record({ name: 'sshd' }, { appVersion: '9.2p1' });
    expect(rec!.snapshot.processes.map((p) => p.pid)).toEqual([300]);
    expect(rec!.snapshot.env).toEqual({ osVersion: 'linux 6.1.0-26-amd64', deviceModel: 'virtual machine' });
    expect(rec!.stored.record.files.every((f) => f.hash === undefined)).toBe(true);

    // The guest restarted the process: other addresses, same files.
    const det2 = await detector(guest(procs, { 300: cleanMap(0x7f1000000000n) }), store);
    expect(det2.check({ pid: 300 }, { appVersion: '9.2p1' })[0]!.comparison.findings).toEqual([]);

    const injected = [...cleanMap(0x7f2000000000n), file(0x7f3000000000n, 'r-x', '/dev/shm/.x.so'), anon(0x7f4000000000n, 'rwx')];
    const det3 = await detector(guest(procs, { 300: injected }), store);
    const r = det3.check({ exe: '/usr/sbin/sshd' }, { appVersion: '9.2p1' })[0]!;
    expect(r.comparison.findings.map((f) => `${f.kind}:${f.risk}:${f.path}`).sort()).toEqual(['anon-exec:high:', 'extra:high:/dev/shm/.x.so']);
    expect(r.events.every((e) => e.vm === 'lab-vm')).toBe(true);
  });

  it('takes Windows file names as files and .dll as code', async () => {
    const procs = [{ pid: 4, name: 'svchost.exe', path: 'C:\\WINDOWS\\system32\\svchost.exe' }];
    const base = [file(0x1000000n, 'r-x', 'C:\\WINDOWS\\system32\\svchost.exe'), file(0x7c900000n, 'r-x', '\\WINDOWS\\system32\\ntdll.dll')];
    const store = newStore();
    const det = await detector(guest(procs, { 4: base }), store);
    const [rec] = det.record({ name: 'svchost.exe' });
    expect(rec!.stored.record.feature.paths).toEqual(['C:\\WINDOWS\\system32\\svchost.exe', '\\WINDOWS\\system32\\ntdll.dll']);
    const det2 = await detector(guest(procs, { 4: [...base, file(0x10000000n, 'r--', '\\Documents and Settings\\x\\evil.dll')] }), store);
    const f = det2.check({ pid: 4 })[0]!.comparison.findings;
    expect(f.map((x) => [x.kind, x.risk, x.why])).toEqual([['extra', 'high', 'extension']]);
  });
});
