/**
 * GuestIntrospector: the one interface the VM sensor uses to ask a guest "who owns this connection?".
 * Windows (XP/2003) and Linux implementations conform to it; nothing above it knows which OS it is talking to.
 *
 * Every result carries `problems`: what could not be read (bad pointer, cycle, page not present) — partial results
 * are results.
 */

export type GuestOs = 'windows' | 'linux';
export type PagingModeName = 'x86' | 'pae' | 'ia32e' | 'la57';
export type Protocol = 'tcp' | 'udp';
export type IpFamily = 4 | 6;

/** Something a walker could not read or did not trust, with where it happened. */
export interface Problem {
  /** Stable short code, e.g. PAGE_NOT_PRESENT, CYCLE, LIMIT, BAD_POINTER, HOLE. */
  code: string;
  /** Human-readable: which structure, which field, what was expected. */
  message: string;
  /** Guest virtual address of the structure involved, when known. */
  address?: bigint;
  /** Which walk produced it (e.g. "pslist", "tcb-table", "task-list", "fd-table"). */
  walk?: string;
}

export interface GuestInfo {
  os: GuestOs;
  /** e.g. "5.1.2600 (XP SP2)" or "6.1.0-26-amd64". */
  version: string;
  /** Profile the introspector chose (name of the ISF file / built-in profile). */
  profile: string;
  paging: PagingModeName;
  /** Kernel page-table root (physical). */
  dtb: bigint;
  kernelBase: bigint;
  /** Linux: KASLR slide of the kernel image (0 without KASLR). */
  kaslrSlide?: bigint;
  problems: Problem[];
}

export interface GuestProcess {
  pid: number;
  ppid: number;
  /** Windows: ImageFileName; Linux: comm. */
  name: string;
  /**
   * Full executable path when known (Windows: PEB, read in every walk; Linux: mm->exe_file, read on demand — see
   * ProcessListOptions.paths).
   */
  path?: string;
  /** Creation time, ms since the Unix epoch (Windows) or since guest boot (Linux, `createTimeBase: 'boot'`). */
  createTime: number;
  createTimeBase: 'epoch' | 'boot';
  exitTime?: number;
  /** Linux thread-group id (== pid for a leader). */
  tgid?: number;
  /** Process page-table root (physical). */
  dtb?: bigint;
  /** Guest virtual address of EPROCESS / task_struct. */
  address: bigint;
  /** How it was found: list walk, scan, ... */
  foundBy: string;
}

export interface LookupOptions {
  /**
   * false: answer from what is already known (the snapshot and what earlier lookups added to it), never walking the
   * guest. For the rest of a batch once one lookup has just walked it: the snapshot is as fresh as it gets.
   */
  walk?: boolean;
}

/** Guest endpoint first (ARCHITECTURE.md "Shapes": local = guest). */
export interface GuestSocketTuple {
  proto: Protocol;
  family: IpFamily;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export interface GuestConnection extends GuestSocketTuple {
  /** TCP state name (ESTABLISHED, SYN_SENT, LISTEN, ...) or "" for UDP. */
  state: string;
  pid: number;
  /** How it was found: "tcb-table", "fd-table", "pool-scan", ... */
  foundBy: string;
  /** Guest virtual address of the kernel object (TCB, struct sock). */
  address: bigint;
}

export interface GuestSocket {
  proto: Protocol;
  family: IpFamily;
  localAddress: string;
  localPort: number;
  pid: number;
  /** ms since epoch (Windows address objects carry one); absent when the OS does not record it. */
  createTime?: number;
  foundBy: string;
  address: bigint;
}

export interface ConnectionOwner {
  pid: number;
  process: GuestProcess | undefined;
  connection: GuestConnection | GuestSocket;
  /** "snapshot" when answered from the cached walk, "refresh" when a bounded re-walk was needed. */
  answeredFrom: 'snapshot' | 'refresh';
}

export interface MemoryMapEntry {
  start: bigint;
  end: bigint;
  /** "r-x", "rw-", ... (p/s suffix not included). */
  perms: string;
  shared: boolean;
  /** Private (anonymous/committed) vs file-backed. */
  kind: 'private' | 'file';
  /**
   * File path for file-backed mappings; [heap], [stack], [vdso] for special ones. Linux paths are as the guest's
   * /proc/PID/maps prints them ("/tmp/x (deleted)", "/memfd:NAME (deleted)").
   */
  path?: string;
  offset?: bigint;
  inode?: bigint;
  /** Windows: committed pages of the VAD (its CommitCharge). */
  committedPages?: number;
}

export interface WithProblems<T> {
  items: T[];
  problems: Problem[];
}

export interface ProcessListOptions {
  /**
   * Fill `path` also where the walk does not carry it (Linux: mm->exe_file, read once per process and cached per
   * pid and create time): `true` for every process, or the pids that need it (e.g. the owners of connections).
   * Problems reading paths join the list's problems.
   */
  paths?: boolean | readonly number[];
}

export interface GuestIntrospector {
  info(): GuestInfo;
  processes(options?: ProcessListOptions): WithProblems<GuestProcess>;
  connections(): WithProblems<GuestConnection>;
  sockets(): WithProblems<GuestSocket>;
  /**
   * Owner of a connection seen on the wire (guest endpoint first). Answers from the current snapshot; on a miss,
   * refreshes with one bounded walk and tries again (unless `walk: false`). `undefined` when the guest holds no such
   * connection.
   */
  lookupConnection(tuple: GuestSocketTuple, options?: LookupOptions): ConnectionOwner | undefined;
  memoryMap(pid: number): WithProblems<MemoryMapEntry>;
  /** Re-walks the guest (the guest is running: snapshots go stale). */
  refresh(): void;
  close(): void;
}
