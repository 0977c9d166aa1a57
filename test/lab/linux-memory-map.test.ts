// Memory maps of Linux guest processes read from outside (maple tree of VMAs, dentry paths across mounts) compared
// with the guest's own /proc/PID/maps, on a KASLR guest of each lab kernel: ranges, permissions, offsets, inodes and
// names, including a file unlinked after mmap, a memfd and a program on a mounted file system; and executable paths
// against the guest's readlink /proc/PID/exe.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaselineDetector } from '../../src/baseline/detector.js';
import { GuestMapSource } from '../../src/baseline/guest.js';
import { BaselineStore } from '../../src/baseline/store.js';
import { openMemory } from '../../src/memory/open.js';
import { LinuxIntrospector } from '../../src/introspect/linux/introspector.js';
import type { MemoryMapEntry } from '../../src/introspect/types.js';
import { startLab, type Lab } from './lab.mjs';
import { labKernels, labProfile } from './linux-helpers.js';

/** One /proc/PID/maps line in a form both sides produce: "start-end perms offset inode path". */
function guestLines(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    out.push(`${BigInt(`0x${m[1]}`).toString(16)}-${BigInt(`0x${m[2]}`).toString(16)} ${m[3]} ${BigInt(`0x${m[4]}`).toString(16)} ${m[5]} ${m[6]}`);
  }
  return out;
}

function ourLines(items: MemoryMapEntry[]): string[] {
  return items.map((e) => {
    const offset = e.kind === 'file' ? (e.offset ?? 0n) : 0n;
    return `${e.start.toString(16)}-${e.end.toString(16)} ${e.perms}${e.shared ? 's' : 'p'} ${offset.toString(16)} ${e.inode ?? 0n} ${e.path ?? ''}`;
  });
}

