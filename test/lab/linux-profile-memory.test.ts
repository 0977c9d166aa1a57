// Profiles built from guest memory alone (the running kernel's own BTF and kallsyms), with and without KASLR, on
// each lab kernel:
// the same layouts as the profile generated from the kernel image, symbols at the running kernel's addresses, and
// `parasight analyze` with no profile gives the same processes and sockets as with the file profile.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { analyze } from '../../src/cli/commands/analyze.js';
import { openMemory } from '../../src/memory/open.js';
import type { Memory } from '../../src/memory/memory.js';
import { LinuxIntrospector } from '../../src/introspect/linux/introspector.js';
import { openIntrospector } from '../../src/introspect/open.js';
import { Profile } from '../../src/profiles/isf.js';
import { linuxProfileFromMemory } from '../../src/profiles/linux/from-memory.js';
import { startLab, type Lab } from './lab.mjs';
import { expectSameAsGuest, guestSlide, labKernels, labProfile, openMix } from './linux-helpers.js';

async function analyzeJson(args: string[]): Promise<{ processes: Array<{ pid: number; name: string }>; connections: unknown[]; sockets: unknown[] }> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((x: string | Uint8Array) => (out.push(String(x)), true));
  try {
    expect(await analyze.run([...args, '--json'])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(out.join('')) as never;
}

function expectSameLayouts(fromMemory: Profile, fromFile: Profile): void {
  for (const t of ['task_struct', 'mm_struct', 'vm_area_struct', 'file', 'dentry', 'socket', 'sock', 'sock_common', 'maple_range_64']) {
    expect(fromMemory.doc.user_types[t], t).toEqual(fromFile.doc.user_types[t]);
  }
}

for (const { kernel, why } of labKernels()) {
  describe.skipIf(why !== undefined)(`Linux ${kernel} profile from guest memory, KASLR guest${why ? ` (skipped: ${why})` : ''}`, () => {
    let lab: Lab;
    let file: Profile;
    beforeAll(async () => {
      file = labProfile(kernel);
      lab = await startLab({ memory: 'shm', kaslr: true, kernel });
      await openMix(lab, 'p');
    });
    afterAll(async () => {
      await lab?.stop();
    });

    it('has the image profile\'s layouts and banner, and symbols where the running kernel has them', async () => {
      const mem = openMemory({ kind: 'live-file', path: lab.ramPath! });
      try {
        const { doc } = linuxProfileFromMemory(mem);
        const p = new Profile('memory', doc);
        expectSameLayouts(p, file);
        expect((doc.metadata.linux as { banner: string }).banner).toBe((file.doc.metadata.linux as { banner: string }).banner);
        const slide = await guestSlide(lab, file);
        expect(slide).not.toBe(0n);
        for (const s of ['_text', 'init_task', 'init_top_pgt', 'linux_banner', 'socket_file_ops', 'special_mapping_vmops']) {
          expect(p.symbol(s), s).toBe(file.requireSymbol(s) + slide);
        }
      } finally {
        mem.close();
      }
    });

    it('analyze with no profile lists the same processes, connections and sockets as with the file profile', async () => {
      const withFile = await analyzeJson(['--memory', lab.ramPath!, '--profile', file.name]);
      const alone = await analyzeJson(['--memory', lab.ramPath!]);
      expect(alone.processes.map((p) => `${p.pid} ${p.name}`)).toEqual(withFile.processes.map((p) => `${p.pid} ${p.name}`));
      expect(withFile.connections.length).toBeGreaterThan(3);
      expect(alone.connections).toEqual(withFile.connections);
      expect(alone.sockets).toEqual(withFile.sockets);
      const intro = openIntrospector(lab.ramPath!);
      try {
        expect(intro.info().kaslrSlide).toBe(0n);  // the profile already carries this boot's addresses
        expectSameAsGuest(intro, await lab.truth());
      } finally {
        intro.close();
      }
    });
  });

  describe.skipIf(why !== undefined)(`Linux ${kernel} profile from guest memory, nokaslr guest through the QEMU process${why ? ` (skipped: ${why})` : ''}`, () => {
    let lab: Lab;
    let mem: Memory;
    beforeAll(async () => {
      lab = await startLab({ memory: 'anon', kaslr: false, kernel });
      await openMix(lab, 'q');
      mem = await openMemory({ kind: 'qemu-process', pid: lab.pid!, qmp: lab.qmpPath });
    });
    afterAll(async () => {
      mem?.close();
      await lab?.stop();
    });

    it('builds the profile and introspects with it: owners as the guest names them', async () => {
      const file = labProfile(kernel);
      const p = new Profile('memory', linuxProfileFromMemory(mem).doc);
      expectSameLayouts(p, file);
      expect(p.symbol('init_task')).toBe(file.requireSymbol('init_task'));
      const intro = LinuxIntrospector.open(mem, { profile: p });
      try {
        expectSameAsGuest(intro, await lab.truth());
      } finally {
        intro.close();
      }
    });

    it('analyze with no profile, through the QEMU process, lists what it lists with the file profile', async () => {
      const spec = `qemu:${lab.pid!},qmp=${lab.qmpPath}`;
      const withFile = await analyzeJson(['--memory', spec, '--profile', labProfile(kernel).name]);
      const alone = await analyzeJson(['--memory', spec]);
      expect(alone.processes.map((p) => `${p.pid} ${p.name}`)).toEqual(withFile.processes.map((p) => `${p.pid} ${p.name}`));
      expect(withFile.connections.length).toBeGreaterThan(3);
      expect(alone.connections).toEqual(withFile.connections);
      expect(alone.sockets).toEqual(withFile.sockets);
    });
  });
}
