/**
 * GuestIntrospector for Windows XP / Server 2003 x86 guests: kernel discovery, then the EPROCESS list, the
 * loaded-module list and tcpip.sys's connection/socket hash tables, each walked by one native call. Answers
 * `lookupConnection` from a snapshot indexed by tuple; a miss triggers one bounded re-walk.
 */
import { addon } from '../../native.js';
import { ParasightError } from '../../errors.js';
import type { Memory } from '../../memory/memory.js';
import type { AddressSpace } from '../../paging/address-space.js';
import { Profile } from '../../profiles/isf.js';
import {
  builtinWindowsProfiles,
  loadBuiltinWindowsProfile,
  pickWindowsProfile,
  tcpipBuilds,
  type TcpipBuild,
  type WindowsFamily,
} from '../../profiles/windows.js';
import type {
  ConnectionOwner,
  GuestConnection,
  GuestInfo,
  GuestIntrospector,
  GuestProcess,
  GuestSocket,
  GuestSocketTuple,
  LookupOptions,
  MemoryMapEntry,
  Problem,
  WithProblems,
} from '../types.js';
import { discoveryCandidate, kdbgLayout, moduleLayout, processLayout, PROTECTION_PERMS, tcpipLayout, vadLayout } from './layouts.js';
import type { NativeDiscovery, NativeLdrEntry, NativeModule, NativeProcessLayout, NativeRvaSet, NativeTableLocation, NativeWindows } from './native.js';
import { ConnectionIndex } from './index-table.js';

export interface WindowsIntrospectorOptions {
  /** A profile (ISF file path or loaded Profile); default: chosen from the version block / KDBG. */
  profile?: string | Profile;
  /** Kernel DTB (CR3), when known: skips the scan. */
  dtb?: bigint;
  /** KDBG virtual address, when known. */
  kdbg?: bigint;
  /** Paging mode, when known. */
  paging?: 'x86' | 'pae';
  /** Close the memory source when the introspector is closed. */
  ownMemory?: boolean;
  /** Bounds for hostile memory. */
  maxProcesses?: number;
  maxModules?: number;
}

export interface GuestModule {
  name: string;
  path: string;
  base: bigint;
  size: number;
  /** _LDR_DATA_TABLE_ENTRY address. */
  entry: bigint;
}

/** A process found by the pool-tag scan (psscan), matched against the active list. */
export interface ScannedProcess extends GuestProcess {
  /** Physical address of the _EPROCESS body in the scanned image. */
  physical: bigint;
  /**
   * 'pslist+psscan' (also on the active list) or 'psscan' (scan only). `address` is the EPROCESS VA: from the list,
   * or, for a scan-only process, from its own links when they still point at itself; else 0.
   */
  foundBy: 'pslist+psscan' | 'psscan';
  /** Its pool block is free (PoolType 0): the remains of an exited process. */
  freed: boolean;
  /** Live (in-use block, no exit time) but not on the active list: unlinked, i.e. hidden. */
  hidden: boolean;
  threads: number;
}

/** A module of a process from its PEB loader lists (ldrmodules), or an image mapping no list names. */
export interface ProcessModule {
  base: bigint;
  size: number;
  name: string;
  /** Full path from the loader entry, or the mapped file's name when no list has the module. */
  path: string;
  inLoad: boolean;
  inMemory: boolean;
  inInit: boolean;
  /** Path of the file-backed VAD at `base`, when there is one. */
  mappedPath?: string;
  /**
   * True when the lists disagree in a way Windows does not produce: missing from one list (the executable is
   * normally absent from the init-order list only), or an image mapping (file-backed, executable, "MZ" at its
   * start) that no list names.
   */
  suspicious: boolean;
}

/** Executable+writable memory with content (malfind). */
export interface InjectedCodeFinding {
  pid: number;
  processName: string;
  start: bigint;
  end: bigint;
  /** VAD protection name, e.g. PAGE_EXECUTE_READWRITE. */
  protection: string;
  private: boolean;
  residentPages: number;
  contentPages: number;
  /** Where the first bytes were read: the first non-zero page (virtual) and its physical address. */
  readAt: bigint;
  physical: bigint;
  /** First 64 bytes there, hex. */
  head: string;
  /** "MZ" + "PE\0\0" at a page start (the VA of the first one in peAt). */
  peHeader: boolean;
  peAt?: bigint;
  /** A common function prologue at the first content. */
  prologue: boolean;
}

