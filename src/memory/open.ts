/**
 * `openMemory()`: the one entry point for every memory source. Each source kind has one opener in this table;
 * arguments are validated here with exact messages, C++ trusts what it receives.
 */
import { statSync } from 'node:fs';
import { addon } from '../native.js';
import { ParasightError, badArgument } from '../errors.js';
import { Memory } from './memory.js';
import type { NativeMemory } from './native-memory.js';
import { layoutBlocks, locateQemuRam, q35LowRamSize, type LocateOptions } from './qemu-process.js';

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

/**
 * A running QEMU process, read without changing it (needs root or CAP_SYS_PTRACE over QEMU). Guest RAM is found
 * through the QMP socket (`gpa2hva`, `info mtree -f`) when `qmp` is given, else from /proc/PID/maps and QEMU's
 * `-m` argument. With QEMU's memfd backend the memfd is mapped (kind `qemu-memfd`); otherwise reads go through
 * `process_vm_readv` (batched) or /proc/PID/mem (kind `qemu-process`). Opening is asynchronous (QMP).
 */
export interface QemuProcessSourceSpec {
  kind: 'qemu-process';
  pid: number;
  /** QMP unix socket of this QEMU (`-qmp unix:PATH,server=on,wait=off`). */
  qmp?: string;
  /** RAM size; default from QMP or QEMU's `-m` argument. */
  ramSize?: bigint | number;
  /** Bytes of RAM below 4 GiB; default from `info mtree -f` (QMP), else QEMU's q35 rule. */
  lowRamSize?: bigint | number;
  /** How to read: `auto` (process_vm_readv, /proc/PID/mem where refused), or one of them only. */
  access?: 'auto' | 'process_vm_readv' | 'proc-mem';
  /**
   * Map the RAM file when QEMU uses the memfd backend (kind `qemu-memfd`) or `memory-backend-file,share=on` (kind
   * `live-file`); default true. false reads through the process instead.
   */
  memfd?: boolean;
  /** QMP timeout per command (ms, default 5000). */
  timeoutMs?: number;
}

/**
 * A VM (or file) through LibVMI, loaded at run time with dlopen (parasight does not link against it). Opens with
 * `vmi_init` for physical memory only, so no LibVMI OS profile is needed. NOT_FOUND when libvmi.so is absent.
 */
export interface LibvmiSourceSpec {
  kind: 'libvmi';
  /** VM name (KVM/Xen) or image path (file mode). */
  domain: string;
  /** LibVMI driver: `kvm` (default), `xen` or `file`. */
  mode?: 'kvm' | 'xen' | 'file';
  /** Path of the LibVMI shared library; default `libvmi.so`, then `libvmi.so.0`, from the loader's search path. */
  library?: string;
}

export type MemorySourceSpec = FileSourceSpec | LiveFileSourceSpec | QemuProcessSourceSpec | LibvmiSourceSpec;
export type SyncMemorySourceSpec = Exclude<MemorySourceSpec, QemuProcessSourceSpec>;

const FORMATS = ['auto', 'raw', 'elf', 'lime'] as const;
const FOUR_GIB = 1n << 32n;

const ACCESS = ['auto', 'process_vm_readv', 'proc-mem'] as const;
const LIBVMI_MODES = ['kvm', 'xen', 'file'] as const;

/**
 * Opens a memory source. A string is a path to an image file (format detected). File sources open synchronously;
 * a QEMU process returns a promise (it may talk to QMP).
 */
export function openMemory(source: string | SyncMemorySourceSpec): Memory;
export function openMemory(source: QemuProcessSourceSpec): Promise<Memory>;
export function openMemory(source: string | MemorySourceSpec): Memory | Promise<Memory>;
export function openMemory(source: string | MemorySourceSpec): Memory | Promise<Memory> {
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
      const low = checkSize(spec.lowRamSize, 'lowRamSize', FOUR_GIB) ?? q35LowRamSize(fileSize(path));
      return new Memory(native.memory_open_live_file(path, low, 'live-file'));
    }
    case 'qemu-process':
      return openQemuProcess(spec, native);
    case 'libvmi': {
      if (typeof spec.domain !== 'string' || spec.domain.length === 0) throw badArgument('domain must be a non-empty string');
      const mode = spec.mode ?? 'kvm';
      if (!(LIBVMI_MODES as readonly string[]).includes(mode)) {
        throw badArgument(`mode must be one of ${LIBVMI_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
      }
      const library = spec.library === undefined ? '' : checkPath(spec.library);
      return new Memory(native.memory_open_libvmi(spec.domain, mode, library));
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

function checkSize(value: unknown, name: string, max: bigint): bigint | undefined {
  if (value === undefined) return undefined;
  const v = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof v !== 'bigint' || v < 0n || v > max) {
    throw badArgument(`${name} must be an integer in 0..${max === FOUR_GIB ? '4 GiB (0x100000000)' : `0x${max.toString(16)}`}, got ${String(value)}`);
  }
  return v;
}

function fileSize(path: string): bigint {
  try {
    return BigInt(statSync(path).size);
  } catch {
    return 0n; // the native open reports the real error (missing file, permission) with its code
  }
}

async function openQemuProcess(spec: QemuProcessSourceSpec, native: NativeMemory): Promise<Memory> {
  if (!Number.isSafeInteger(spec.pid) || spec.pid <= 0) {
    throw badArgument(`pid must be a positive integer, got ${String(spec.pid)}`);
  }
  if (spec.qmp !== undefined && (typeof spec.qmp !== 'string' || spec.qmp.length === 0)) {
    throw badArgument('qmp must be a non-empty socket path');
  }
  const access = spec.access ?? 'auto';
  if (!(ACCESS as readonly string[]).includes(access)) {
    throw badArgument(`access must be one of ${ACCESS.join(', ')}, got ${JSON.stringify(access)}`);
  }
  if (spec.memfd !== undefined && typeof spec.memfd !== 'boolean') throw badArgument('memfd must be a boolean');
  const options: LocateOptions = {};
  const ramSize = checkSize(spec.ramSize, 'ramSize', 1n << 52n);
  const lowRamSize = checkSize(spec.lowRamSize, 'lowRamSize', FOUR_GIB);
  if (ramSize !== undefined) options.ramSize = ramSize;
  if (lowRamSize !== undefined) options.lowRamSize = lowRamSize;
  if (spec.qmp !== undefined) options.qmp = spec.qmp;
  if (spec.timeoutMs !== undefined) options.timeoutMs = spec.timeoutMs;
  const layout = await locateQemuRam(spec.pid, options);
  // A mapped RAM file holds the main block only: with DIMMs or NUMA backends, read everything through the process.
  const mapFile = spec.memfd !== false && layout.extraBlocks === undefined;
  if (layout.memfdPath !== undefined && mapFile) {
    return new Memory(native.memory_open_live_file(layout.memfdPath, layout.lowRamSize, 'qemu-memfd', spec.pid));
  }
  if (layout.filePath !== undefined && mapFile) {
    return new Memory(native.memory_open_live_file(layout.filePath, layout.lowRamSize, 'live-file', spec.pid));
  }
  if (layout.hva === 0n) {
    throw new ParasightError(`pid ${spec.pid}: the RAM memfd is not mapped in the process; cannot read it by address`, {
      code: 'NOT_FOUND',
      source: `pid ${spec.pid}`,
    });
  }
  return new Memory(native.memory_open_process(spec.pid, layoutBlocks(layout), access));
}
