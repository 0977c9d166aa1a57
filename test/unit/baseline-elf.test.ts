import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileIsElf, readBuildId } from '../../src/baseline/elf.js';

/** What binutils says the build-id is: the reference our parser must agree with. */
function readelfBuildId(path: string): string | undefined {
  const out = execFileSync('readelf', ['-n', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return /Build ID: ([0-9a-f]+)/.exec(out)?.[1];
}

describe('ELF build-id', () => {
  it('matches readelf for the node executable and libc', () => {
    for (const p of [process.execPath, '/usr/lib/x86_64-linux-gnu/libc.so.6']) {
      const expected = readelfBuildId(p);
      expect(expected).toBeDefined();
      expect(readBuildId(p)).toBe(expected);
    }
  });

  it('reads an id gcc was told to use, and none when the linker wrote none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'elf-'));
    try {
      writeFileSync(join(dir, 'm.c'), 'int main(void){return 0;}\n');
      execFileSync('gcc', ['-o', join(dir, 'a'), join(dir, 'm.c'), '-Wl,--build-id=0x00112233445566778899aabbccddeeff01234567']);
      execFileSync('gcc', ['-o', join(dir, 'b'), join(dir, 'm.c'), '-Wl,--build-id=none']);
      expect(readBuildId(join(dir, 'a'))).toBe('00112233445566778899aabbccddeeff01234567');
      expect(readBuildId(join(dir, 'b'))).toBeUndefined();
      expect(fileIsElf(join(dir, 'b'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says no for non-ELF, truncated and missing files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'elf-'));
    try {
      writeFileSync(join(dir, 'text'), 'hello world, not an ELF file at all');
      writeFileSync(join(dir, 'trunc'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]));
      expect(fileIsElf(join(dir, 'text'))).toBe(false);
      expect(readBuildId(join(dir, 'text'))).toBeUndefined();
      expect(fileIsElf(join(dir, 'trunc'))).toBe(true);
      expect(readBuildId(join(dir, 'trunc'))).toBeUndefined();
      expect(readBuildId(join(dir, 'missing'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
