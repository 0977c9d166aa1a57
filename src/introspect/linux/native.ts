/** The linux_* slice of the native addon (cpp/binding/linux_binding.cc). */
import type { NativeHandle } from '../../native.js';
import type { Problem } from '../types.js';
import type { NativeLinuxLayout } from './layout.js';

export interface NativeLinuxDiscovery {
  ok: boolean;
  physText: bigint;
  slide: bigint;
  dtb: bigint;
  pageOffsetBase: bigint;
  candidates: number;
  notes: string[];
}

/** Flat walk result: see cpp/binding/linux_binding.cc `encode`. */
export interface NativeLinuxWalk {
  /** per task: address, startTime (ns since boot), mm, pgd (physical), files */
  taskU64: BigUint64Array;
  /** per task: pid, tgid, ppid */
  taskI32: Int32Array;
  /** per task: 16 bytes of comm */
  comm: Uint8Array;
  /** per task: start time, ms since boot */
  startMs: Float64Array;
  /** per socket: struct sock, struct file */
  sockU64: BigUint64Array;
  /** per socket: task index, fd, family (4/6), protocol, state, local port, remote port */
  sockU32: Uint32Array;
  /** per socket: local then remote address, 16 bytes each (IPv4 mapped) */
  sockAddr: Uint8Array;
  problems: Problem[];
}

/** Which stage of linux_find answered (cpp/linux/walk.h): only "sweep" returns a whole new snapshot. */
export type LinuxFindStage = 'hot-tables' | 'known-tables' | 'new-tasks' | 'sweep';

export interface NativeLinux {
  linux_discover(
    memory: NativeHandle,
    options: {
      banner: string;
      text: bigint;
      linuxBanner: bigint;
      initTopPgt: bigint;
      initTask: bigint;
      pageOffsetBase: bigint;
      realParentOffset: number;
    },
  ): NativeLinuxDiscovery;
  linux_walker_create(
    space: NativeHandle,
    layout: NativeLinuxLayout,
    initTask: bigint,
    limits: { maxTasks: number; maxFdsPerTable: number; maxSockets: number },
  ): NativeHandle;
  linux_walker_close(walker: NativeHandle): void;
  linux_walk(walker: NativeHandle, withSockets: boolean): NativeLinuxWalk;
  linux_find(
    walker: NativeHandle,
    proto: number,
    lport: number,
    rport: number,
    laddr: Uint8Array,
    raddr: Uint8Array,
  ): NativeLinuxWalk & { match: number; stage: LinuxFindStage };
}
