// Linux profile generation from each lab kernel's Debian image (6.1: XZ, kallsyms offsets before the names; 6.12:
// zstd, offsets after the token index, mm_struct wrapped in an anonymous struct): BTF struct layouts checked field by
// field against pahole (an independent BTF reader), kallsyms symbols checked against the image's sections and banner.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Elf64 } from '../../src/profiles/linux/elf.js';
import { generateLinuxProfile, parseSystemMap, unpackKernel } from '../../src/profiles/linux/generate.js';
import { Profile, parseIsf, serializeIsf, type IsfDocument } from '../../src/profiles/isf.js';
import { prepareLab, testedKernels, type LabInputs } from './prepare.mjs';

const havePahole = (() => {
  try {
    execFileSync('pahole', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * The members pahole prints for a struct with their offsets: top-level ones and those of anonymous structs/unions
 * (C reaches them by name; pahole prints their offsets from the outer struct). Members of named inner blocks and
 * bitfields (":bits") are left out.
 */
function paholeMembers(text: string): Array<{ name: string; offset: number }> {
  const frames: Array<Array<{ name: string; offset: number }>> = [[]];
  for (const line of text.split('\n').slice(1)) {
    if (/^\t+(struct|union)\s*\{\s*$/.test(line)) {
      frames.push([]);
      continue;
    }
    const close = /^\t+\}\s*(\w*)/.exec(line);
    if (close) {
      const inner = frames.pop()!;
      if (close[1] === '' || close[1] === '__attribute__') frames[frames.length - 1]!.push(...inner);
      continue;
    }
    const m = /^\t+[^\t\n{}][^;\n]*?[\s*](\w+)(?:\[[^\]]*\])*;\s+\/\*\s+(\d+)\s+\d+\s+\*\//.exec(line);
    if (m) frames[frames.length - 1]!.push({ name: m[1]!, offset: Number(m[2]) });
  }
  return frames[0]!;
}

function prepared(kernel: string): { inputs?: LabInputs; why?: string } {
  try {
    return { inputs: prepareLab({ download: false, kernel }) };
  } catch (e) {
    return { why: (e as Error).message };
  }
}

describe.each(testedKernels().map((k) => ({ kernel: k.name, ...prepared(k.name) })))('Linux profile from the lab kernel $kernel', ({ inputs, why }) => {
  if (why !== undefined) {
    it.skip(`skipped: ${why}`, () => undefined);
    return;
  }
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
    const profile = new Profile('gen', doc);
    const structs = ['task_struct', 'mm_struct', 'vm_area_struct', 'files_struct', 'fdtable', 'file', 'inode', 'dentry',
      'mount', 'socket', 'sock', 'sock_common', 'maple_range_64', 'maple_arange_64'];
    for (const struct of structs) {
      const text = execFileSync('pahole', ['-F', 'btf', '-C', struct, vmlinux], { encoding: 'utf8' });
      const size = /\/\* size: (\d+)/.exec(text)?.[1];
      expect(doc.user_types[struct]!.size, `${struct} size`).toBe(Number(size));
      const members = paholeMembers(text);
      // Every member, wherever BTF nests it, resolves by name through the profile to pahole's offset.
      for (const m of members) expect(profile.offset(struct, m.name), `${struct}.${m.name}`).toBe(m.offset);
      expect(members.length, `${struct}: members compared`).toBeGreaterThan(2);
      total += members.length;
    }
    expect(total).toBeGreaterThan(300);
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
