// Linux introspection on a live KASLR guest whose RAM is a shared file, once per lab kernel: the kernel is found
// without `nokaslr`, every connection the guest reports gets the owner the guest names, new connections and
// processes are seen, and the same holds through the QEMU process source.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemory } from '../../src/memory/open.js';
import { LinuxIntrospector } from '../../src/introspect/linux/introspector.js';
import { openIntrospector } from '../../src/introspect/open.js';
import type { Profile } from '../../src/profiles/isf.js';
import { startLab, type Lab } from './lab.mjs';
import { askForMore, attributeNew, expectSameAsGuest, guestSlide, labKernels, labProfile, openMix } from './linux-helpers.js';

for (const { kernel, why } of labKernels()) {
  describe.skipIf(why !== undefined)(`Linux ${kernel} guest with KASLR, RAM in a shared file${why ? ` (skipped: ${why})` : ''}`, () => {
    let lab: Lab;
    let profile: Profile;
    let intro: LinuxIntrospector;
    beforeAll(async () => {
      profile = labProfile(kernel);
      lab = await startLab({ memory: 'shm', kaslr: true, kernel });
      await openMix(lab, 'k');
      intro = LinuxIntrospector.open(openMemory({ kind: 'live-file', path: lab.ramPath! }), { profile, ownMemory: true });
    });
    afterAll(async () => {
      intro?.close();
      await lab?.stop();
    });

    it('finds the kernel by itself: the KASLR slide equals what the guest reports', async () => {
      const info = intro.info();
      expect(info.os).toBe('linux');
      expect(info.version).toBe(lab.kernelVersion);
      expect(info.kaslrSlide).toBe(await guestSlide(lab, profile));
      expect(info.kernelBase).toBe(profile.requireSymbol('_text') + info.kaslrSlide!);
    });

    it('names the owner the guest names for every TCP/UDP v4/v6 socket', async () => {
      const truth = await lab.truth();
      intro.refresh();
      expect(truth.sockets.length).toBeGreaterThanOrEqual(8);
      expectSameAsGuest(intro, truth);
    });

    it('attributes a connection opened after the snapshot within one refresh', async () => {
      intro.refresh();
      const p = await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, String(lab.peerPort)], { as: 'latecomer' });
      const owner = intro.lookupConnection({
        proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: p.localPort!, remoteAddress: lab.hostV4, remotePort: lab.peerPort,
      });
      expect(owner?.answeredFrom).toBe('refresh');
      expect(owner?.pid).toBe(p.pid);
      expect(owner?.process?.name).toBe('latecomer');
      // Now in the snapshot: the next lookup needs no walk.
      const again = intro.lookupConnection({
        proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: p.localPort!, remoteAddress: lab.hostV4, remotePort: lab.peerPort,
      });
      expect(again?.answeredFrom).toBe('snapshot');
      expect(intro.lookupConnection({
        proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: 1, remoteAddress: lab.hostV4, remotePort: 2,
      })).toBeUndefined();
    });

    it('attributes new connections of running processes from their changed fd tables: new, reused descriptor, thread', async () => {
      // The fd table layout (files_struct's embedded bitmap and array) differs per kernel; the stage proves which path answered.
      const fresh = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, String(lab.peerPort), 'new'], { as: 'morenew' });
      const reuse = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, String(lab.peerPort), 'reuse'], { as: 'morereuse' });
      const thread = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, String(lab.peerPort), 'thread'], { as: 'morethread' });
      intro.refresh();
      const fd = (p: { output: string }) => Number(/^ok \d+ (\d+)/.exec(p.output)![1]);
      const a = await askForMore(lab, fresh, 2);
      expect(a.fd).toBe(fd(fresh) + 1);
      expect(attributeNew(intro, lab, a.port)).toEqual({ pid: fresh.pid, name: 'morenew', stage: 'knownTables' });
      const b = await askForMore(lab, reuse, 2);
      expect(b.fd).toBe(fd(reuse));
      expect(attributeNew(intro, lab, b.port)).toEqual({ pid: reuse.pid, name: 'morereuse', stage: 'knownTables' });
      const c = await askForMore(lab, thread, 2);
      expect(attributeNew(intro, lab, c.port)).toEqual({ pid: thread.pid, name: 'morethread', stage: 'knownTables' });
    });

    it('sees processes started and killed, with parent and name', async () => {
      const p = await lab.spawn(['netprog', 'udp-bind', '6000', '6'], { as: 'shortlived' });
      intro.refresh();
      const seen = intro.processes().items.find((x) => x.pid === p.pid);
      expect(seen?.name).toBe('shortlived');
      const truth = await lab.truth();
      expect(seen?.ppid).toBe(truth.processes.find((x) => x.pid === p.pid)?.ppid);
      await lab.kill(p.pid);
      intro.refresh();
      expect(intro.processes().items.some((x) => x.pid === p.pid)).toBe(false);
      // Every user process the guest lists is in the task list (kernel threads included).
      const ours = new Set(intro.processes().items.map((x) => x.pid));
      const after = await lab.truth();
      intro.refresh();
      const again = new Set(intro.processes().items.map((x) => x.pid));
      for (const t of after.processes.filter((x) => x.comm !== 'truth')) expect(ours.has(t.pid) || again.has(t.pid), `pid ${t.pid} ${t.comm}`).toBe(true);
    });

    it('gives the same answers through the QEMU process source and openIntrospector', async () => {
      const mem = await openMemory({ kind: 'qemu-process', pid: lab.pid!, qmp: lab.qmpPath });
      const viaProcess = openIntrospector(mem, { profile: profile.name });
      try {
        expect(viaProcess.info().kaslrSlide).toBe(intro.info().kaslrSlide);
        expectSameAsGuest(viaProcess, await lab.truth());
      } finally {
        viaProcess.close();
        mem.close();
      }
    });
  });
}