const PROTECTION_NAMES = ['PAGE_NOACCESS', 'PAGE_READONLY', 'PAGE_EXECUTE', 'PAGE_EXECUTE_READ', 'PAGE_READWRITE', 'PAGE_WRITECOPY', 'PAGE_EXECUTE_READWRITE', 'PAGE_EXECUTE_WRITECOPY'];
const PROTECTION_MODIFIERS = ['', 'PAGE_NOCACHE|', 'PAGE_GUARD|', 'PAGE_WRITECOMBINE|'];

export function protectionName(p: number): string {
  return `${PROTECTION_MODIFIERS[(p >> 3) & 3]!}${PROTECTION_NAMES[p & 7]!}`;
}

/** Where a connscan/sockscan object stands against the tcpip.sys tables. */
export interface PoolScanPlacement {
  /** Physical address of the object in the scanned image. */
  physical: bigint;
  /** 'table+pool-scan' (also reached from its hash table) or 'pool-scan' (the scan only). */
  foundBy: 'table+pool-scan' | 'pool-scan';
  /** The pool block is free: a closed connection / socket. */
  freed: boolean;
  /** Live (in-use block) but not reachable from a table that was found: unlinked, i.e. hidden. */
  unlinked: boolean;
}

export type ScannedConnection = Omit<GuestConnection, 'foundBy'> & PoolScanPlacement;
/** `proto` only for TCP and UDP; `protocol` is the IP protocol number. */
export type ScannedSocket = Omit<GuestSocket, 'foundBy' | 'proto'> & { proto?: GuestSocket['proto']; protocol: number } & PoolScanPlacement;

export interface TcpipTablesInfo {
  module?: { base: bigint; size: number; fileVersion?: string; timeDateStamp?: number };
  build?: string;
  tcb?: { table: bigint; count: number; how: string; variable: bigint };
  addr?: { table: bigint; count: number; how: string; variable: bigint };
}

const FILETIME_UNIX_EPOCH = 116444736000000000n;
const POOL_SCAN_INTERVAL_MS = 5000;

function filetimeToMs(ft: bigint): number {
  return ft <= FILETIME_UNIX_EPOCH ? 0 : Number((ft - FILETIME_UNIX_EPOCH) / 10000n);
}

const PROTOCOLS: Record<number, 'tcp' | 'udp'> = { 6: 'tcp', 17: 'udp' };

interface Snapshot {
  processes: WithProblems<GuestProcess>;
  connections: WithProblems<GuestConnection>;
  sockets: WithProblems<GuestSocket>;
  /** Sockets with protocols other than TCP/UDP (raw, GRE...): reported by analyze, not by sockets(). */
  otherSockets: Array<{ protocol: number; localAddress: string; localPort: number; pid: number; createTime?: number; address: bigint }>;
  byPid: Map<number, GuestProcess>;
  index: ConnectionIndex;
}

export class WindowsIntrospector implements GuestIntrospector {
  readonly #native: NativeWindows;
  readonly #memory: Memory;
  readonly #space: AddressSpace;
  readonly #profile: Profile;
  readonly #profileName: string;
  readonly #discovery: NativeDiscovery;
  readonly #info: GuestInfo;
  readonly #processLayout: NativeProcessLayout;
  readonly #options: WindowsIntrospectorOptions;
  #modules: WithProblems<GuestModule> = { items: [], problems: [] };
  #tcpip: TcpipTablesInfo = {};
  #tcpipBuild: TcpipBuild | undefined;
  #knownRvas: NativeRvaSet[] = [];
  #snapshot: Snapshot | undefined;
  /** PEB pointer per listed pid (0 for System). */
  #pebs = new Map<number, bigint>();
  /** Hidden processes the last psscan() located in kernel space: memoryMap & co. answer for them too. */
  #hidden = new Map<number, { proc: GuestProcess; peb: bigint }>();
  #poolCache: { at: number; result: ReturnType<NativeWindows['windows_poolscan']> } | undefined;
  #closed = false;

