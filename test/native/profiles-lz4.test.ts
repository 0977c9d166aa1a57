// Legacy LZ4 decompression through the addon (kernel images built with CONFIG_KERNEL_LZ4, e.g. Ubuntu's), on streams
// built byte by byte from the block format (test/fixtures/compress): a full 8 MiB block, a short last block, and what
// a bzImage puts after the stream.
import { describe, expect, it } from 'vitest';
import { codecAt, decompress } from '../../src/profiles/compressed.js';
import { lz4Block, lz4Legacy } from '../fixtures/compress/frames.js';

const BLOCK = 8 << 20;
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('decompress: LZ4 legacy frame', () => {
  // Block 1: "abcd" repeated to exactly 8 MiB; block 2 (short, the last): literals and a shorter repeat.
  const full = lz4Block(bytes('abcd'), 4, BLOCK - 4 - 8, bytes('tail-end'));
  const last = lz4Block(bytes('0123456789ABCDEFxyz'), 3, 40, bytes('.done'));
  const stream = lz4Legacy([full, last]);

  it('decodes a full block and a short last block, and ignores what follows the stream', () => {
    expect(codecAt(stream)).toBe('lz4-legacy');
    const withTail = Uint8Array.from([...stream, 0x00, 0x00, 0x90, 0x03, 0xcc, 0xcc, 0xcc, 0xcc]);
    const out = decompress('lz4-legacy', withTail);
    expect(out.length).toBe(BLOCK + 19 + 40 + 5);
    expect(out.subarray(0, 12).toString('latin1')).toBe('abcdabcdabcd');
    expect(out.subarray(BLOCK - 8, BLOCK).toString('latin1')).toBe('tail-end');
    expect(out.subarray(BLOCK).toString('latin1')).toBe(`0123456789ABCDEFxyz${'xyz'.repeat(14).slice(0, 40)}.done`);
  });

  it('reports a wrong magic, truncation, a corrupt block and a too small limit, with the input offset', () => {
    expect(() => decompress('lz4-legacy', bytes('nope'))).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/magic/) }));
    expect(() => decompress('lz4-legacy', stream.subarray(0, 4 + 4 + full.length + 4 + 3))).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/truncated/) }));
    const bad = Uint8Array.from(stream);
    bad[4 + 4 + 4 + 1] = 0xff;  // the match offset of block 1 now points before the output's start
    expect(() => decompress('lz4-legacy', bad)).toThrow(expect.objectContaining({ code: 'FORMAT', message: expect.stringMatching(/corrupt/) }));
    expect(() => decompress('lz4-legacy', stream, 1 << 20)).toThrow(expect.objectContaining({ code: 'LIMIT' }));
    expect(() => decompress('lz4-legacy', lz4Legacy([new Uint8Array(0)]))).toThrow(expect.objectContaining({ code: 'FORMAT' }));
  });
});
