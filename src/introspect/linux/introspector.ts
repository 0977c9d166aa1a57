/**
 * The Linux GuestIntrospector: finds the kernel in guest memory by itself (KASLR slide, page_offset_base, kernel
 * page tables) using a profile generated from the kernel image, walks task list and fd tables in C++ (one native
 * call per walk), and answers `lookupConnection` from a snapshot index; a miss runs one bounded native search
 * that stops at the first matching socket, and its answer is added to the index.
 */
import { addon } from '../../native.js';
import { ParasightError } from '../../errors.js';
import type { Memory } from '../../memory/memory.js';
import type { AddressSpace } from '../../paging/address-space.js';
import { Profile } from '../../profiles/isf.js';
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
  ProcessListOptions,
  WithProblems,
} from '../types.js';
import { exeLayout, readExePaths, type ExeLayout } from './exe.js';
import { formatAddress, parseAddress } from './ip.js';
import { linuxLayout, linuxSymbols } from './layout.js';
import type { NativeLinux, NativeLinuxWalk } from './native.js';
import { readMemoryMap, vmaLayout, type VmaLayout } from './vma.js';
import type { NativeHandle } from '../../native.js';

export interface LinuxIntrospectorOptions {
  /** A Linux profile (ISF from `parasight profile`): path or loaded Profile. Required. */
  profile: string | Profile;
  /** Close the memory source when the introspector is closed. */
  ownMemory?: boolean;
  maxTasks?: number;
  maxFdsPerTable?: number;
  maxSockets?: number;
  /** memoryMap bounds: VMAs per process (the kernel's own limit is 65530), maple tree nodes, path depth. */
  maxVmas?: number;
}

/** How lookupConnection answered so far, by stage (the cheapest that settled each lookup). */
export interface LinuxLookupStats {
  /** From the snapshot index. */
  snapshot: number;
  /** A new descriptor in one of the fd tables that changed lately (looked at first). */
  hotTables: number;
  /** A new descriptor in an fd table the last sweep knew. */
  knownTables: number;
  /** A task created since the last sweep. */
  newTasks: number;
  /** A full sweep (it also answers "no owner"). */
  sweeps: number;
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE',
  'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV'];
const TCP_LISTEN = 10;
const PROTO_NUMBER = { tcp: 6, udp: 17 } as const;
const ANY6 = '::';
const ANY4 = '::ffff:0.0.0.0';

interface Snapshot {
  processes: WithProblems<GuestProcess>;
  connections: WithProblems<GuestConnection>;
  sockets: WithProblems<GuestSocket>;
  byPid: Map<number, GuestProcess>;
  index: Map<string, GuestConnection | GuestSocket>;
}

/** Index form of canonical text: IPv4 as ::ffff:a.b.c.d, so v4 traffic finds dual-stack v6 sockets too. */
function indexForm(address: string): string {
  return address.includes(':') ? address : `::ffff:${address}`;
}

function key(proto: string, la: string, lp: number, ra: string, rp: number): string {
  return `${proto}|${la}|${lp}|${ra}|${rp}`;
}

export class LinuxIntrospector implements GuestIntrospector {
  readonly #native: NativeLinux;
  readonly #memory: Memory;
  readonly #space: AddressSpace;
  readonly #walker: NativeHandle;
  readonly #info: GuestInfo;
  readonly #ownMemory: boolean;
  // Address text → its 16-byte form and canonical text: a guest's addresses and its peers' repeat, and parsing and
  // formatting them anew cost more than the rest of a lookup's JS. Bounded: cleared when full.
  readonly #canon = new Map<string, { text: string; bytes: Uint8Array }>();
  #snapshot: Snapshot | undefined;
  #closed = false;
  readonly #profile: Profile;
  readonly #slide: bigint;
  readonly #pageOffsetBase: bigint;
  readonly #maxVmas: number;
  #vma: VmaLayout | ParasightError | undefined;
  #exe: ExeLayout | ParasightError | undefined;
  /**
   * Executable paths read so far, by pid. The create time tells a reused pid; the page-table root an exec (it gets
   * a new mm while the old one still exists, so the new root differs).
   */
  readonly #exePaths = new Map<number, { createTime: number; dtb: bigint | undefined; path: string | undefined }>();
  readonly #stats: LinuxLookupStats = { snapshot: 0, hotTables: 0, knownTables: 0, newTasks: 0, sweeps: 0 };

