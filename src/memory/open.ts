/**
 * `openMemory()`: the one entry point for every memory source. Each source kind has one opener in this table;
 * arguments are validated here with exact messages, C++ trusts what it receives.
 */
import { addon } from '../native.js';
import { badArgument } from '../errors.js';
import { Memory } from './memory.js';
import type { NativeMemory } from './native-memory.js';

/**
 * A memory image file. `format` defaults to `auto`: detection from the first bytes (ELF magic → QEMU
 * `dump-guest-memory` ELF core, LiME magic → LiME capture, anything else → raw image).
 */
export interface FileSourceSpec {
  kind: 'file';
  path: string;
  format?: 'auto' | 'raw' | 'elf' | 'lime';
}

/**
 * A guest RAM file a running QEMU shares with the host (`-object memory-backend-file,mem-path=…,share=on`, usually
 * under /dev/shm). Reads are copied by C++ with the file size guarded (the file may change under us), never
 * handed out as views. File offsets below `lowRamSize` are guest-physical addresses; the rest of the file is the
 * RAM QEMU puts at guest-physical 4 GiB. `lowRamSize` defaults to QEMU's q35 rule: a file of 2.75 GiB or more keeps
 * 2 GiB below 4 GiB, a smaller one lies entirely below. Pass it for `-machine pc` (i440fx: 3 GiB when RAM is
 * 3.5 GiB or more) or when QEMU runs with `max-ram-below-4g`.
 */
export interface LiveFileSourceSpec {
  kind: 'live-file';
  path: string;
  lowRamSize?: bigint | number;
}

export type MemorySourceSpec = FileSourceSpec | LiveFileSourceSpec;

const FORMATS = ['auto', 'raw', 'elf', 'lime'] as const;
const FOUR_GIB = 1n << 32n;

/** Opens a memory source. A string is a path to an image file (format detected). */
export function openMemory(source: string | MemorySourceSpec): Memory {
  const spec: MemorySourceSpec = typeof source === 'string' ? { kind: 'file', path: source } : source;
  if (spec === null || typeof spec !== 'object') throw badArgument('source must be a path or a source spec object');
  const native = addon<NativeMemory>();
  switch (spec.kind) {
    case 'file': {
      const path = checkPath(spec.path);
      const format = spec.format ?? 'auto';
      if (!(FORMATS as readonly string[]).includes(format)) {
        throw badArgument(`format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
      }
      return new Memory(native.memory_open_file(path, format));
    }
    case 'live-file': {
      const path = checkPath(spec.path);
      return new Memory(native.memory_open_live_file(path, checkLowRamSize(spec.lowRamSize), 'live-file'));
    }
    default:
      throw badArgument(`unknown memory source kind ${JSON.stringify((spec as { kind?: unknown }).kind)}`);
  }
}

/** @internal Shared by the source openers. */
export function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) throw badArgument('path must be a non-empty string');
  return path;
}

/** @internal */
export function checkLowRamSize(value: unknown): bigint | undefined {
  if (value === undefined) return undefined;
  const v = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof v !== 'bigint' || v < 0n || v > FOUR_GIB) {
    throw badArgument(`lowRamSize must be an integer in 0..4 GiB (0x100000000), got ${String(value)}`);
  }
  return v;
}
