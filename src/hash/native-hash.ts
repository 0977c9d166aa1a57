/** The hash_* slice of the native addon (cpp/binding/hash_binding.cc). */
import type { NativeHandle } from '../native.js';

export interface NativeHashResult {
  hash: bigint | string;
  bytes: number;
}

export type NativeProgress = (done: number, total: number) => void;

export interface NativeHash {
  hash_bytes(data: Uint8Array, algorithm: number, seed: bigint): bigint | string;
  hash_file(path: string, algorithm: number, seed: bigint, onProgress?: NativeProgress, token?: NativeHandle): Promise<NativeHashResult>;
  hash_file_sync(path: string, algorithm: number, seed: bigint): NativeHashResult;
  hash_range(
    handle: NativeHandle,
    address: bigint,
    length: bigint,
    algorithm: number,
    seed: bigint,
    onProgress?: NativeProgress,
    token?: NativeHandle,
  ): Promise<NativeHashResult>;
  hash_range_sync(handle: NativeHandle, address: bigint, length: bigint, algorithm: number, seed: bigint): NativeHashResult;
  hash_token(): NativeHandle;
  hash_cancel(token: NativeHandle): void;
}
