// Linux introspection on a nokaslr guest with plain anonymous RAM (the way stock libvirt guests run), read through
// the QEMU process, and on an ELF core the same QEMU writes with dump-guest-memory (via QMP); once per lab kernel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemory } from '../../src/memory/open.js';
import { QmpClient } from '../../src/memory/qmp.js';
import { LinuxIntrospector } from '../../src/introspect/linux/introspector.js';
import { openIntrospector } from '../../src/introspect/open.js';
import type { Memory } from '../../src/memory/memory.js';
import type { Profile } from '../../src/profiles/isf.js';
import { startLab, type Lab } from './lab.mjs';
import { expectSameAsGuest, guestSlide, labKernels, labProfile, openMix } from './linux-helpers.js';

for (const { kernel, why } of labKernels()) {
  describe.skipIf(why !== undefined)(`Linux ${kernel} guest without KASLR, anonymous RAM, and its ELF core${why ? ` (skipped: ${why})` : ''}`, () => {
    let lab: Lab;
    let profile: Profile;
    let mem: Memory;
    let intro: LinuxIntrospector;
    let dir: string;
    beforeAll(async () => {
      profile = labProfile(kernel);
      lab = await startLab({ memory: 'anon', kaslr: false, kernel });
      await openMix(lab, 'n');
      mem = await openMemory({ kind: 'qemu-process', pid: lab.pid!, qmp: lab.qmpPath });
      intro = LinuxIntrospector.open(mem, { profile });
      dir = mkdtempSync(join(tmpdir(), 'parasight-core-'));
    });
    afterAll(async () => {
      intro?.close();
      mem?.close();
      await lab?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('reads the running guest through the QEMU process: slide 0, owners as the guest names them', async () => {
      expect(mem.kind).toMatch(/^qemu-/);
      expect(intro.info().kaslrSlide).toBe(0n);
      expect(await guestSlide(lab, profile)).toBe(0n);
      expectSameAsGuest(intro, await lab.truth());
    });

    it('attributes a new connection and a killed process through the QEMU process', async () => {
      intro.refresh();
      const p = await lab.spawn(['netprog', 'udp-connect', lab.hostV6, String(lab.peerPort)], { as: 'lateudp' });
      const owner = intro.lookupConnection({
        proto: 'udp', family: 6, localAddress: lab.guestV6, localPort: p.localPort!, remoteAddress: lab.hostV6, remotePort: lab.peerPort,
      });
      expect(owner?.pid).toBe(p.pid);
      expect(owner?.process?.name).toBe('lateudp');
      await lab.kill(p.pid);
      intro.refresh();
      expect(intro.processes().items.some((x) => x.pid === p.pid)).toBe(false);
    });

    it('gives the same answers on an ELF core written by dump-guest-memory', async () => {
      const truth = await lab.truth();
      const core = join(dir, 'guest.elf');
      const qmp = await QmpClient.connect(lab.qmpPath, { timeoutMs: 60_000 });
      try {
        await qmp.execute('dump-guest-memory', { paging: false, protocol: `file:${core}` });
      } finally {
        qmp.close();
      }
      const fromCore = openIntrospector(core, { profile: profile.name });
      try {
        expect(fromCore.info().os).toBe('linux');
        expect(fromCore.info().kaslrSlide).toBe(0n);
        expectSameAsGuest(fromCore, truth);
      } finally {
        fromCore.close();
      }
    });
  });
}