for (const { kernel, why } of labKernels()) {
  describe.skipIf(why !== undefined)(`Linux ${kernel} guest memory maps${why ? ` (skipped: ${why})` : ''}`, () => {
    let lab: Lab;
    let intro: LinuxIntrospector;
    let mapper: number;
    let listener: number;
    let mounted: number;
    let deleted: number;
    beforeAll(async () => {
      const profile = labProfile(kernel);
      lab = await startLab({ memory: 'shm', kaslr: true, kernel });
      mapper = (await lab.spawn(['netprog', 'maps', 'psmap'], { as: 'mapper' })).pid;
      listener = (await lab.spawn(['netprog', 'tcp-listen', '8081', '6'], { as: 'mlisten' })).pid;
      // A program run from a tmpfs mounted below a directory: its path crosses a mount.
      await lab.run('mkdir -p /mnt/deep/t && mount -t tmpfs lab /mnt/deep/t && mkdir /mnt/deep/t/sub && cp /bin/netprog /mnt/deep/t/sub/mnetprog');
      mounted = (await lab.spawn(['/mnt/deep/t/sub/mnetprog', 'udp-bind', '5454', '4'])).pid;
      // A program whose file was removed while it runs: /proc/PID/exe says "(deleted)".
      await lab.run('cp /bin/netprog /tmp/gonebin');
      deleted = (await lab.spawn(['/tmp/gonebin', 'udp-bind', '5455', '4'])).pid;
      await lab.run('rm /tmp/gonebin');
      intro = LinuxIntrospector.open(openMemory({ kind: 'live-file', path: lab.ramPath! }), { profile, ownMemory: true });
    });
    afterAll(async () => {
      intro?.close();
      await lab?.stop();
    });

    it('reads the same maps as the guest shows for several processes', async () => {
      const pids = [1, mapper, listener, mounted];
      for (const pid of pids) {
        const guest = guestLines(await lab.run(`cat /proc/${pid}/maps`));
        const ours = intro.memoryMap(pid);
        expect(ours.problems, `pid ${pid}`).toEqual([]);
        expect(guest.length, `pid ${pid} has mappings`).toBeGreaterThan(3);
        expect(ourLines(ours.items), `pid ${pid}`).toEqual(guest);
      }
    });

    it('names deleted files, memfds, heap, stack and vdso as the guest does', () => {
      const paths = intro.memoryMap(mapper).items.map((e) => e.path ?? '');
      expect(paths).toContain('/tmp/psmap.dat (deleted)');
      expect(paths).toContain('/memfd:psmap (deleted)');
      expect(paths).toContain('[stack]');
      expect(paths).toContain('[vdso]');
      expect(paths.some((p) => p.endsWith('/netprog') || p.endsWith('/mapper'))).toBe(true);
      const memfd = intro.memoryMap(mapper).items.find((e) => e.path === '/memfd:psmap (deleted)');
      expect(memfd?.shared).toBe(true);
      expect(memfd?.perms).toBe('rw-');
      expect(intro.memoryMap(mounted).items.some((e) => e.path === '/mnt/deep/t/sub/mnetprog')).toBe(true);
    });

    it('reads executable paths (mm->exe_file) as the guest\'s readlink /proc/PID/exe prints them', async () => {
      intro.refresh();
      const pids = [1, mapper, listener, mounted, deleted];
      const guest = new Map<number, string>();
      for (const pid of pids) guest.set(pid, (await lab.run(`readlink /proc/${pid}/exe`)).trim());
      // Through a symlink (/tmp/mapper -> /bin/netprog) the kernel executed, and names, the target.
      expect(guest.get(mapper)).toBe('/bin/netprog');
      expect(guest.get(deleted)).toBe('/tmp/gonebin (deleted)');
      for (const pid of pids) {
        const r = intro.processes({ paths: [pid] });
        expect(r.problems, `pid ${pid}`).toEqual([]);
        expect(r.items.find((p) => p.pid === pid)?.path, `pid ${pid}`).toBe(guest.get(pid));
      }
      // Only the processes asked for are read: one started just now was not.
      const late = (await lab.spawn(['netprog', 'udp-bind', '5456', '4'])).pid;
      intro.refresh();
      const some = intro.processes({ paths: [mapper] }).items;
      expect(some.find((p) => p.pid === late)).toBeDefined();
      expect(some.find((p) => p.pid === late)?.path).toBeUndefined();
      // All at once: the same paths, and none for kernel threads.
      const all = intro.processes({ paths: true });
      expect(all.problems).toEqual([]);
      for (const pid of pids) expect(all.items.find((p) => p.pid === pid)?.path).toBe(guest.get(pid));
      expect(all.items.find((p) => p.pid === late)?.path).toBe('/bin/netprog');
      expect(all.items.find((p) => p.pid === 2)?.path).toBeUndefined();
      // A fresh walk does not read paths by itself; asked again, they come from the cache (per pid and create time).
      intro.refresh();
      expect(intro.processes().items.find((p) => p.pid === mapper)?.path).toBeUndefined();
      expect(intro.processes({ paths: [mapper] }).items.find((p) => p.pid === mapper)?.path).toBe('/bin/netprog');
      await lab.kill(late);
    });

    it('reports an unknown pid as a problem, and kernel threads have no map', () => {
      const none = intro.memoryMap(999999);
      expect(none.items).toEqual([]);
      expect(none.problems[0]?.code).toBe('NOT_FOUND');
      const kthreadd = intro.memoryMap(2);
      expect(kthreadd.items).toEqual([]);
      expect(kthreadd.problems).toEqual([]);
    });

    it('baseline guest mode: a process started with an LD_PRELOADed library, and a running one injected with ptrace, show the extra library', async () => {
      const clean = (await lab.spawn(['netprog', 'udp-bind', '6001', '4'], { as: 'bsvc' })).pid;
      const injected = (await lab.spawn(['env', 'LD_PRELOAD=/bin/beacon.so', '/tmp/bsvc', 'udp-bind', '6002', '4'])).pid;
      intro.refresh();
      const dir = mkdtempSync(join(tmpdir(), 'parasight-bl-linux-'));
      const store = new BaselineStore(join(dir, 'b.db'));
      try {
        const d = await BaselineDetector.create({ store, source: new GuestMapSource(intro, { vm: 'linux-lab' }) });
        const rec = await d.record({ pid: clean });
        expect(rec[0]!.stored.record.feature.paths).toContain('/lib/x86_64-linux-gnu/libc.so.6');
        const again = await d.check({ pid: clean });
        expect(again[0]!.comparison.findings).toEqual([]);
        const [r] = await d.check({ pid: injected });
        expect(r!.comparison.findings.map((f) => `${f.kind}:${f.path}`)).toEqual(['extra:/bin/beacon.so']);
        // The recorded process itself, still running, gets a library injected with ptrace (from inside the guest).
        expect(await lab.run(`/bin/injector ${clean} /bin/parasite.so`)).toMatch(/handle=0x[0-9a-f]+/);
        expect(await lab.run(`grep -c /bin/parasite.so /proc/${clean}/maps`)).not.toMatch(/^0/);
        intro.refresh();
        const [late] = await d.check({ pid: clean });
        // Both traces of the injection: the library, and the anonymous executable page the injector mapped for its
        // trampoline.
        expect(late!.comparison.findings.map((f) => `${f.kind}:${f.path ?? ''}`).sort()).toEqual(['anon-exec:', 'extra:/bin/parasite.so']);
      } finally {
        store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
