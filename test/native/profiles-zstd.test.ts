// zstd decompression through the addon (kernel images built with CONFIG_KERNEL_ZSTD), on frames built byte by byte
// from the format (test/fixtures/compress), so the input is exact and needs no tool.
import { describe, expect, it } from 'vitest';
import { codecAt, decompress } from '../../src/profiles/compressed.js';
import { zstdFrame as frame } from '../fixtures/compress/frames.js';

const content = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('decompress: zstd', () => {
  const a = content(700, 1);
  const b = content(500, 7);
  const data = frame([a, b]);

  it('decodes a frame of several blocks and ignores what follows it', () => {
    expect(codecAt(data)).toBe('zstd');
    expect(codecAt(data, 1)).toBeUndefined();
    const withTail = Uint8Array.from([...data, 0x00, 0x10, 0x00, 0x00, 0xde, 0xad]);
    const out = decompress('zstd', withTail);
    expect(out.length).toBe(1200);
    expect(Buffer.compare(out, Buffer.concat([a, b]))).toBe(0);
  });

  it('reports truncated and corrupt input as FORMAT with the input offset, and a too small limit as LIMIT', () => {
    expect(() => decompress('zstd', data.subarray(0, data.length - 100))).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/truncated/) }));
    const bad = Uint8Array.from(data);
    bad[7] = (bad[7]! & ~0x06) | (3 << 1);  // first block type 3: reserved
    expect(() => decompress('zstd', bad)).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/corrupt/) }));
    expect(() => decompress('zstd', data, 1000)).toThrow(expect.objectContaining({ code: 'LIMIT' }));
    expect(() => decompress('zstd', Uint8Array.from([0x28, 0xb5]))).toThrow(expect.objectContaining({ code: 'FORMAT' }));
    expect(() => decompress('zstd', 'x' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});
