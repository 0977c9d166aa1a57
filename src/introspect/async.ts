/**
 * The asynchronous face of a GuestIntrospector, for callers that must not stall their event loop on a guest walk
 * (the Sensor). Every call is a request whose answer arrives later, as a resolved value or a rejected
 * ParasightError. Two kinds: `openIntrospectorInWorker()` opens and walks the guest on a worker thread of its own;
 * `asyncIntrospector(sync)` adapts a GuestIntrospector the caller already holds (its walks still run on the
 * calling thread, one per request).
 */
import type {
  ConnectionOwner,
  GuestConnection,
  GuestInfo,
  GuestIntrospector,
  GuestProcess,
  GuestSocket,
  GuestSocketTuple,
  MemoryMapEntry,
  WithProblems,
} from './types.js';

/** Processes, connections and sockets of one walk, in one answer. */
export interface GuestSnapshot {
  processes: WithProblems<GuestProcess>;
  connections: WithProblems<GuestConnection>;
  sockets: WithProblems<GuestSocket>;
}

export interface AsyncGuestIntrospector {
  /** Where the walks run: "worker" (a thread of its own) or "caller" (the thread that calls). */
  readonly runsOn: 'worker' | 'caller';
  /** Settles once the guest is open (kernel found) or could not be opened; requests made before wait for it. */
  readonly opened: Promise<GuestInfo>;
  info(): Promise<GuestInfo>;
  /** The current snapshot; with `refresh`, after one re-walk of the guest. */
  snapshot(refresh: boolean): Promise<GuestSnapshot>;
  lookupConnection(tuple: GuestSocketTuple): Promise<ConnectionOwner | undefined>;
  /**
   * Owners of several new flows, each looked up with the introspector's own bounded search (see lookupMany()):
   * `owners[i]` answers `tuples[i]`, null when not found. At most one walk per batch: after the first miss, the
   * rest are answered from what that walk found.
   */
  lookupMany(tuples: GuestSocketTuple[]): Promise<Array<ConnectionOwner | null>>;
  memoryMap(pid: number): Promise<WithProblems<MemoryMapEntry>>;
  /**
   * Releases the guest (memory source, walker caches, the thread). Requests still unanswered reject with CLOSED.
   * Resolves once everything is released; idempotent.
   */
  close(): Promise<void>;
}

export function isAsyncIntrospector(x: GuestIntrospector | AsyncGuestIntrospector): x is AsyncGuestIntrospector {
  return typeof (x as AsyncGuestIntrospector).snapshot === 'function' && 'runsOn' in x;
}

/**
 * One synchronous walk, packaged as a snapshot (shared by the adapter and the worker). Processes that own a
 * connection or socket carry their executable path (read once per process where walks do not: Linux).
 */
export function takeSnapshot(intro: GuestIntrospector, refresh: boolean): GuestSnapshot {
  if (refresh) intro.refresh();
  const connections = intro.connections();
  const sockets = intro.sockets();
  // Plain loops: this runs on every walk, over every connection of the guest.
  const seen = new Set<number>();
  const owners: number[] = [];
  for (const list of [connections.items, sockets.items]) {
    for (let i = 0; i < list.length; i++) {
      const pid = list[i]!.pid;
      if (!seen.has(pid)) {
        seen.add(pid);
        owners.push(pid);
      }
    }
  }
  return { processes: intro.processes({ paths: owners }), connections, sockets };
}

/**
 * Looks flows up one by one with the introspector's own search (Linux: fd tables that changed since the last sweep,
 * then tasks created since; Windows: the tables). A miss has just walked the guest, so the flows after it are
 * answered from that fresh walk only (`walk: false`): at most one walk per batch, and a flow behind an unknown one
 * does not wait for the next rate-limited walk. Found owners' processes carry their executable paths. Shared by the
 * worker and the calling-thread adapter.
 */
export function lookupMany(intro: GuestIntrospector, tuples: GuestSocketTuple[]): Array<ConnectionOwner | null> {
  const owners: Array<ConnectionOwner | null> = [];
  let walked = false;
  for (const t of tuples) {
    const o = intro.lookupConnection(t, walked ? { walk: false } : undefined);
    owners.push(o ?? null);
    if (!o) walked = true;
  }
  const pids: number[] = [];
  for (const o of owners) if (o?.process && o.process.path === undefined) pids.push(o.pid);
  // Fills the paths into the snapshot's process objects, which the owners hold.
  if (pids.length > 0) intro.processes({ paths: pids });
  return owners;
}

/** Adapts a synchronous introspector: each request runs on the calling thread when it is made. */
export function asyncIntrospector(intro: GuestIntrospector): AsyncGuestIntrospector {
  const run = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(f());
    } catch (e) {
      return Promise.reject(e as Error);
    }
  };
  let closed = false;
  const opened = run(() => intro.info());
  opened.catch(() => {}); // a failure is the caller's to see when it asks
  return {
    runsOn: 'caller',
    opened,
    info: () => run(() => intro.info()),
    snapshot: (refresh) => run(() => takeSnapshot(intro, refresh)),
    lookupConnection: (tuple) => run(() => intro.lookupConnection(tuple)),
    lookupMany: (tuples) => run(() => lookupMany(intro, tuples)),
    memoryMap: (pid) => run(() => intro.memoryMap(pid)),
    close: () =>
      run(() => {
        if (closed) return;
        closed = true;
        intro.close();
      }),
  };
}
