/**
 * Compressed data the profiles meet (kernel images, ISF .json.xz files, the demo image), recognised by magic and
 * unpacked through the addon: XZ (liblzma), zstd (libzstd; CONFIG_KERNEL_ZSTD) and legacy-frame LZ4 (liblz4;
 * CONFIG_KERNEL_LZ4). Gzip is node's own (zlib) and not listed here.
 */
import { addon } from '../native.js';
import { badArgument } from '../errors.js';

export type Codec = 'xz' | 'zstd' | 'lz4-legacy';

interface NativeCodecs {
  xz_decompress(data: Uint8Array, maxOut: number): Buffer;
  zstd_decompress(data: Uint8Array, maxOut: number): Buffer;
  lz4_decompress(data: Uint8Array, maxOut: number): Buffer;
}

const CODECS: ReadonlyArray<{ codec: Codec; magic: readonly number[]; native: keyof NativeCodecs }> = [
  { codec: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], native: 'xz_decompress' },
  { codec: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], native: 'zstd_decompress' },
  { codec: 'lz4-legacy', magic: [0x02, 0x21, 0x4c, 0x18], native: 'lz4_decompress' },
];

/** The codec whose magic starts at `offset` in `data`, if any. */
export function codecAt(data: Uint8Array, offset = 0): Codec | undefined {
  return CODECS.find((c) => c.magic.every((b, i) => data[offset + i] === b))?.codec;
}

/**
 * Decompresses the `codec` stream at the start of `data`; bytes after its end are ignored (LZ4 legacy: after its
 * short last block). Throws FORMAT (corrupt or truncated, with the input offset) or LIMIT when the output would
 * exceed `maxOut`.
 */
export function decompress(codec: Codec, data: Uint8Array, maxOut = 512 * 1024 * 1024): Buffer {
  if (!(data instanceof Uint8Array)) throw badArgument('data must be a Uint8Array');
  const c = CODECS.find((x) => x.codec === codec);
  if (!c) throw badArgument(`unknown codec ${String(codec)}`);
  return addon<NativeCodecs>()[c.native](data, maxOut);
}
