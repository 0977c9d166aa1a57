/** The memory_* slice of the native addon (cpp/binding/memory_binding.cc and the source openers). */
import type { NativeHandle } from '../native.js';

export interface NativeMemoryInfo {
  kind: string;
  origin: string;
  end: bigint;
  /** [start0, length0, start1, length1, ...] */
  ranges: BigUint64Array;
}

export interface NativeMemory {
  memory_open_raw(path: string): NativeHandle;
  memory_open_file(path: string, format: string): NativeHandle;
  /** With `pid`, every read first checks that the process (QEMU owning the memfd) still runs. */
  memory_open_live_file(path: string, lowRamSize: bigint, kind: 'live-file' | 'qemu-memfd', pid?: number): NativeHandle;
  /** blocks: [physStart, length, hva] triples */
  memory_open_process(pid: number, blocks: BigUint64Array, access: 'auto' | 'process_vm_readv' | 'proc-mem'): NativeHandle;
  memory_open_libvmi(domain: string, mode: 'kvm' | 'xen' | 'file', library: string): NativeHandle;
  memory_resident(handle: NativeHandle, start: bigint, length: bigint): BigUint64Array;
  memory_close(handle: NativeHandle): void;
  memory_info(handle: NativeHandle): NativeMemoryInfo;
  memory_read(handle: NativeHandle, address: bigint, dst: Uint8Array, partial: boolean): number;
  memory_read_many(handle: NativeHandle, addrs: BigUint64Array, itemSize: number, out: Uint8Array, ok: Uint8Array): number;
  memory_views(handle: NativeHandle): Array<[bigint, ArrayBuffer]>;
}
