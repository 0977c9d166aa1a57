/**
 * `Memory`: an open guest-physical memory source. Reads inside one stable mapping return zero-copy views
 * (subarrays of views made once at open); everything else is copied by C++ with bounds and faults checked.
 */
import { addon, type NativeHandle } from '../native.js';
import { ParasightError, badArgument } from '../errors.js';
import type { NativeMemory } from './native-memory.js';
import { AddressSpace, type AddressSpaceOptions } from '../paging/address-space.js';

export interface PhysicalRange {
  start: bigint;
  length: bigint;
}

interface View {
  start: bigint;
  end: bigint;
  bytes: Uint8Array;
}

const MAX_READ = 1 << 30;

export class Memory {
  /** Source kind: raw, elf-core, lime, live-file, qemu-process, qemu-memfd, libvmi. */
  readonly kind: string;
  /** Where the bytes come from (path, "pid N", VM name): used in every error. */
  readonly origin: string;
  /** Guest-physical ranges the source backs, sorted; gaps between them are holes. */
  readonly ranges: readonly PhysicalRange[];
  /** One past the highest backed guest-physical address. */
  readonly size: bigint;

  #handle: NativeHandle | undefined;
  readonly #native: NativeMemory;
  readonly #views: View[];

  /** @internal Use `openMemory()`. */
  constructor(handle: NativeHandle) {
    this.#native = addon<NativeMemory>();
    this.#handle = handle;
    const info = this.#native.memory_info(handle);
    this.kind = info.kind;
    this.origin = info.origin;
    this.size = info.end;
    const ranges: PhysicalRange[] = [];
    for (let i = 0; i + 1 < info.ranges.length; i += 2) {
      ranges.push({ start: info.ranges[i]!, length: info.ranges[i + 1]! });
    }
    this.ranges = ranges;
    this.#views = this.#native.memory_views(handle).map(([start, buffer]) => ({
      start,
      end: start + BigInt(buffer.byteLength),
      bytes: new Uint8Array(buffer),
    }));
  }

  /** @internal The native handle, for other native-backed objects built on this source. */
  get handle(): NativeHandle {
    if (this.#handle === undefined) {
      throw new ParasightError(`memory source ${this.origin} is closed`, { code: 'CLOSED', source: this.origin });
    }
    return this.#handle;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Reads `length` bytes at guest-physical `address`. Returns a zero-copy view when the bytes lie in one stable
   * mapping (do not write to it), else a copy. Throws HOLE / OUT_OF_RANGE / SOURCE_GONE with the failing address.
   */
  readPhysical(address: bigint, length: number): Uint8Array {
    checkRead(address, length);
    const view = this.#viewFor(address, length);
    if (view) return view;
    const out = new Uint8Array(length);
    this.#native.memory_read(this.handle, address, out, false);
    return out;
  }

  /**
   * Reads into `dst`. With `partial`, unreadable bytes are zeroed instead of throwing (Volatility's pad=True) and
   * the number of bytes actually read is returned.
   */
  readPhysicalInto(address: bigint, dst: Uint8Array, options: { partial?: boolean } = {}): number {
    checkRead(address, dst.length);
    return this.#native.memory_read(this.handle, address, dst, options.partial === true);
  }

  /**
   * Batched fixed-size reads: `itemSize` bytes at each address. Returns the bytes (count × itemSize) and an
   * `ok` flag per item; unreadable items are zero. One native call for the whole batch.
   */
  readMany(addresses: BigUint64Array, itemSize: number): { bytes: Uint8Array; ok: Uint8Array } {
    if (!Number.isInteger(itemSize) || itemSize <= 0 || itemSize > 4096) {
      throw badArgument(`itemSize must be an integer in 1..4096, got ${itemSize}`);
    }
    const bytes = new Uint8Array(addresses.length * itemSize);
    const ok = new Uint8Array(addresses.length);
    this.#native.memory_read_many(this.handle, addresses, itemSize, bytes, ok);
    return { bytes, ok };
  }

  /**
   * Guest-physical ranges in [start, start + length) whose bytes exist in host memory now (default: everything).
   * Reading other bytes of a live guest makes the host allocate them (they read as zeros): whole-RAM scans read
   * only these ranges. Static images report every backed range.
   */
  residentRanges(start = 0n, length: bigint = this.size - start): PhysicalRange[] {
    if (typeof start !== 'bigint' || start < 0n || typeof length !== 'bigint' || length < 0n) {
      throw badArgument('start and length must be non-negative bigints');
    }
    const flat = this.#native.memory_resident(this.handle, start, length);
    const out: PhysicalRange[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ start: flat[i]!, length: flat[i + 1]! });
    return out;
  }

  /**
   * Guest virtual memory of one page-table root over this source: `{dtb, mode}` plus optional
   * `windowsTransition`, `tlbEntries`, `maxPhysicalBits` (see `AddressSpaceOptions`). The address space keeps the
   * source's bytes alive even if this `Memory` is closed first.
   */
  addressSpace(options: AddressSpaceOptions): AddressSpace {
    return new AddressSpace(this, options);
  }

  /** Releases the source. Views already handed out stay valid until they are garbage-collected. */
  close(): void {
    if (this.#handle === undefined) return;
    this.#native.memory_close(this.#handle);
    this.#handle = undefined;
    this.#views.length = 0;
  }

  #viewFor(address: bigint, length: number): Uint8Array | undefined {
    const end = address + BigInt(length);
    for (const v of this.#views) {
      if (address >= v.start && end <= v.end) {
        const off = Number(address - v.start);
        return v.bytes.subarray(off, off + length);
      }
    }
    return undefined;
  }
}

function checkRead(address: bigint, length: number): void {
  if (typeof address !== 'bigint' || address < 0n || address >= 1n << 64n) {
    throw badArgument(`address must be a bigint in [0, 2^64), got ${String(address)}`);
  }
  if (!Number.isInteger(length) || length < 0 || length > MAX_READ) {
    throw badArgument(`length must be an integer in 0..${MAX_READ}, got ${length}`);
  }
}