  private constructor(memory: Memory, profile: Profile, options: LinuxIntrospectorOptions) {
    this.#native = addon<NativeLinux>();
    this.#memory = memory;
    this.#ownMemory = options.ownMemory === true;
    this.#profile = profile;
    this.#maxVmas = options.maxVmas ?? 65536;
    const syms = linuxSymbols(profile);
    const linux = (profile.doc.metadata.linux ?? {}) as { banner?: string; release?: string };
    if (!linux.banner) {
      throw new ParasightError(`profile ${profile.name} has no kernel banner (metadata.linux.banner)`, { code: 'NOT_FOUND', source: profile.name });
    }
    const d = this.#native.linux_discover(memory.handle, {
      banner: linux.banner,
      text: syms.text,
      linuxBanner: syms.linuxBanner,
      initTopPgt: syms.initTopPgt,
      initTask: syms.initTask,
      pageOffsetBase: syms.pageOffsetBase ?? 0n,
      realParentOffset: profile.offset('task_struct', 'real_parent'),
    });
    if (!d.ok) {
      throw new ParasightError(
        `no Linux kernel matching profile ${profile.name} in ${memory.origin}: ${d.notes.join('; ') || 'not found'}`,
        { code: 'NOT_FOUND', source: memory.origin },
      );
    }
    this.#slide = d.slide;
    this.#pageOffsetBase = d.pageOffsetBase;
    this.#space = memory.addressSpace({ mode: 'ia32e', dtb: d.dtb });
    const layout = linuxLayout(profile, d.slide, d.pageOffsetBase);
    this.#walker = this.#native.linux_walker_create(this.#space.handle, layout, syms.initTask + d.slide, {
      maxTasks: options.maxTasks ?? 65536,
      maxFdsPerTable: options.maxFdsPerTable ?? 65536,
      maxSockets: options.maxSockets ?? 262144,
    });
    this.#info = {
      os: 'linux',
      version: linux.release ?? '',
      profile: profile.name,
      paging: 'ia32e',
      dtb: d.dtb,
      kernelBase: syms.text + d.slide,
      kaslrSlide: d.slide,
      problems: [],
    };
  }

  /** Finds the kernel described by `options.profile` in `memory`; NOT_FOUND when it is not there. */
  static open(memory: Memory, options: LinuxIntrospectorOptions): LinuxIntrospector {
    const profile = typeof options.profile === 'string' ? Profile.load(options.profile) : options.profile;
    if (profile.os !== 'linux') {
      throw new ParasightError(`profile ${profile.name} is not a Linux profile`, { code: 'NOT_FOUND', source: profile.name });
    }
    return new LinuxIntrospector(memory, profile, options);
  }

  info(): GuestInfo {
    this.#check();
    return this.#info;
  }

  /** The task list of the snapshot; with `paths`, executable paths too (each read once, then cached). */
  processes(options?: ProcessListOptions): WithProblems<GuestProcess> {
    const snap = this.#current();
    const list = snap.processes;
    const want = options?.paths;
    if (!want) return list;
    let items = list.items;
    if (want !== true) {
      items = [];
      for (let i = 0; i < want.length; i++) {
        const p = snap.byPid.get(want[i]!);
        if (p !== undefined) items.push(p);
      }
    }
    const problems = this.#fillPaths(items);
    return problems.length === 0 ? list : { items: list.items, problems: [...list.problems, ...problems] };
  }

  connections(): WithProblems<GuestConnection> {
    return this.#current().connections;
  }

  sockets(): WithProblems<GuestSocket> {
    return this.#current().sockets;
  }

  lookupConnection(tuple: GuestSocketTuple, options?: LookupOptions): ConnectionOwner | undefined {
    const snap = this.#current();
    // Fast path: the sensor hands over canonical text (what its decoder prints); anything else is canonicalised
    // before the index is declared a miss.
    const la = indexForm(tuple.localAddress);
    const ra = indexForm(tuple.remoteAddress);
    let hit = this.#fromIndex(snap, tuple, la, ra);
    if (hit) return this.#fromSnapshot(snap, hit);
    const local = this.#canonical(tuple.localAddress);
    const remote = this.#canonical(tuple.remoteAddress);
    // Already canonical (what the sensor hands over): the same keys would miss again.
    if (local.text !== la || remote.text !== ra) hit = this.#fromIndex(snap, tuple, local.text, remote.text);
    if (hit) return this.#fromSnapshot(snap, hit);
    if (options?.walk === false) return undefined;
    // One bounded walk: changed fd tables the last sweep knew (those that changed lately first), then tasks created
    // since, else a full sweep that becomes the snapshot.
    const r = this.#native.linux_find(this.#walker, PROTO_NUMBER[tuple.proto], tuple.localPort, tuple.remotePort, local.bytes, remote.bytes);
    let found: GuestConnection | GuestSocket | undefined;
    if (r.stage === 'hot-tables') this.#stats.hotTables++;
    else if (r.stage === 'known-tables') this.#stats.knownTables++;
    else if (r.stage === 'new-tasks') this.#stats.newTasks++;
    else this.#stats.sweeps++;
    if (r.stage === 'sweep') {
      const next = this.#snapshotOf(r);
      this.#snapshot = next;
      if (r.match < 0) return undefined;
      found = this.#itemAt(next, r, r.match);
    } else {
      if (r.match < 0) return undefined;
      const { processes, connections, sockets } = this.#decode(r);
      const process = processes[0]!;
      const before = snap.byPid.get(process.pid);
      if (!before) {
        snap.processes.items.push(process);
        snap.byPid.set(process.pid, process);
      } else if (before.address !== process.address || before.name !== process.name || before.createTime !== process.createTime) {
        // The pid exec'd (new name) or was reused since the sweep: the walker's fresh record replaces the old one.
        snap.processes.items[snap.processes.items.indexOf(before)] = process;
        snap.byPid.set(process.pid, process);
      }
      found = connections[0] ?? sockets[0]!;
      this.#addToIndex(snap, found);
      if ('state' in found) snap.connections.items.push(found);
      else snap.sockets.items.push(found);
    }
    const now = this.#snapshot!;
    return found && { pid: found.pid, process: now.byPid.get(found.pid), connection: found, answeredFrom: 'refresh' };
  }

  /** Lookups answered so far, by the stage that settled them (a copy). */
  lookupStats(): LinuxLookupStats {
    return { ...this.#stats };
  }

  /** The VMAs of a process as its /proc/PID/maps lists them (read from the kernel's maple tree, not the process). */
  memoryMap(pid: number): WithProblems<MemoryMapEntry> {
    let process = this.#current().byPid.get(pid);
    if (!process) {
      this.refresh();
      process = this.#current().byPid.get(pid);
    }
    if (!process) {
      return { items: [], problems: [{ code: 'NOT_FOUND', message: `no process with pid ${pid} in the guest`, walk: 'vma' }] };
    }
    if (this.#vma === undefined) {
      try {
        this.#vma = vmaLayout(this.#profile, this.#slide);
      } catch (e) {
        // A profile generated before the VMA structs were extracted: the rest of the introspector still works.
        this.#vma = e instanceof ParasightError ? e : new ParasightError(String(e), { code: 'NOT_FOUND' });
      }
    }
    if (this.#vma instanceof ParasightError) {
      return { items: [], problems: [{ code: 'UNSUPPORTED', message: `memory maps need ${this.#vma.message}`, walk: 'vma' }] };
    }
    let mm: bigint;
    try {
      const b = this.#space.read(process.address + BigInt(this.#profile.offset('task_struct', 'mm')), 8);
      mm = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    } catch (e) {
      return { items: [], problems: [{ code: 'BAD_POINTER', message: `task of pid ${pid}: ${(e as Error).message}`, address: process.address, walk: 'vma' }] };
    }
    return readMemoryMap(this.#space, this.#vma, mm, { maxVmas: this.#maxVmas, maxNodes: 16384, maxPathDepth: 64 }, {
      memory: this.#memory,
      pageOffsetBase: this.#pageOffsetBase,
    });
  }

  // Sets `path` on the processes given, from the cache or with one batched read for the rest.
  #fillPaths(items: GuestProcess[]): Problem[] {
    const todo: GuestProcess[] = [];
    for (const p of items) {
      if (p.path !== undefined) continue;
      const c = this.#exePaths.get(p.pid);
      if (c === undefined || c.createTime !== p.createTime || c.dtb !== p.dtb) todo.push(p);
      else if (c.path !== undefined) p.path = c.path;
    }
    if (todo.length === 0) return [];
    if (this.#exe === undefined) {
      try {
        this.#exe = exeLayout(this.#profile);
      } catch (e) {
        this.#exe = e instanceof ParasightError ? e : new ParasightError(String(e), { code: 'NOT_FOUND' });
      }
    }
    if (this.#exe instanceof ParasightError) {
      return [{ code: 'UNSUPPORTED', message: `executable paths need ${this.#exe.message}`, walk: 'exe' }];
    }
    const direct = { memory: this.#memory, pageOffsetBase: this.#pageOffsetBase };
    const { paths, problems } = readExePaths(this.#space, this.#exe, todo, direct);
    // Bounded: entries of processes gone from the snapshot are dropped once the cache outgrows it.
    const live = this.#current().byPid;
    if (this.#exePaths.size > 2 * live.size + 1024) for (const pid of this.#exePaths.keys()) if (!live.has(pid)) this.#exePaths.delete(pid);
    todo.forEach((p, i) => {
      const path = paths[i];
      if (path !== undefined) p.path = path;
      // A path that could not be read is asked again next time; a kernel thread has none to read.
      if (path !== undefined || p.dtb === undefined) this.#exePaths.set(p.pid, { createTime: p.createTime, dtb: p.dtb, path });
    });
    return problems;
  }

  refresh(): void {
    this.#check();
    this.#space.invalidate();
    this.#snapshot = this.#snapshotOf(this.#native.linux_walk(this.#walker, true));
  }

  #snapshotOf(r: NativeLinuxWalk): Snapshot {
    const { processes, connections, sockets } = this.#decode(r);
    const byPid = new Map<number, GuestProcess>();
    for (const p of processes) byPid.set(p.pid, p);
    const snap: Snapshot = {
      processes: { items: processes, problems: r.problems.filter((p) => p.walk === 'task-list') },
      connections: { items: connections, problems: r.problems.filter((p) => p.walk !== 'task-list') },
      sockets: { items: sockets, problems: r.problems.filter((p) => p.walk !== 'task-list') },
      byPid,
      index: new Map(),
    };
    for (const c of connections) this.#addToIndex(snap, c);
    for (const s of sockets) this.#addToIndex(snap, s);
    return snap;
  }

  // The decoded item for native socket index i (connections and sockets are split by kind while decoding).
  #itemAt(snap: Snapshot, r: NativeLinuxWalk, i: number): GuestConnection | GuestSocket | undefined {
    const sock = r.sockU64[i * 2];
    return snap.connections.items.find((c) => c.address === sock) ?? snap.sockets.items.find((s) => s.address === sock);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.linux_walker_close(this.#walker);
    this.#space.close();
    if (this.#ownMemory) this.#memory.close();
  }

  #check(): void {
    if (this.#closed) throw new ParasightError('Linux introspector is closed', { code: 'CLOSED' });
  }

  #current(): Snapshot {
    this.#check();
    if (!this.#snapshot) this.refresh();
    return this.#snapshot!;
  }

  #fromSnapshot(snap: Snapshot, hit: GuestConnection | GuestSocket): ConnectionOwner {
    this.#stats.snapshot++;
    return { pid: hit.pid, process: snap.byPid.get(hit.pid), connection: hit, answeredFrom: 'snapshot' };
  }

  #canonical(address: string): { text: string; bytes: Uint8Array } {
    let c = this.#canon.get(address);
    if (!c) {
      const bytes = new Uint8Array(16);
      parseAddress(address, bytes);
      c = { text: formatAddress(bytes, 0, 6), bytes };
      if (this.#canon.size >= 4096) this.#canon.clear();
      this.#canon.set(address, c);
    }
    return c;
  }

  #fromIndex(snap: Snapshot, t: GuestSocketTuple, la: string, ra: string): GuestConnection | GuestSocket | undefined {
    const idx = snap.index;
    return (
      idx.get(key(t.proto, la, t.localPort, ra, t.remotePort)) ??
      idx.get(key(t.proto, la, t.localPort, ANY6, 0)) ??
      idx.get(key(t.proto, ANY4, t.localPort, ANY6, 0)) ??
      idx.get(key(t.proto, ANY6, t.localPort, ANY6, 0))
    );
  }

  #addToIndex(snap: Snapshot, item: GuestConnection | GuestSocket): void {
    // Addresses here come from formatAddress: canonical already.
    const la = indexForm(item.localAddress);
    const k =
      'state' in item
        ? key(item.proto, la, item.localPort, indexForm(item.remoteAddress), item.remotePort)
        : key(item.proto, la, item.localPort, ANY6, 0);
    // First holder wins: a socket inherited by several processes is attributed to the first task walked (the
    // parent, usually), as the guest's own tools list it first.
    if (!snap.index.has(k)) snap.index.set(k, item);
  }

  #decode(r: NativeLinuxWalk): { processes: GuestProcess[]; connections: GuestConnection[]; sockets: GuestSocket[] } {
    // Locals: the native result object is in dictionary mode, and a property lookup per element would dominate.
    const { taskU64, taskI32, comm, startMs, sockU64, sockU32, sockAddr } = r;
    const processes: GuestProcess[] = [];
    const nt = taskI32.length / 3;
    for (let i = 0; i < nt; i++) {
      // comm is at most 15 bytes: building the string by hand beats a Buffer per task.
      let name = '';
      for (let k = i * 16; k < i * 16 + 16 && comm[k] !== 0; k++) name += String.fromCharCode(comm[k]!);
      const p: GuestProcess = {
        pid: taskI32[i * 3 + 1]!,
        tgid: taskI32[i * 3 + 1]!,
        ppid: taskI32[i * 3 + 2]!,
        name,
        createTime: startMs[i]!,
        createTimeBase: 'boot',
        address: taskU64[i * 5]!,
        foundBy: 'task-list',
      };
      if (taskU64[i * 5 + 3]! !== 0n) p.dtb = taskU64[i * 5 + 3]!;
      processes.push(p);
    }
    const connections: GuestConnection[] = [];
    const sockets: GuestSocket[] = [];
    const ns = sockU32.length / 7;
    for (let i = 0; i < ns; i++) {
      const u = i * 7;
      const family = sockU32[u + 2] === 4 ? 4 : 6;
      const proto = sockU32[u + 3] === 6 ? 'tcp' : 'udp';
      const state = sockU32[u + 4]!;
      const rport = sockU32[u + 6]!;
      const pid = processes[sockU32[u]!]?.pid ?? -1;
      const localAddress = formatAddress(sockAddr, i * 32, family);
      const localPort = sockU32[u + 5]!;
      const address = sockU64[i * 2]!;
      // Object literals with all fields (no spreads): one hidden class per kind, cheap to build.
      if (proto === 'tcp' ? state === TCP_LISTEN : rport === 0) {
        sockets.push({ proto, family, localAddress, localPort, pid, foundBy: 'fd-table', address });
      } else {
        connections.push({
          proto,
          family,
          localAddress,
          localPort,
          remoteAddress: formatAddress(sockAddr, i * 32 + 16, family),
          remotePort: rport,
          state: proto === 'tcp' ? (TCP_STATES[state] ?? String(state)) : '',
          pid,
          foundBy: 'fd-table',
          address,
        });
      }
    }
    return { processes, connections, sockets };
  }
}

