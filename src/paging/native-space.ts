/** The space_* slice of the native addon (cpp/binding/space_binding.cc). */
import type { NativeHandle } from '../native.js';

export interface NativeTranslation {
  pa: bigint;
  pageSize: number;
  writable: boolean;
  user: boolean;
  noExecute: boolean;
  transition: boolean;
}

export interface NativeSpace {
  space_create(
    memory: NativeHandle,
    mode: number,
    dtb: bigint,
    windowsTransition: boolean,
    tlbEntries: number,
    maxPhysicalBits: number,
  ): NativeHandle;
  space_close(handle: NativeHandle): void;
  space_translate(handle: NativeHandle, va: bigint): NativeTranslation;
  space_translate_into(handle: NativeHandle, va: bigint, out: BigUint64Array): void;
  space_resolve(handle: NativeHandle, va: bigint): bigint;
  space_translate_many(handle: NativeHandle, vas: BigUint64Array, out: BigUint64Array, status?: Uint8Array): number;
  space_read(handle: NativeHandle, va: bigint, dst: Uint8Array, partial: boolean): number;
  space_invalidate(handle: NativeHandle, va?: bigint): void;
}
