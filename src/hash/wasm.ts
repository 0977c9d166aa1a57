/**
 * xxhash-wasm for small inputs hashed in JS (strings, short buffers): no native call, no thread hop. It has XXH32
 * and XXH64 only; its XXH64 equals the native one (a test checks this), so values mix freely.
 */
import xxhash from 'xxhash-wasm';

export interface WasmHasher {
  /** XXH64 of bytes or of a string's UTF-8. */
  xxh64(data: Uint8Array | string, seed?: bigint): bigint;
  /** XXH32 of bytes or of a string's UTF-8. */
  xxh32(data: Uint8Array | string, seed?: number): number;
}

let loading: Promise<WasmHasher> | undefined;

/** Instantiates the wasm module once (async: WebAssembly compilation) and returns sync hash functions. */
export function loadWasmHasher(): Promise<WasmHasher> {
  loading ??= xxhash().then((api) => ({
    xxh64: (data, seed = 0n) => (typeof data === 'string' ? api.h64(data, seed) : api.h64Raw(data, seed)),
    xxh32: (data, seed = 0) => (typeof data === 'string' ? api.h32(data, seed) : api.h32Raw(data, seed)),
  }));
  return loading;
}
