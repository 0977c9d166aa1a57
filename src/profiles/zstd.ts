/** Zstandard decompression through the addon (libzstd): kernel images built with CONFIG_KERNEL_ZSTD. */
import { addon } from '../native.js';
import { badArgument } from '../errors.js';

interface NativeZstd {
  zstd_decompress(data: Uint8Array, maxOut: number): Buffer;
}

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** True when `data` holds a zstd frame magic (28 B5 2F FD) at `offset`. */
export function isZstd(data: Uint8Array, offset = 0): boolean {
  return ZSTD_MAGIC.every((b, i) => data[offset + i] === b);
}

/**
 * Decompresses the zstd frame at the start of `data`; bytes after the frame are ignored.
 * Throws FORMAT (corrupt/truncated, with the input offset) or LIMIT when the output would exceed `maxOut`.
 */
export function zstdDecompress(data: Uint8Array, maxOut = 512 * 1024 * 1024): Buffer {
  if (!(data instanceof Uint8Array)) throw badArgument('data must be a Uint8Array');
  return addon<NativeZstd>().zstd_decompress(data, maxOut);
}
