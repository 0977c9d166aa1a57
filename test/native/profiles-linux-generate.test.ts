// The vmlinux inside a bzImage, whatever the kernel compressed it with: zstd (Debian 6.12) and legacy LZ4 (Ubuntu)
// payloads built from their formats (test/fixtures/compress) behind a setup header; XZ and gzip are proven on the
// real lab kernels (test/lab/linux-profile.test.ts).
import { describe, expect, it } from 'vitest';
import { unpackKernel } from '../../src/profiles/linux/generate.js';
import { fakeBzImage, lz4Block, lz4Legacy, zstdFrame } from '../fixtures/compress/frames.js';

const elf = Uint8Array.from({ length: 1500 }, (_, i) => (i < 4 ? [0x7f, 0x45, 0x4c, 0x46][i]! : (i * 13) & 0xff));

describe('unpackKernel', () => {
  it('unpacks a zstd payload', () => {
    const image = fakeBzImage(zstdFrame([elf.subarray(0, 1000), elf.subarray(1000)]), elf.length);
    expect(Buffer.compare(unpackKernel(image, 'zstd-image'), elf)).toBe(0);
  });

  it('unpacks a legacy LZ4 payload', () => {
    const image = fakeBzImage(lz4Legacy([lz4Block(elf.subarray(0, elf.length - 5), 0, 0, elf.subarray(elf.length - 5))]), elf.length);
    expect(Buffer.compare(unpackKernel(image, 'lz4-image'), elf)).toBe(0);
  });

  it('says which compressions it knows when the payload is none of them', () => {
    const image = fakeBzImage(Uint8Array.from({ length: 800 }, (_, i) => (i * 7) & 0xff), 800);
    expect(() => unpackKernel(image, 'odd-image')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringMatching(/XZ, zstd, LZ4 or gzip/) }));
  });
});
