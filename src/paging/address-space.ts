/**
 * `AddressSpace`: guest virtual memory of one page-table root (DTB / CR3) over a `Memory` source. x86 32-bit,
 * PAE, IA-32e 4-level and 5-level paging; a software TLB the caller invalidates when the guest changes its tables.
 */
import { addon, type NativeHandle } from '../native.js';
import { ParasightError, badArgument } from '../errors.js';
import type { Memory } from '../memory/memory.js';
import type { NativeSpace } from './native-space.js';

export type PagingMode = 'x86' | 'pae' | 'ia32e' | 'la57';

const MODE_NUMBER: Record<PagingMode, number> = { x86: 0, pae: 1, ia32e: 2, la57: 3 };

export interface AddressSpaceOptions {
  /** Page-table root (CR3). PAE uses bits 31..5 (a 32-byte-aligned PDPT), the other modes bits 51..12. */
  dtb: bigint;
  /** x86 (2 levels, 4 KiB/4 MiB), pae (3 levels, 4 KiB/2 MiB), ia32e (4 levels), la57 (5 levels). */
  mode: PagingMode;
  /**
   * Windows guests: a PTE/PDE with valid clear, bit 11 (transition) set and bit 10 (prototype) clear still names
   * a frame in RAM: translate it (`transition: true`) instead of failing. Also classifies prototype and
   * page-file PTEs in the batch status. Off by default (other OSes use those bits differently).
   */
  windowsTransition?: boolean;
  /** Software TLB size: a power of two up to 2^20, 0 disables it. Default 4096. */
  tlbEntries?: number;
  /** MAXPHYADDR: entry address bits at or above it are reserved (an error). 32..52, default 52. */
  maxPhysicalBits?: number;
}

export interface Translation {
  /** Guest-physical address. */
  pa: bigint;
  /** Size of the page that maps it: 4096, 2 MiB, 4 MiB or 1 GiB. */
  pageSize: number;
  writable: boolean;
  user: boolean;
  noExecute: boolean;
  /** Translated through a Windows transition PTE: the page is in RAM but not in the process's working set. */
  transition: boolean;
}

/** `translateMany` writes this for addresses that do not translate. */
export const UNTRANSLATED = 0xffff_ffff_ffff_ffffn;

/** Per-address outcome reported by `translateMany(..., { status })` (same numbers as the native enum). */
export const TranslateStatus = {
  OK: 0,
  /** Translated through a Windows transition PTE. */
  TRANSITION: 1,
  /** Present bit clear (unmapped, demand-zero, or not decoded as Windows). */
  NOT_PRESENT: 2,
  /** Windows prototype PTE: the contents belong to a section, not to a frame. */
  PROTOTYPE: 3,
  /** Windows software PTE with a page-file offset: paged out to disk. */
  PAGE_FILE: 4,
  /** A paging table lies outside the memory source (hole, past the end). */
  TABLE_UNREADABLE: 5,
  /** Reserved bits set: address bits at/above MAXPHYADDR, bad large-page bits, large page where none may be. */
  RESERVED: 6,
  /** Virtual address outside the mode's address space (non-canonical, or above 4 GiB in 32-bit modes). */
  NON_CANONICAL: 7,
} as const;
export type TranslateStatusCode = (typeof TranslateStatus)[keyof typeof TranslateStatus];

const MAX_READ = 1 << 30;
const PAGE = 0x1000n;
const U64_LIMIT = 1n << 64n;
/** Reused by translate(): [pa, pageSize, flags]. */
const translateOut = new BigUint64Array(3);

export class AddressSpace {
  readonly mode: PagingMode;
  readonly dtb: bigint;
  readonly memory: Memory;
  /** Bytes in a guest pointer: 4 in x86/PAE, 8 in IA-32e/LA57. */
  readonly pointerSize: 4 | 8;

  #handle: NativeHandle | undefined;
  readonly #native: NativeSpace;