  private constructor(memory: Memory, options: WindowsIntrospectorOptions) {
    this.#native = addon<NativeWindows>();
    this.#memory = memory;
    this.#options = options;
    const userProfile =
      options.profile === undefined ? undefined : typeof options.profile === 'string' ? Profile.load(options.profile) : options.profile;
    const builtins = builtinWindowsProfiles();
    const candidates = userProfile
      ? [discoveryCandidate(userProfile.name, userProfile)]
      : builtins.map((b) => discoveryCandidate(b.name, loadBuiltinWindowsProfile(b.name)));
    const fallback = loadBuiltinWindowsProfile('xp-sp2-x86');
    const d = this.#native.windows_discover(memory.handle, {
      candidates: dedupe(candidates),
      kdbg: kdbgLayout(userProfile ?? fallback, fallback),
      ...(options.dtb !== undefined ? { dtb: options.dtb } : {}),
      ...(options.kdbg !== undefined ? { kdbgVa: options.kdbg } : {}),
      ...(options.paging !== undefined ? { mode: options.paging === 'pae' ? 1 : 0 } : {}),
    });
    this.#discovery = d;
    if (d.dtb === 0n) {
      throw new ParasightError(
        `${memory.origin}: no Windows XP/2003 x86 kernel found (${d.problems.map((p) => p.message).join('; ') || 'no DTB'})`,
        { code: 'NOT_FOUND', source: memory.origin },
      );
    }
    const family = this.#family(d);
    const sp = servicePack(d);
    if (userProfile) {
      this.#profile = userProfile;
      this.#profileName = userProfile.name;
    } else {
      const pick = pickWindowsProfile(family, sp);
      this.#profile = loadBuiltinWindowsProfile(pick.name);
      this.#profileName = pick.name;
    }
    this.#processLayout = processLayout(this.#profile);
    const paging = d.mode === 1 ? 'pae' : 'x86';
    this.#space = memory.addressSpace({ mode: paging, dtb: d.dtb, windowsTransition: true });
    const build = d.build || (family === 'xp' ? 2600 : 3790);
    const spText = sp !== undefined ? ` SP${sp}` : '';
    this.#info = {
      os: 'windows',
      version: `${d.ntMajor || 5}.${family === 'xp' ? 1 : 2}.${build} (${family === 'xp' ? 'XP' : 'Server 2003'}${spText}${d.ntBuildLab ? `, ${d.ntBuildLab}` : ''})`,
      profile: this.#profileName,
      paging,
      dtb: d.dtb,
      kernelBase: d.kernBase,
      problems: [...d.problems],
    };
    this.#loadModules();
    this.#locateTcpip();
  }

  /** Finds the kernel in `memory` and takes a first snapshot. Throws NOT_FOUND when there is no XP/2003 kernel. */
  static open(memory: Memory, options: WindowsIntrospectorOptions = {}): WindowsIntrospector {
    const w = new WindowsIntrospector(memory, options);
    w.refresh();
    return w;
  }

  /** Discovery details (how DTB and KDBG were found, scanned bytes), for reports and tests. */
  get discovery(): Readonly<NativeDiscovery> {
    return this.#discovery;
  }

  get tcpip(): Readonly<TcpipTablesInfo> {
    return this.#tcpip;
  }

  info(): GuestInfo {
    return this.#info;
  }

  modules(): WithProblems<GuestModule> {
    return this.#modules;
  }

  processes(): WithProblems<GuestProcess> {
    return this.#current().processes;
  }

  connections(): WithProblems<GuestConnection> {
    return this.#current().connections;
  }

  sockets(): WithProblems<GuestSocket> {
    return this.#current().sockets;
  }

  /** Address objects whose protocol is neither TCP nor UDP (raw IP, GRE ...). */
  otherSockets(): Snapshot['otherSockets'] {
    return this.#current().otherSockets;
  }

  lookupConnection(tuple: GuestSocketTuple, options?: LookupOptions): ConnectionOwner | undefined {
    const first = this.#answer(tuple, 'snapshot');
    if (first || options?.walk === false) return first;
    this.refresh();
    return this.#answer(tuple, 'refresh');
  }

  /**
   * psscan: process objects found by a pool-tag scan of physical memory, each matched against the active list.
   * `hidden` = a live process (in-use block, no exit time) that the list does not reach; `freed`/`exitTime` mark
   * the remains of exited processes. Costs one pass over resident guest RAM. Hidden processes whose kernel address
   * is recovered are then answered by memoryMap(), loadedModules() and injectedCode() too.
   */
  psscan(): WithProblems<ScannedProcess> & { bytesScanned: number } {
    const r = this.#native.windows_psscan(this.#memory.handle, this.#processLayout, this.#options.maxProcesses ?? 65536);
    const problems: Problem[] = [...r.problems];
    const listed = new Map<bigint, GuestProcess>();
    for (const p of this.#current().processes.items) {
      try {
        const t = this.#space.translate(p.address);
        listed.set(t.pa, p);
      } catch {
        problems.push({ code: 'READ', message: `EPROCESS ${p.address.toString(16)} (pid ${p.pid}) does not translate: not matched`, address: p.address, walk: 'psscan' });
      }
    }
    this.#hidden.clear();
    const items = r.items.map((s): ScannedProcess => {
      const onList = listed.get(s.physical);
      const exited = s.exitTime !== 0n;
      // An unlinked process usually keeps links to itself (that is how it is unlinked safely): a link that leads
      // back to this very object gives its kernel address, so its VADs and modules can be walked too.
      let address = onList?.address ?? 0n;
      if (!onList && !s.freed) {
        for (const link of [s.flink, s.blink]) {
          const va = link - BigInt(this.#processLayout.links);
          if (link === 0n || va < 0x80000000n) continue;
          try {
            if (this.#space.translate(va).pa === s.physical) {
              address = va;
              break;
            }
          } catch {
            // the link leads nowhere mapped
          }
        }
      }
      const x: ScannedProcess = {
        pid: s.pid,
        ppid: s.ppid,
        name: s.name,
        createTime: filetimeToMs(s.createTime),
        createTimeBase: 'epoch',
        dtb: s.dtb,
        address,
        physical: s.physical,
        foundBy: onList ? 'pslist+psscan' : 'psscan',
        freed: s.freed,
        hidden: !onList && !exited && !s.freed,
        threads: s.threads,
      };
      if (exited) x.exitTime = filetimeToMs(s.exitTime);
      if (onList?.path !== undefined) x.path = onList.path;
      if (x.hidden && address !== 0n) this.#hidden.set(x.pid, { proc: x, peb: s.peb });
      return x;
    });
    return { items, problems, bytesScanned: r.bytesScanned };
  }

  /**
   * ldrmodules: the process's modules from its three PEB loader lists (load, memory, init order), which lists
   * name each, and image mappings (file-backed executable VADs starting with "MZ") that no list names.
   */
  loadedModules(pid: number): WithProblems<ProcessModule> {
    const proc = this.#processFor(pid);
    const peb = proc && (this.#pebs.get(pid) ?? this.#hidden.get(pid)?.peb);
    if (!proc || peb === undefined || proc.dtb === undefined) {
      return { items: [], problems: [{ code: 'NOT_FOUND', message: `no process with pid ${pid}`, walk: 'ldr' }] };
    }
    if (peb === 0n) return { items: [], problems: [] }; // System and kernel-only processes have no loader lists
    const r = this.#native.windows_ldr(this.#space.handle, proc.dtb, peb, 4096);
    const problems: Problem[] = [...r.problems];
    const byBase = new Map<bigint, ProcessModule>();
    const lists: Array<[NativeLdrEntry[], 'inLoad' | 'inMemory' | 'inInit']> = [
      [r.load, 'inLoad'],
      [r.memory, 'inMemory'],
      [r.init, 'inInit'],
    ];
    for (const [list, key] of lists) {
      for (const e of list) {
        let m = byBase.get(e.base);
        if (!m) {
          m = { base: e.base, size: e.size, name: e.name, path: e.path, inLoad: false, inMemory: false, inInit: false, suspicious: false };
          byBase.set(e.base, m);
        }
        m[key] = true;
      }
    }
    const map = this.memoryMap(pid);
    problems.push(...map.problems);
    const exeBase = r.load[0]?.base;
    let space: AddressSpace | undefined;
    try {
      for (const v of map.items) {
        if (v.kind !== 'file' || v.path === undefined) continue;
        const m = byBase.get(v.start);
        if (m) {
          m.mappedPath = v.path;
          continue;
        }
        if (!v.perms.includes('x')) continue;
        space ??= this.#memory.addressSpace({ mode: this.#space.mode, dtb: proc.dtb, windowsTransition: true });
        let head: Uint8Array;
        try {
          head = space.read(v.start, 2);
        } catch {
          continue; // image header not resident: cannot tell an image from a data mapping
        }
        if (head[0] !== 0x4d || head[1] !== 0x5a) continue;
        const name = v.path.slice(v.path.lastIndexOf('\\') + 1);
        byBase.set(v.start, { base: v.start, size: Number(v.end - v.start), name, path: v.path, inLoad: false, inMemory: false, inInit: false, mappedPath: v.path, suspicious: true });
      }
    } finally {
      space?.close();
    }
    const items = [...byBase.values()].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
    for (const m of items) {
      const isExe = m.base === exeBase;
      if (!m.inLoad || !m.inMemory || (!m.inInit && !isExe)) m.suspicious = true;
    }
    return { items, problems };
  }

  /** malfind: executable+writable VADs with resident non-zero content, with the evidence found in them. */
  injectedCode(pid: number): WithProblems<InjectedCodeFinding> {
    const proc = this.#processFor(pid);
    if (!proc || proc.dtb === undefined) return { items: [], problems: [{ code: 'NOT_FOUND', message: `no process with pid ${pid}`, walk: 'malfind' }] };
    if ((this.#pebs.get(pid) ?? this.#hidden.get(pid)?.peb) === 0n) return { items: [], problems: [] };
    let layout;
    try {
      layout = vadLayout(this.#profile);
    } catch (e) {
      return { items: [], problems: [{ code: 'UNSUPPORTED', message: (e as Error).message, walk: 'malfind' }] };
    }
    const r = this.#native.windows_malfind(this.#space.handle, layout, proc.address, proc.dtb, 16384);
    const items = r.items.map((f): InjectedCodeFinding => ({
      pid,
      processName: proc.name,
      start: f.start,
      end: f.end,
      protection: protectionName(f.protection),
      private: f.private,
      residentPages: f.residentPages,
      contentPages: f.contentPages,
      readAt: f.readAt,
      physical: f.physical,
      head: Buffer.from(f.head).toString('hex'),
      peHeader: f.peHeader,
      ...(f.peAt !== undefined ? { peAt: f.peAt } : {}),
      prologue: f.prologue,
    }));
    return { items, problems: r.problems };
  }

  /**
   * connscan/sockscan on demand: TCPT/TCPA pool blocks over physical memory, each matched against the objects the
   * hash tables reach (by physical address). Closed objects (freed blocks) and live ones unlinked from a table
   * that was found are told apart; `address` is the table's virtual address when matched, else 0.
   */
  connscan(): { connections: ScannedConnection[]; sockets: ScannedSocket[]; bytesScanned: number; problems: Problem[] } {
    const snap = this.#current();
    const layout = tcpipLayout(this.#tcpipBuild ?? tcpipBuilds().find((b) => b.family === this.#family(this.#discovery) && b.rvas === null)!);
    const r = this.#native.windows_poolscan(this.#memory.handle, layout, 1 << 16);
    const problems: Problem[] = [...r.problems];
    const onTable = new Map<bigint, bigint>();
    const tableObjects = [
      ...snap.connections.items.filter((c) => c.foundBy === 'tcb-table').map((c) => c.address),
      ...snap.sockets.items.filter((x) => x.foundBy === 'addrobj-table').map((x) => x.address),
      ...snap.otherSockets.map((x) => x.address),
    ];
    for (const va of tableObjects) {
      try {
        onTable.set(this.#space.translate(va).pa, va);
      } catch {
        problems.push({ code: 'READ', message: `table object ${va.toString(16)} does not translate: not matched`, address: va, walk: 'pool-scan' });
      }
    }
    const place = (pa: bigint, freed: boolean, tableFound: boolean): PoolScanPlacement & { address: bigint } => {
      const va = onTable.get(pa);
      return { physical: pa, address: va ?? 0n, foundBy: va !== undefined ? 'table+pool-scan' : 'pool-scan', freed, unlinked: tableFound && va === undefined && !freed };
    };
    const connections = r.connections.map((c): ScannedConnection => ({
      proto: 'tcp',
      family: 4,
      localAddress: c.localAddress,
      localPort: c.localPort,
      remoteAddress: c.remoteAddress,
      remotePort: c.remotePort,
      state: 'UNKNOWN',
      pid: c.pid,
      ...place(c.address, c.freed, this.#tcpip.tcb !== undefined),
    }));
    const sockets = r.sockets.map((x): ScannedSocket => ({
      ...(PROTOCOLS[x.protocol] ? { proto: PROTOCOLS[x.protocol] } : {}),
      protocol: x.protocol,
      family: 4,
      localAddress: x.localAddress,
      localPort: x.port,
      pid: x.pid,
      createTime: filetimeToMs(x.createTime),
      ...place(x.address, x.freed, this.#tcpip.addr !== undefined),
    }));
    return { connections, sockets, bytesScanned: r.bytesScanned, problems };
  }

  // A listed process, else a hidden one located by the last psscan().
  #processFor(pid: number): GuestProcess | undefined {
    return this.#current().byPid.get(pid) ?? this.#hidden.get(pid)?.proc;
  }

  /** The process's VADs: range, protection, private vs file-backed (with the mapped file's path). */
  memoryMap(pid: number): WithProblems<MemoryMapEntry> {
    const proc = this.#processFor(pid);
    if (!proc) return { items: [], problems: [{ code: 'NOT_FOUND', message: `no process with pid ${pid}`, walk: 'vad' }] };
    let layout;
    try {
      layout = vadLayout(this.#profile);
    } catch (e) {
      return { items: [], problems: [{ code: 'UNSUPPORTED', message: (e as Error).message, walk: 'vad' }] };
    }
    const r = this.#native.windows_vads(this.#space.handle, layout, proc.address, 65536);
    const items = r.items.map((v): MemoryMapEntry => {
      const perms = PROTECTION_PERMS[v.protection & 7]!;
      const writeCopy = (v.protection & 7) === 5 || (v.protection & 7) === 7;
      return {
        start: v.start,
        end: v.end,
        perms,
        shared: !v.private && !writeCopy,
        kind: v.private ? 'private' : 'file',
        ...(v.path !== undefined ? { path: v.path } : {}),
        committedPages: v.commit,
      };
    });
    return { items, problems: r.problems };
  }

  refresh(): void {
    this.#check();
    this.#space.invalidate();
    const d = this.#discovery;
    const procProblems: Problem[] = [];
    let procItems: GuestProcess[] = [];
    if (d.psActiveProcessHead !== 0n) {
      const r = this.#native.windows_processes(this.#space.handle, this.#processLayout, d.psActiveProcessHead, this.#options.maxProcesses ?? 65536, true);
      procProblems.push(...r.problems);
      this.#pebs = new Map(r.items.map((p) => [p.pid, p.peb]));
      procItems = r.items.map((p) => {
        const g: GuestProcess = {
          pid: p.pid,
          ppid: p.ppid,
          name: p.name,
          createTime: filetimeToMs(p.createTime),
          createTimeBase: 'epoch',
          dtb: p.dtb,
          address: p.address,
          foundBy: 'pslist',
        };
        if (p.path !== undefined) g.path = p.path;
        if (p.exitTime !== 0n) g.exitTime = filetimeToMs(p.exitTime);
        return g;
      });
    } else {
      procProblems.push({ code: 'NOT_FOUND', message: 'PsActiveProcessHead unknown (no KDBG): process list not walked', walk: 'pslist' });
    }
    const connections: GuestConnection[] = [];
    const sockets: GuestSocket[] = [];
    const otherSockets: Snapshot['otherSockets'] = [];
    const netProblems: Problem[] = [];
    const mod = this.#tcpip.module;
    if (mod && this.#tcpipBuild) {
      const r = this.#native.windows_tcpip(this.#space.handle, tcpipLayout(this.#tcpipBuild), mod.base, mod.size, this.#knownRvas, true);
      netProblems.push(...r.problems);
      this.#tcpip.tcb = r.tcb.found ? { table: r.tcb.table, count: r.tcb.count, how: r.tcb.how, variable: r.tcb.variable } : undefined;
      this.#tcpip.addr = r.addr.found ? { table: r.addr.table, count: r.addr.count, how: r.addr.how, variable: r.addr.variable } : undefined;
      this.#rememberScan(r.tcb, r.addr);
      for (const c of r.connections) {
        connections.push({
          proto: 'tcp',
          family: 4,
          localAddress: c.localAddress,
          localPort: c.localPort,
          remoteAddress: c.remoteAddress,
          remotePort: c.remotePort,
          state: 'UNKNOWN',
          pid: c.pid,
          foundBy: 'tcb-table',
          address: c.address,
        });
      }
      for (const s of r.sockets) {
        const proto = PROTOCOLS[s.protocol];
        const createTime = filetimeToMs(s.createTime);
        if (!proto) {
          otherSockets.push({ protocol: s.protocol, localAddress: s.localAddress, localPort: s.port, pid: s.pid, createTime, address: s.address });
          continue;
        }
        sockets.push({ proto, family: 4, localAddress: s.localAddress, localPort: s.port, pid: s.pid, createTime, foundBy: 'addrobj-table', address: s.address });
      }
    } else {
      netProblems.push({ code: 'NOT_FOUND', message: 'tcpip.sys is not in the loaded-module list', walk: 'tcpip' });
    }
    if (!this.#tcpip.tcb || !this.#tcpip.addr) this.#poolScan(connections, sockets, otherSockets, netProblems);
    const byPid = new Map<number, GuestProcess>();
    for (const p of procItems) if (!byPid.has(p.pid) || p.exitTime === undefined) byPid.set(p.pid, p);
    const index = new ConnectionIndex();
    for (const c of connections) index.addConnection(c);
    for (const s of sockets) index.addSocket(s);
    this.#snapshot = {
      processes: { items: procItems, problems: procProblems },
      connections: { items: connections, problems: netProblems },
      sockets: { items: sockets, problems: netProblems },
      otherSockets,
      byPid,
      index,
    };
  }

  // connscan/sockscan over physical memory when a hash table could not be found: live and closed objects, found
  // by pool tag. A whole-memory pass, so it runs at most every POOL_SCAN_INTERVAL_MS (results are reused between).
  #poolScan(connections: GuestConnection[], sockets: GuestSocket[], other: Snapshot['otherSockets'], problems: Problem[]): void {
    const now = Date.now();
    if (!this.#poolCache || now - this.#poolCache.at >= POOL_SCAN_INTERVAL_MS) {
      const layout = tcpipLayout(this.#tcpipBuild ?? tcpipBuilds().find((b) => b.family === this.#family(this.#discovery) && b.rvas === null)!);
      this.#poolCache = { at: now, result: this.#native.windows_poolscan(this.#memory.handle, layout, 1 << 16) };
    }
    const r = this.#poolCache.result;
    problems.push(...r.problems, {
      code: 'PARTIAL',
      message: `connections/sockets from a pool-tag scan of physical memory (closed ones included; addresses are physical): ${r.connections.length} TCPT, ${r.sockets.length} TCPA`,
      walk: 'pool-scan',
    });
    if (!this.#tcpip.tcb) {
      for (const c of r.connections) {
        connections.push({ proto: 'tcp', family: 4, localAddress: c.localAddress, localPort: c.localPort, remoteAddress: c.remoteAddress, remotePort: c.remotePort, state: 'UNKNOWN', pid: c.pid, foundBy: 'pool-scan', address: c.address });
      }
    }
    if (!this.#tcpip.addr) {
      for (const s of r.sockets) {
        const proto = PROTOCOLS[s.protocol];
        const createTime = filetimeToMs(s.createTime);
        if (proto) sockets.push({ proto, family: 4, localAddress: s.localAddress, localPort: s.port, pid: s.pid, createTime, foundBy: 'pool-scan', address: s.address });
        else other.push({ protocol: s.protocol, localAddress: s.localAddress, localPort: s.port, pid: s.pid, createTime, address: s.address });
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#snapshot = undefined;
    this.#space.close();
    if (this.#options.ownMemory) this.#memory.close();
  }

  #check(): void {
    if (this.#closed) throw new ParasightError('introspector is closed', { code: 'CLOSED', source: this.#memory.origin });
  }

  #current(): Snapshot {
    this.#check();
    if (!this.#snapshot) this.refresh();
    return this.#snapshot!;
  }

  #answer(tuple: GuestSocketTuple, from: 'snapshot' | 'refresh'): ConnectionOwner | undefined {
    const snap = this.#current();
    const hit = snap.index.lookup(tuple);
    if (!hit) return undefined;
    return { pid: hit.pid, process: snap.byPid.get(hit.pid), connection: hit, answeredFrom: from };
  }

  #family(d: NativeDiscovery): WindowsFamily {
    if (d.build === 3790 || d.kdbgSize === 0x318 || (d.build === 0 && d.ntMinor === 2)) return '2003';
    if (d.build === 2600 || d.kdbgSize === 0x290 || d.ntMinor === 1) return 'xp';
    return d.candidate.startsWith('2003') ? '2003' : 'xp';
  }

  #loadModules(): void {
    const head = this.#discovery.psLoadedModuleList;
    if (head === 0n) {
      this.#modules = { items: [], problems: [{ code: 'NOT_FOUND', message: 'PsLoadedModuleList unknown', walk: 'modules' }] };
      return;
    }
    const r = this.#native.windows_modules(this.#space.handle, moduleLayout(this.#profile), head, this.#options.maxModules ?? 4096);
    this.#modules = { items: r.items.map((m: NativeModule) => ({ name: m.name, path: m.path, base: m.base, size: m.size, entry: m.entry })), problems: r.problems };
  }

  // tcpip.sys: its build from the version resource picks the data file (RVAs + structure layouts); every other
  // RVA set of the family is tried after it, and the driver's data is scanned when none validates.
  #locateTcpip(): void {
    const m = this.#modules.items.find((x) => x.name.toLowerCase() === 'tcpip.sys');
    if (!m) return;
    const pe = this.#native.windows_pe(this.#space.handle, m.base, m.size);
    this.#tcpip.module = { base: m.base, size: m.size, ...(pe.fileVersion ? { fileVersion: pe.fileVersion } : {}), ...(pe.ok ? { timeDateStamp: pe.timeDateStamp } : {}) };
    const family = this.#family(this.#discovery);
    const all = tcpipBuilds().filter((b) => b.family === family);
    const exact = all.find((b) => b.fileVersion !== null && b.fileVersion === pe.fileVersion);
    this.#tcpipBuild = exact ?? all.find((b) => b.rvas === null) ?? all[0];
    this.#tcpip.build = exact ? exact.fileVersion! : `unknown${pe.fileVersion ? ` (${pe.fileVersion})` : ''}`;
    const ordered = exact ? [exact, ...all.filter((b) => b !== exact)] : all;
    // Other builds' RVAs are only worth trying with the same structure layout.
    const layoutKey = JSON.stringify(this.#tcpipBuild?.types);
    this.#knownRvas = ordered
      .filter((b) => b.rvas !== null && JSON.stringify(b.types) === layoutKey)
      .map((b) => ({
        name: b.fileVersion ?? b.key,
        tcbTable: b.rvas!._TCBTable,
        tcbSize: b.rvas!._MaxHashTableSize,
        addrObjTable: b.rvas!._AddrObjTable,
        addrObjTableSize: b.rvas!._AddrObjTableSize,
        exact: b === exact,
      }));
  }

  // Once a scan found the tables, later refreshes go straight to the variables it found (with the bucket count it
  // inferred when the count variable itself was not identified).
  #rememberScan(tcb: NativeTableLocation, addr: NativeTableLocation): void {
    const base = this.#tcpip.module?.base;
    if (base === undefined || (tcb.how !== 'scan' && addr.how !== 'scan') || !tcb.found || !addr.found) return;
    if (this.#knownRvas.some((r) => r.name === 'scanned')) return;
    const rva = (v: bigint): number => (v === 0n ? 0 : Number(v - base));
    this.#knownRvas.unshift({
      name: 'scanned',
      tcbTable: rva(tcb.variable),
      tcbSize: rva(tcb.countVariable),
      addrObjTable: rva(addr.variable),
      addrObjTableSize: rva(addr.countVariable),
      exact: true,
      tcbCount: tcb.countVariable === 0n ? tcb.count : 0,
      addrObjCount: addr.countVariable === 0n ? addr.count : 0,
    });
  }
}

function servicePack(d: NativeDiscovery): number | undefined {
  if (d.csdVersion !== undefined) return (d.csdVersion >> 8) & 0xff;
  const m = /sp(\d)/i.exec(d.ntBuildLab);
  return m ? Number(m[1]) : undefined;
}

function dedupe<T extends { signature: number; dtb: number; pid: number; name: number; peb: number; links: number }>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter((c) => {
    const k = `${c.signature}:${c.dtb}:${c.pid}:${c.name}:${c.peb}:${c.links}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
