/** LZ4 decompression through the addon (liblz4), legacy frame format: kernel images built with CONFIG_KERNEL_LZ4. */
import { addon } from '../native.js';
import { badArgument } from '../errors.js';

interface NativeLz4 {
  lz4_decompress(data: Uint8Array, maxOut: number): Buffer;
}

const LZ4_LEGACY_MAGIC = [0x02, 0x21, 0x4c, 0x18];

/** True when `data` holds the legacy LZ4 magic (02 21 4C 18) at `offset`. */
export function isLz4Legacy(data: Uint8Array, offset = 0): boolean {
  return LZ4_LEGACY_MAGIC.every((b, i) => data[offset + i] === b);
}

/**
 * Decompresses the legacy LZ4 stream at the start of `data`, up to its short last block; what follows is ignored.
 * Throws FORMAT (corrupt/truncated, with the input offset) or LIMIT when the output would exceed `maxOut`.
 */
export function lz4Decompress(data: Uint8Array, maxOut = 512 * 1024 * 1024): Buffer {
  if (!(data instanceof Uint8Array)) throw badArgument('data must be a Uint8Array');
  return addon<NativeLz4>().lz4_decompress(data, maxOut);
}
