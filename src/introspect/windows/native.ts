/** The windows_* slice of the native addon (cpp/binding/windows_binding.cc). */
import type { NativeHandle } from '../../native.js';
import type { Problem } from '../types.js';

export interface NativeDiscoveryCandidate {
  profile: string;
  signature: number;
  dtb: number;
  pid: number;
  name: number;
  peb: number;
  links: number;
}

export interface NativeKdbgLayout {
  ownerTag: number;
  size: number;
  kernBase: number;
  psLoadedModuleList: number;
  psActiveProcessHead: number;
  ntBuildLab: number;
  cmNtCSDVersion: number;
  sizes: number[];
}

export interface NativeDiscovery {
  ok: boolean;
  dtb: bigint;
  /** 0 = x86 (non-PAE), 1 = PAE */
  mode: number;
  dtbFoundBy: string;
  candidate: string;
  anchorPa: bigint;
  versionBlock: bigint;
  versionMajor: number;
  build: number;
  kdbg: bigint;
  kdbgSize: number;
  kdbgFoundBy: string;
  kernBase: bigint;
  psLoadedModuleList: bigint;
  psActiveProcessHead: bigint;
  csdVersion?: number;
  ntBuildLab: string;
  ntMajor: number;
  ntMinor: number;
  productType: number;
  systemTime: bigint;
  bytesScanned: number;
  problems: Problem[];
}

export interface NativeProcessLayout {
  size: number;
  signature: number;
  dtb: number;
  createTime: number;
  exitTime: number;
  pid: number;
  links: number;
  objectTable: number;
  ppid: number;
  name: number;
  activeThreads: number;
  peb: number;
  pebLdr: number;
  ldrInLoadOrder: number;
  entryFullDllName: number;
}

export interface NativeModuleLayout {
  size: number;
  links: number;
  dllBase: number;
  sizeOfImage: number;
  fullDllName: number;
  baseDllName: number;
}

export interface NativeTcpipLayout {
  tcbSize: number;
  tcbNext: number;
  tcbRemoteIp: number;
  tcbLocalIp: number;
  tcbRemotePort: number;
  tcbLocalPort: number;
  tcbPid: number;
  aoSize: number;
  aoNext: number;
  aoLocalIp: number;
  aoLocalPort: number;
  aoProtocol: number;
  aoPid: number;
  aoCreateTime: number;
}

export interface NativeRvaSet {
  name: string;
  tcbTable: number;
  tcbSize: number;
  addrObjTable: number;
  addrObjTableSize: number;
  /** Published for exactly this driver build (an empty table is then believed). */
  exact?: boolean;
  /** Bucket counts to use instead of reading the count variables (inferred by a scan). */
  tcbCount?: number;
  addrObjCount?: number;
}

/** The _EPROCESS fields both the list walk and the pool scan report (the binding's setProcessFields). */
export interface NativeEprocessFields {
  pid: number;
  ppid: number;
  name: string;
  createTime: bigint;
  exitTime: bigint;
  dtb: bigint;
  peb: bigint;
  objectTable: bigint;
  threads: number;
}

export interface NativeProcess extends NativeEprocessFields {
  address: bigint;
  path?: string;
}

export interface NativeModule {
  entry: bigint;
  base: bigint;
  size: number;
  name: string;
  path: string;
}

export interface NativePe {
  ok: boolean;
  timeDateStamp: number;
  sizeOfImage: number;
  fileVersion?: string;
  sections: Array<{ name: string; rva: number; size: number; flags: number }>;
  problems: Problem[];
}

export interface NativeTableLocation {
  found: boolean;
  how: string;
  variable: bigint;
  countVariable: bigint;
  table: bigint;
  count: number;
}

export interface NativeTcpip {
  pe: Omit<NativePe, 'problems'>;
  tcb: NativeTableLocation;
  addr: NativeTableLocation;
  connections: Array<{ address: bigint; localAddress: string; localPort: number; remoteAddress: string; remotePort: number; pid: number; freed: boolean }>;
  sockets: Array<{ address: bigint; localAddress: string; port: number; protocol: number; pid: number; createTime: bigint; freed: boolean }>;
  problems: Problem[];
}

export interface NativeVadLayout {
  avlTable: boolean;
  vadRoot: number;
  balancedRoot: number;
  left: number;
  right: number;
  startVpn: number;
  endVpn: number;
  flags: number;
  controlArea: number;
  caFilePointer: number;
  foFileName: number;
}

export interface NativeVad {
  address: bigint;
  start: bigint;
  end: bigint;
  protection: number;
  private: boolean;
  /** Committed pages (VAD CommitCharge). */
  commit: number;
  tag: number;
  path?: string;
}

/** A process object found by the physical pool-tag scan (addresses physical, except flink/blink). */
export interface NativeScannedProcess extends NativeEprocessFields {
  physical: bigint;
  pool: bigint;
  freed: boolean;
  flink: bigint;
  blink: bigint;
}

export interface NativeLdrEntry {
  entry: bigint;
  base: bigint;
  size: number;
  name: string;
  path: string;
}

export interface NativeInjected {
  vad: bigint;
  start: bigint;
  end: bigint;
  protection: number;
  private: boolean;
  residentPages: number;
  contentPages: number;
  readAt: bigint;
  physical: bigint;
  head: Uint8Array;
  peHeader: boolean;
  peAt?: bigint;
  prologue: boolean;
}

export interface NativeWindows {
  windows_ldr(space: NativeHandle, dtb: bigint, peb: bigint, max: number): { found: boolean; ldr: bigint; load: NativeLdrEntry[]; memory: NativeLdrEntry[]; init: NativeLdrEntry[]; problems: Problem[] };
  windows_malfind(space: NativeHandle, layout: NativeVadLayout, eprocess: bigint, dtb: bigint, maxPagesPerVad: number): { items: NativeInjected[]; problems: Problem[] };
  windows_psscan(memory: NativeHandle, layout: NativeProcessLayout, maxObjects: number): { items: NativeScannedProcess[]; bytesScanned: number; problems: Problem[] };
  windows_poolscan(memory: NativeHandle, layout: NativeTcpipLayout, maxObjects: number): Pick<NativeTcpip, 'connections' | 'sockets' | 'problems'> & { bytesScanned: number };
  windows_vads(space: NativeHandle, layout: NativeVadLayout, eprocess: bigint, max: number): { items: NativeVad[]; problems: Problem[] };
  windows_discover(
    memory: NativeHandle,
    options: { candidates: NativeDiscoveryCandidate[]; kdbg: NativeKdbgLayout; dtb?: bigint; kdbgVa?: bigint; mode?: number },
  ): NativeDiscovery;
  windows_processes(space: NativeHandle, layout: NativeProcessLayout, head: bigint, max: number, paths: boolean): { items: NativeProcess[]; problems: Problem[] };
  windows_modules(space: NativeHandle, layout: NativeModuleLayout, head: bigint, max: number): { items: NativeModule[]; problems: Problem[] };
  windows_pe(space: NativeHandle, base: bigint, size: number): NativePe;
  windows_tcpip(
    space: NativeHandle,
    layout: NativeTcpipLayout,
    base: bigint,
    size: number,
    known: NativeRvaSet[],
    scan: boolean,
    limits?: { maxBuckets?: number; maxChain?: number; maxObjects?: number },
  ): NativeTcpip;
}
