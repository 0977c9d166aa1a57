// The Linux walker on a synthetic guest with real page tables (test/fixtures/introspect/linux-guest.ts): kernel
// discovery at a KASLR slide, task list, fd tables → sockets, lookups, executable paths, and hostile memory (cycles,
// bad pointers, reused tasks, no kernel),
// without crashing (this suite also runs under ASan/UBSan).
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemory } from '../../src/memory/open.js';
import type { GuestProcess } from '../../src/introspect/types.js';
import { LinuxIntrospector, type LinuxLookupStats } from '../../src/introspect/linux/introspector.js';
import { Profile } from '../../src/profiles/isf.js';
import { ParasightError } from '../../src/errors.js';
import { buildLinuxGuest, TEXT, type SyntheticSocket, type SyntheticTask } from '../fixtures/introspect/linux-guest.js';

const v6 = (last: number) => [0xfd, 0x77, ...new Array<number>(13).fill(0), last];
const TASKS: SyntheticTask[] = [
  {
    pid: 100, comm: 'webclient', startNs: 5_000_000_000n, otherFiles: 2,
    sockets: [{ proto: 'tcp', family: 4, local: [10, 0, 0, 2], lport: 40000, remote: [10, 0, 0, 1], rport: 443, state: 1 }],
  },
  {
    pid: 101, comm: 'resolver', startNs: 7_000_000_000n,
    sockets: [
      { proto: 'udp', family: 6, local: new Array<number>(16).fill(0), lport: 53, remote: new Array<number>(16).fill(0), rport: 0, state: 7 },
      { proto: 'tcp', family: 6, local: v6(2), lport: 50000, remote: v6(1), rport: 8080, state: 1 },
      { proto: 'tcp', family: 4, local: [0, 0, 0, 0], lport: 22, remote: [0, 0, 0, 0], rport: 0, state: 10 },
    ],
  },
];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-linux-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(bytes: Uint8Array, profile: Profile, name: string): LinuxIntrospector {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return LinuxIntrospector.open(openMemory(path), { profile, ownMemory: true });
}

