// Linux profile generation from the lab's Debian kernel image: BTF struct layouts checked field by field against
// pahole (an independent BTF reader), kallsyms symbols checked against the image's own sections and banner.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Elf64 } from '../../src/profiles/linux/elf.js';
import { generateLinuxProfile, parseSystemMap, unpackKernel } from '../../src/profiles/linux/generate.js';
import { Profile, parseIsf, serializeIsf, type IsfDocument } from '../../src/profiles/isf.js';
import { prepareLab, type LabInputs } from './prepare.mjs';

let inputs: LabInputs | undefined;
let why: string | undefined;
try {
  inputs = prepareLab({ download: false });
} catch (e) {
  why = (e as Error).message;
}
const havePahole = (() => {
  try {
    execFileSync('pahole', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(why !== undefined)(`Linux profile from the lab kernel${why ? ` (skipped: ${why})` : ''}`, () => {
  let image: Buffer;
  let doc: IsfDocument;
  let dir: string;
  let vmlinux: string;
  beforeAll(() => {
    image = readFileSync(inputs!.vmlinuz);
    doc = generateLinuxProfile(image, { origin: 'vmlinuz' });
    dir = mkdtempSync(join(tmpdir(), 'parasight-profile-'));
    vmlinux = join(dir, 'vmlinux');
    writeFileSync(vmlinux, unpackKernel(image, 'vmlinuz'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!havePahole)('struct layouts equal pahole, field by field', () => {
    let total = 0;
    for (const struct of ['task_struct', 'mm_struct', 'files_struct', 'fdtable', 'file', 'inode', 'socket', 'sock', 'sock_common']) {
      const text = execFileSync('pahole', ['-F', 'btf', '-C', struct, vmlinux], { encoding: 'utf8' });
      const ours = doc.user_types[struct]!;
      const size = /\/\* size: (\d+)/.exec(text)?.[1];
      expect(ours.size, `${struct} size`).toBe(Number(size));
      let compared = 0;
      // Top-level named members only (one tab of indentation); bitfields carry ":bits" and are skipped.
      for (const m of text.matchAll(/^\t[^\t\n][^;\n]*?[\s*](\w+)(?:\[[^\]]*\])*;\s+\/\*\s+(\d+)\s+\d+\s+\*\//gm)) {
        const field = ours.fields[m[1]!];
        expect(field, `${struct}.${m[1]} present`).toBeDefined();
        expect(field!.offset, `${struct}.${m[1]}`).toBe(Number(m[2]));
        compared++;
      }
      expect(compared, `${struct}: members compared`).toBeGreaterThan(0);
      total += compared;
    }
    expect(total).toBeGreaterThan(100);
  });

  it('finds the kallsyms tables by structure: _text on .text, the banner names the package kernel', () => {
    const elf = new Elf64(unpackKernel(image, 'vmlinuz'), 'vmlinuz');
    expect(doc.symbols._text!.address).toBe(elf.section('.text')!.address);
    expect(doc.symbols.init_top_pgt!.address).toBeGreaterThanOrEqual(elf.section('.data')!.address);
    const linux = doc.metadata.linux as { banner: string; release: string };
    expect(linux.banner).toMatch(/^Linux version /);
    expect(linux.release).toBe(inputs!.version);
    expect(Object.keys(doc.symbols).length).toBeGreaterThan(10_000);
    for (const name of ['init_task', 'page_offset_base', 'phys_base', 'linux_banner', 'socket_file_ops', 'init_net']) {
      expect(doc.symbols[name], name).toBeDefined();
    }
  });

  it('round-trips through the ISF loader with exact addresses and dotted offsets', () => {
    const p = new Profile('gen', parseIsf(serializeIsf(doc), 'gen'));
    expect(p.os).toBe('linux');
    expect(p.requireSymbol('init_task')).toBe(doc.symbols.init_task!.address);
    expect(p.offset('sock', '__sk_common.skc_num')).toBe(p.offset('sock_common', 'skc_num'));
    expect(p.offset('task_struct', 'tasks')).toBe(doc.user_types.task_struct!.fields.tasks!.offset);
  });

  it('takes symbols from a System.map when given, and rejects the Debian stub', () => {
    const map = `ffffffff81000000 T _text\nffffffff82a1aa40 D init_task\n`;
    const fromMap = generateLinuxProfile(image, { origin: 'vmlinuz', systemMap: map });
    expect(Object.keys(fromMap.symbols)).toEqual(['_text', 'init_task']);
    expect(() => parseSystemMap('ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n', 'stub'))
      .not.toThrow();
    expect(() => parseSystemMap('The real System.map is in the linux-image-dbg package\n', 'stub')).toThrow(/no symbols/);
  });
});