  /** @internal Use `memory.addressSpace(...)`. */
  constructor(memory: Memory, options: AddressSpaceOptions) {
    if (options === null || typeof options !== 'object') throw badArgument('address space options must be an object');
    const { dtb, mode } = options;
    if (typeof mode !== 'string' || !(mode in MODE_NUMBER)) {
      throw badArgument(`mode must be one of ${Object.keys(MODE_NUMBER).join(', ')}, got ${String(mode)}`);
    }
    checkAddress(dtb, 'dtb');
    const tlb = options.tlbEntries ?? 4096;
    if (!Number.isInteger(tlb) || tlb < 0 || tlb > 1 << 20 || (tlb & (tlb - 1)) !== 0) {
      throw badArgument(`tlbEntries must be 0 or a power of two up to 2^20, got ${tlb}`);
    }
    const maxPhys = options.maxPhysicalBits ?? 52;
    if (!Number.isInteger(maxPhys) || maxPhys < 32 || maxPhys > 52) {
      throw badArgument(`maxPhysicalBits must be an integer in 32..52, got ${maxPhys}`);
    }
    this.#native = addon<NativeSpace>();
    this.memory = memory;
    this.mode = mode;
    this.dtb = dtb;
    this.pointerSize = mode === 'x86' || mode === 'pae' ? 4 : 8;
    this.#handle = this.#native.space_create(
      memory.handle,
      MODE_NUMBER[mode],
      dtb,
      options.windowsTransition === true,
      tlb,
      maxPhys,
    );
  }

  /** @internal The native handle, for native-backed walkers and hashing. */
  get handle(): NativeHandle {
    if (this.#handle === undefined) throw new ParasightError('address space is closed', { code: 'CLOSED' });
    return this.#handle;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Translates one virtual address. Throws PAGE_NOT_PRESENT (with `level` 5..1, the raw `entry` and the
   * `entryAddress` it was read from; the message names prototype / page-file PTEs), FORMAT for reserved bits,
   * OUT_OF_RANGE/HOLE when a paging table lies outside the source or the address is non-canonical.
   */
  translate(va: bigint): Translation {
    checkAddress(va, 'address');
    this.#native.space_translate_into(this.handle, va, translateOut);
    const flags = Number(translateOut[2]);
    return {
      pa: translateOut[0]!,
      pageSize: Number(translateOut[1]),
      writable: (flags & 1) !== 0,
      user: (flags & 2) !== 0,
      noExecute: (flags & 4) !== 0,
      transition: (flags & 8) !== 0,
    };
  }

  /**
   * Translates a batch in one native call: `out[i]` = physical address or `UNTRANSLATED`. Pass `status` (a
   * Uint8Array as long as `vas`) to get a `TranslateStatus` code per address.
   */
  translateMany(vas: BigUint64Array, options: { out?: BigUint64Array; status?: Uint8Array } = {}): BigUint64Array {
    if (!(vas instanceof BigUint64Array)) throw badArgument('addresses must be a BigUint64Array');
    const out = options.out ?? new BigUint64Array(vas.length);
    if (!(out instanceof BigUint64Array) || out.length < vas.length) {
      throw badArgument('out must be a BigUint64Array at least as long as the addresses');
    }
    if (options.status !== undefined && (!(options.status instanceof Uint8Array) || options.status.length < vas.length)) {
      throw badArgument('status must be a Uint8Array at least as long as the addresses');
    }
    this.#native.space_translate_many(this.handle, vas, out, options.status);
    return out;
  }

  /**
   * Reads `length` bytes of virtual memory. Inside one page of a stable source this is a zero-copy view (do not
   * write to it); across pages the bytes are copied page by page. Throws at the first page that does not
   * translate or read, with the virtual address and paging level.
   */
  read(va: bigint, length: number): Uint8Array {
    checkAddress(va, 'address');
    checkLength(length);
    if (length > 0 && (va & (PAGE - 1n)) + BigInt(length) <= PAGE) {
      const pa = this.#native.space_resolve(this.handle, va);
      try {
        return this.memory.readPhysical(pa, length);
      } catch (e) {
        if (e instanceof ParasightError && e.address !== undefined) {
          throw new ParasightError(`virtual ${hex(va)} → physical ${hex(pa)}: ${e.message}`, {
            code: e.code,
            source: e.source,
            address: va,
            cause: e,
          });
        }
        throw e;
      }
    }
    const out = new Uint8Array(length);
    this.#native.space_read(this.handle, va, out, false);
    return out;
  }

  /**
   * Reads into `dst`. With `partial`, pages that do not translate or read are zeroed instead of throwing and the
   * number of bytes actually read is returned.
   */
  readInto(va: bigint, dst: Uint8Array, options: { partial?: boolean } = {}): number {
    checkAddress(va, 'address');
    if (!(dst instanceof Uint8Array)) throw badArgument('destination must be a Uint8Array');
    checkLength(dst.length);
    return this.#native.space_read(this.handle, va, dst, options.partial === true);
  }

  /** Drops cached translations: all of them, or those of the page (small or large) holding `va`. */
  invalidate(va?: bigint): void {
    if (va !== undefined) checkAddress(va, 'address');
    this.#native.space_invalidate(this.handle, va);
  }

  /** Releases the native address space (the memory source stays open). */
  close(): void {
    if (this.#handle === undefined) return;
    this.#native.space_close(this.#handle);
    this.#handle = undefined;
  }
}

function checkAddress(value: bigint, what: string): void {
  if (typeof value !== 'bigint' || value < 0n || value >= U64_LIMIT) {
    throw badArgument(`${what} must be a bigint in [0, 2^64), got ${String(value)}`);
  }
}

function checkLength(length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > MAX_READ) {
    throw badArgument(`length must be an integer in 0..${MAX_READ}, got ${length}`);
  }
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
