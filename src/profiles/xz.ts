/** XZ decompression through the addon (liblzma): kernel images and ISF .json.xz files. */
import { addon } from '../native.js';
import { badArgument } from '../errors.js';

interface NativeXz {
  xz_decompress(data: Uint8Array, maxOut: number): Buffer;
}

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/** True when `data` starts with the XZ stream magic (FD 37 7A 58 5A 00). */
export function isXz(data: Uint8Array, offset = 0): boolean {
  return XZ_MAGIC.every((b, i) => data[offset + i] === b);
}

/**
 * Decompresses the XZ stream at the start of `data`; bytes after the stream's end are ignored.
 * Throws FORMAT (corrupt/truncated, with the input offset) or LIMIT when the output would exceed `maxOut`.
 */
export function xzDecompress(data: Uint8Array, maxOut = 512 * 1024 * 1024): Buffer {
  if (!(data instanceof Uint8Array)) throw badArgument('data must be a Uint8Array');
  return addon<NativeXz>().xz_decompress(data, maxOut);
}