describe('Linux introspection on a synthetic guest', () => {
  it('finds the kernel at its KASLR slide and walks tasks and sockets', () => {
    const g = buildLinuxGuest(TASKS);
    const intro = open(g.bytes, new Profile('synthetic', g.profile), 'a.raw');
    try {
      const info = intro.info();
      expect(info.kaslrSlide).toBe(g.slide);
      expect(info.kernelBase).toBe(TEXT + g.slide);
      expect(info.dtb).toBe(g.physText + 0x2000n);
      const procs = intro.processes();
      expect(procs.problems).toEqual([]);
      expect(procs.items.map((p) => [p.pid, p.name, p.ppid, p.createTime])).toEqual([
        [100, 'webclient', 0, 5000],
        [101, 'resolver', 100, 7000],
      ]);
      expect(intro.connections().items.map((c) => [c.pid, c.proto, c.localAddress, c.localPort, c.remoteAddress, c.remotePort, c.state])).toEqual([
        [100, 'tcp', '10.0.0.2', 40000, '10.0.0.1', 443, 'ESTABLISHED'],
        [101, 'tcp', 'fd77::2', 50000, 'fd77::1', 8080, 'ESTABLISHED'],
      ]);
      expect(intro.sockets().items.map((s) => [s.pid, s.proto, s.family, s.localAddress, s.localPort])).toEqual([
        [101, 'udp', 6, '::', 53],
        [101, 'tcp', 4, '0.0.0.0', 22],
      ]);
      const tcp = intro.lookupConnection({ proto: 'tcp', family: 4, localAddress: '10.0.0.2', localPort: 40000, remoteAddress: '10.0.0.1', remotePort: 443 });
      expect([tcp?.pid, tcp?.process?.name, tcp?.answeredFrom]).toEqual([100, 'webclient', 'snapshot']);
      // Listening / unbound sockets answer for any peer, v4 traffic finds the v4 listener.
      expect(intro.lookupConnection({ proto: 'tcp', family: 4, localAddress: '10.0.0.2', localPort: 22, remoteAddress: '10.0.0.9', remotePort: 5555 })?.pid).toBe(101);
      expect(intro.lookupConnection({ proto: 'udp', family: 6, localAddress: 'FD77::2', localPort: 53, remoteAddress: 'fd77::9', remotePort: 5353 })?.pid).toBe(101);
      expect(intro.lookupConnection({ proto: 'udp', family: 4, localAddress: '10.0.0.2', localPort: 9, remoteAddress: '10.0.0.1', remotePort: 9 })).toBeUndefined();
    } finally {
      intro.close();
    }
  });

  it('stops at a cycle in the task list and reports it, keeping what it read', () => {
    const g = buildLinuxGuest(TASKS);
    g.link(1, 0);
    const intro = open(g.bytes, new Profile('synthetic', g.profile), 'cycle.raw');
    try {
      const procs = intro.processes();
      expect(procs.items.map((p) => p.pid)).toEqual([100, 101]);
      expect(procs.problems.map((p) => p.code)).toEqual(['CYCLE']);
      expect(intro.connections().items.length).toBe(2);
    } finally {
      intro.close();
    }
  });

  it('reads executable paths only for the processes asked for; cycles, bad pointers and reused tasks are problems', () => {
    const tasks: SyntheticTask[] = [
      { pid: 100, comm: 'webclient', startNs: 5_000_000_000n, sockets: [], exe: { path: '/usr/bin/webclient' } },
      { pid: 101, comm: 'resolver', startNs: 6_000_000_000n, sockets: [], exe: { path: '/usr/sbin/resolver', deleted: true } },
      { pid: 102, comm: 'looper', startNs: 7_000_000_000n, sockets: [], exe: { path: '/usr/bin/looper', cycle: true } },
      { pid: 103, comm: 'broken', startNs: 8_000_000_000n, sockets: [], exe: { path: '/x', badFile: true } },
      { pid: 104, comm: 'kworker', startNs: 9_000_000_000n, sockets: [] },
    ];
    const path = join(dir, 'exe.raw');
    const g = buildLinuxGuest(tasks);
    writeFileSync(path, g.bytes);
    const intro = LinuxIntrospector.open(openMemory({ kind: 'live-file', path }), { profile: new Profile('synthetic', g.profile), ownMemory: true });
    const paths = (items: GuestProcess[]) => items.map((p) => [p.pid, p.path]);
    try {
      const one = intro.processes({ paths: [100] });
      expect(one.problems).toEqual([]);
      expect(paths(one.items)).toEqual([[100, '/usr/bin/webclient'], [101, undefined], [102, undefined], [103, undefined], [104, undefined]]);
      const all = intro.processes({ paths: true });
      expect(paths(all.items)).toEqual([[100, '/usr/bin/webclient'], [101, '/usr/sbin/resolver (deleted)'], [102, undefined], [103, undefined], [104, undefined]]);
      expect(all.problems.filter((p) => p.walk === 'exe').map((p) => p.code).sort()).toEqual(['LIMIT', 'OUT_OF_RANGE']);
      // A new walk: cached paths come back, unreadable ones are tried (and reported) again.
      intro.refresh();
      expect(intro.processes().items.every((p) => p.path === undefined)).toBe(true);
      const again = intro.processes({ paths: true });
      expect(paths(again.items).slice(0, 2)).toEqual([[100, '/usr/bin/webclient'], [101, '/usr/sbin/resolver (deleted)']]);
      expect(again.problems.filter((p) => p.walk === 'exe').length).toBe(2);
    } finally {
      intro.close();
    }
    // After the walk, webclient's task_struct came to hold another process (same pid, later start): a path asked
    // for then is not taken from it.
    const fresh = LinuxIntrospector.open(openMemory({ kind: 'live-file', path }), { profile: new Profile('synthetic', g.profile), ownMemory: true });
    try {
      fresh.refresh();
      const reused = buildLinuxGuest(tasks.map((t) => (t.pid === 100 ? { ...t, startNs: 9_500_000_000n, exe: { path: '/tmp/other' } } : t)));
      const fd = openSync(path, 'r+');
      writeSync(fd, reused.bytes, 0, reused.bytes.length, 0);
      closeSync(fd);
      const stale = fresh.processes({ paths: [100] });
      expect(stale.items.find((p) => p.pid === 100)?.path).toBeUndefined();
      expect(stale.problems.map((p) => p.code)).toEqual(['STALE']);
    } finally {
      fresh.close();
    }
  });

  for (const embedded of [false, true]) {
    it(`attributes connections opened after the sweep by the cheapest stage that settles them (${embedded ? 'fd arrays in files_struct' : 'separate fdtables'})`, () => {
      const path = join(dir, `stages-${embedded}.raw`);
      writeFileSync(path, buildLinuxGuest(TASKS, { embedded }).bytes);
      const intro = LinuxIntrospector.open(openMemory({ kind: 'live-file', path }), {
        profile: new Profile('synthetic', buildLinuxGuest(TASKS, { embedded }).profile),
        ownMemory: true,
      });
      // The guest changes under the open mapping, as a running guest's RAM file does.
      const become = (tasks: SyntheticTask[], patch?: (bytes: Uint8Array) => void) => {
        const g = buildLinuxGuest(tasks, { embedded });
        patch?.(g.bytes);
        const fd = openSync(path, 'r+');
        writeSync(fd, g.bytes, 0, g.bytes.length, 0);
        closeSync(fd);
      };
      const tcp = (lport: number, rport: number, fd?: number): SyntheticSocket => ({ proto: 'tcp', family: 4, local: [10, 0, 0, 2], lport, remote: [10, 0, 0, 1], rport, state: 1, fd });
      const find = (s: SyntheticSocket) => {
        const before = intro.lookupStats();
        const owner = intro.lookupConnection({ proto: 'tcp', family: 4, localAddress: '10.0.0.2', localPort: s.lport, remoteAddress: '10.0.0.1', remotePort: s.rport });
        const after = intro.lookupStats();
        return [owner?.pid, owner?.process?.name, (Object.keys(after) as Array<keyof LinuxLookupStats>).find((k) => after[k] !== before[k])];
      };
      try {
        intro.refresh();
        // resolver is the last task: what it gains moves nothing else.
        const [web, resolver] = TASKS as [SyntheticTask, SyntheticTask];
        const added = tcp(41000, 80);
        become([web, { ...resolver, sockets: [...resolver.sockets, added] }]);
        expect(find(added)).toEqual([101, 'resolver', 'knownTables']);
        // Descriptor 2 (its IPv6 connection) closed and reopened on another socket.
        const reopened = tcp(41001, 80, 2);
        const grown = { ...resolver, sockets: [...resolver.sockets, added, reopened] };
        become([web, grown]);
        // resolver's table changed lately: it is looked at before the others.
        expect(find(reopened)).toEqual([101, 'resolver', 'hotTables']);
        // A task created since the sweep, appended to the task list.
        const late = tcp(41002, 80);
        become([web, grown, { pid: 102, comm: 'latecomer', startNs: 9_000_000_000n, sockets: [late] }]);
        expect(find(late)).toEqual([102, 'latecomer', 'newTasks']);
        // Objects the sweep saw, reused in place for another connection (a descriptor reopened on the struct file
        // just freed): in a table that changed lately they are re-read; elsewhere the sweep finds them.
        const moved = { ...added, rport: 81 };
        const webMoved = { ...web, sockets: [{ ...web.sockets[0]!, rport: 444 }] };
        const lateTask = { pid: 102, comm: 'latecomer', startNs: 9_000_000_000n, sockets: [late] };
        become([webMoved, { ...grown, sockets: [...resolver.sockets, moved, reopened] }, lateTask]);
        expect(find(moved)).toEqual([101, 'resolver', 'hotTables']);
        expect(find(tcp(40000, 444))).toEqual([100, 'webclient', 'sweeps']);
        // A hostile tail link: the new-task stage gives up, the sweep still answers.
        const later = tcp(41003, 80);
        become([webMoved, grown, lateTask, { pid: 103, comm: 'later', startNs: 9_500_000_000n, sockets: [later] }], (bytes) => {
          const initTask = new Profile('synthetic', buildLinuxGuest(TASKS).profile).requireSymbol('init_task');
          new DataView(bytes.buffer).setBigUint64(Number(initTask - TEXT + (8n << 20n)) + 0x18, 0x4141414141414141n, true);
        });
        expect(find(later)).toEqual([103, 'later', 'sweeps']);
        expect(find(tcp(41999, 80))).toEqual([undefined, undefined, 'sweeps']);
      } finally {
        intro.close();
      }
    });
  }

  it('says NOT_FOUND, naming why, when the memory holds no such kernel', () => {
    const g = buildLinuxGuest(TASKS);
    const other = new Profile('synthetic', { ...g.profile, metadata: { format: '6.2.0', linux: { banner: 'Linux version 9.9.9 (elsewhere)' } } });
    expect(() => open(g.bytes, other, 'b.raw')).toThrow(ParasightError);
    try {
      open(new Uint8Array(8 << 20), new Profile('synthetic', g.profile), 'zero.raw');
      expect.unreachable();
    } catch (e) {
      expect((e as ParasightError).code).toBe('NOT_FOUND');
      expect((e as Error).message).toMatch(/linux_banner is nowhere/);
    }
    // A banner without a consistent kernel behind it is rejected with the reason.
    const broken = buildLinuxGuest(TASKS);
    broken.bytes.fill(0, Number(broken.physText) + 0x80000, Number(broken.physText) + 0x81000);
    expect(() => open(broken.bytes, new Profile('synthetic', broken.profile), 'c.raw')).toThrow(/real_parent is not init_task/);
  });
});
