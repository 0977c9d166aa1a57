/**
 * Native XXH3-64, XXH3-128 and XXH64 of files and guest memory ranges. Files are read() into a reused 1 MiB buffer
 * (a fresh mapping's first touch costs more than the hash); big files and ranges are hashed off the main thread
 * with progress callbacks and AbortSignal cancellation.
 */
import { addon, type NativeHandle } from '../native.js';
import { ParasightError, badArgument } from '../errors.js';
import { Memory } from '../memory/memory.js';
import { AddressSpace } from '../paging/address-space.js';
import type { NativeHash, NativeHashResult } from './native-hash.js';

export type HashAlgorithm = 'xxh3-64' | 'xxh3-128' | 'xxh64';

const ALGORITHM_NUMBER: Record<HashAlgorithm, number> = { 'xxh3-64': 0, 'xxh3-128': 1, xxh64: 2 };

export interface HashResult {
  /** 64-bit algorithms: a bigint. XXH3-128: 32 lowercase hex digits, high half first (as `xxh128sum` prints). */
  hash: bigint | string;
  /** Bytes hashed. */
  bytes: number;
}

export interface HashOptions {
  /** Default 'xxh3-64'. */
  algorithm?: HashAlgorithm;
  /** Default 0. */
  seed?: bigint;
}

export interface AsyncHashOptions extends HashOptions {
  /** Called from time to time (about every 16 MiB) with bytes done and the expected total (0 when unknown). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting rejects the promise with a CANCELLED ParasightError. */
  signal?: AbortSignal;
}

function native(): NativeHash {
  return addon<NativeHash>();
}

function algorithmOf(options: HashOptions): number {
  const a = options.algorithm ?? 'xxh3-64';
  const n = ALGORITHM_NUMBER[a];
  if (n === undefined) throw badArgument(`algorithm must be one of ${Object.keys(ALGORITHM_NUMBER).join(', ')}, got ${String(a)}`);
  return n;
}

function seedOf(options: HashOptions): bigint {
  const seed = options.seed ?? 0n;
  if (typeof seed !== 'bigint' || seed < 0n || seed >= 1n << 64n) throw badArgument('seed must be a bigint in [0, 2^64)');
  return seed;
}

function checkPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw badArgument('path must be a non-empty string');
}

function cancelled(): ParasightError {
  return new ParasightError('hashing cancelled', { code: 'CANCELLED' });
}

async function withSignal(
  options: AsyncHashOptions,
  start: (token: NativeHandle) => Promise<NativeHashResult>,
): Promise<HashResult> {
  const { signal } = options;
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw badArgument('onProgress must be a function');
  }
  if (signal?.aborted) throw cancelled();
  const n = native();
  const token = n.hash_token();
  const onAbort = (): void => n.hash_cancel(token);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(token);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Hashes a file. Files up to 1 MiB are hashed inline; bigger ones on the libuv thread pool. */
export function hashFile(path: string, options: AsyncHashOptions = {}): Promise<HashResult> {
  try {
    checkPath(path);
    const algorithm = algorithmOf(options);
    const seed = seedOf(options);
    return withSignal(options, (token) => native().hash_file(path, algorithm, seed, options.onProgress, token));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Hashes a file on the calling thread (for small files and scripts). */
export function hashFileSync(path: string, options: HashOptions = {}): HashResult {
  checkPath(path);
  return native().hash_file_sync(path, algorithmOf(options), seedOf(options));
}

/** Hashes bytes already in JS memory with the native code (every algorithm; see also `loadWasmHasher`). */
export function hashBytes(data: Uint8Array, options: HashOptions = {}): bigint | string {
  if (!(data instanceof Uint8Array)) throw badArgument('data must be a Uint8Array');
  return native().hash_bytes(data, algorithmOf(options), seedOf(options));
}

function rangeArgs(target: Memory | AddressSpace, address: bigint, length: bigint | number): [NativeHandle, bigint] {
  if (!(target instanceof Memory) && !(target instanceof AddressSpace)) {
    throw badArgument('target must be a Memory (physical range) or an AddressSpace (virtual range)');
  }
  if (typeof address !== 'bigint' || address < 0n || address >= 1n << 64n) {
    throw badArgument('address must be a bigint in [0, 2^64)');
  }
  const len = typeof length === 'number' ? BigInt(length) : length;
  if (typeof len !== 'bigint' || len < 0n || address + len > 1n << 64n) {
    throw badArgument('length must be non-negative and the range must end at or below 2^64');
  }
  return [target.handle, len];
}

/**
 * Hashes a guest range: physical when `target` is a Memory, virtual when it is an AddressSpace (every page must
 * translate and read; the error names the first that does not). Ranges over 1 MiB are hashed off the main thread.
 */
export function hashRange(
  target: Memory | AddressSpace,
  address: bigint,
  length: bigint | number,
  options: AsyncHashOptions = {},
): Promise<HashResult> {
  try {
    const [handle, len] = rangeArgs(target, address, length);
    const algorithm = algorithmOf(options);
    const seed = seedOf(options);
    return withSignal(options, (token) =>
      native().hash_range(handle, address, len, algorithm, seed, options.onProgress, token),
    );
  } catch (e) {
    return Promise.reject(e);
  }
}

/** `hashRange` on the calling thread (virtual ranges use and fill the address space's own TLB). */
export function hashRangeSync(
  target: Memory | AddressSpace,
  address: bigint,
  length: bigint | number,
  options: HashOptions = {},
): HashResult {
  const [handle, len] = rangeArgs(target, address, length);
  return native().hash_range_sync(handle, address, len, algorithmOf(options), seedOf(options));
}
