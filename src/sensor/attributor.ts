/**
 * Attribution: which guest process owns a new flow. The first try is a lookup in the index built from the last
 * introspector walk (a Map hit, no guest access). Misses wait in a bounded pending list. Each missed flow is then
 * looked up once with the introspector's own search (batched: Linux reads a small change signal per known fd
 * table and only the changed tables' new descriptors, so a new connection of a running process costs no sweep);
 * what that does not find waits for one rate-limited refresh (a single bounded walk of the guest) that serves all
 * of them. A lookup batch that misses has walked the guest and counts as a walk (the flows still waiting for their
 * own lookup are left to the next walk), so a flood of new flows costs at most one walk per `minRefreshIntervalMs`
 * — it cannot pin a core. Walks are requests to an AsyncGuestIntrospector: with one on a
 * worker thread the packet path keeps running while the guest is opened and walked, and a flow stays pending
 * until the answer arrives (at most one walk is in flight). Every flow ends with an explicit outcome:
 *   attributed | inbound-to-listener | closed-before-attribution | unattributed (with a reason).
 */
import { tryParseAddress, formatAddress } from '../decode/address.js';
import type { AsyncGuestIntrospector, GuestSnapshot } from '../introspect/async.js';
import type { ConnectionOwner, GuestSocketTuple } from '../introspect/types.js';
import type { ProcessQueue } from '../queues/process-queue.js';
import type { AttributionOutcome, ConnectionRecord } from '../queues/record-queue.js';

export interface AttributorOptions {
  /** Minimum time between two guest walks (ms). */
  minRefreshIntervalMs?: number;
  /** A pending flow gives up after this many walks without finding it... */
  maxAttempts?: number;
  /** ... or after this long (ms). */
  maxWaitMs?: number;
  /** More pending flows than this are declared unattributed at once (reason "attribution-backlog"). */
  maxPending?: number;
  /**
   * New flows arriving within this window share one lookup batch or walk (ms, default 1: the new flows of one capture
   * read arrive in the same turn of the event loop anyway, and every ms here is attribution latency).
   */
  batchDelayMs?: number;
}

interface Owner {
  pid: number;
  via: string;
  /** Connections: peer address and port; listeners: local address ('*' = any). */
  local: string;
  remote: string;
  rport: number;
}

/** Index key: a small integer (Map lookups on Smi keys, no string building per new flow). */
const portKey = (proto: string | number, port: number): number => ((proto === 'tcp' || proto === 6 ? 6 : 17) << 16) | port;

function addTo(index: Map<number, Owner[]>, key: number, o: Owner): void {
  const list = index.get(key);
  if (list) list.push(o);
  else index.set(key, [o]);
}

interface Pending {
  record: ConnectionRecord;
  since: number;
  attempts: number;
  closed: boolean;
  /** Looked up on its own already (each flow is, once). */
  looked: boolean;
}

/** The reason given to flows that are neither TCP nor UDP. */
export const NOT_A_SOCKET_FLOW = 'not-tcp-or-udp: only TCP and UDP flows are owned by sockets the guest walk finds';

/** Flows per lookup batch: one request, and at most one walk (its first miss). */
const LOOKUP_BATCH = 64;

function tupleOf(r: ConnectionRecord): GuestSocketTuple {
  return { proto: r.proto === 6 ? 'tcp' : 'udp', family: r.family === 6 ? 6 : 4, localAddress: r.local, localPort: r.lport, remoteAddress: r.remote, remotePort: r.rport };
}

export interface AttributionStats {
  /** The guest introspector: none, still opening (discovery), ready, or failed to open. */
  introspector: 'none' | 'opening' | 'ready' | 'failed';
  refreshes: number;
  /** Batches of per-flow lookups (see lookupMany). */
  lookups: number;
  refreshErrors: number;
  /** Wall-clock ms of the last walk, from request to answer. */
  lastWalkMs: number;
  pending: number;
  outcomes: Record<Exclude<AttributionOutcome, 'pending'>, number>;
  /** Wall-clock ms from request to outcome: p50 and p99 over the recent window. */
  latencyP50Ms: number;
  latencyP99Ms: number;
}

function canonicalOf(text: string): string | undefined {
  const a = tryParseAddress(text);
  if (!a) return undefined;
  // IPv4-mapped IPv6 (dual-stack sockets) is the IPv4 address on the wire.
  if (a.family === 6 && a.words[0] === 0 && a.words[1] === 0 && a.words[2] === 0xffff) return formatAddress(4, [a.words[3]!]);
  return formatAddress(a.family, a.words);
}

// Parsing and printing an address costs ~1.5 µs: a guest's addresses repeat from walk to walk (and its own local
// address in every connection), so every index rebuild after the first mostly hits this cache. Bounded.
const canonicalCache = new Map<string, string | null>();
const CANONICAL_CACHE_MAX = 65_536;

function canonical(text: string): string | undefined {
  const hit = canonicalCache.get(text);
  if (hit !== undefined) return hit ?? undefined;
  const c = canonicalOf(text);
  if (canonicalCache.size >= CANONICAL_CACHE_MAX) canonicalCache.clear();
  canonicalCache.set(text, c ?? null);
  return c;
}

function isWildcard(addr: string): boolean {
  return addr === '0.0.0.0' || addr === '::';
}


export class Attributor {
  /** (proto, guest port) → connections / bound sockets on that port: usually one or two entries. */
  private conns = new Map<number, Owner[]>();
  private listeners = new Map<number, Owner[]>();
  private readonly pending = new Map<number, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = -Infinity;
  private indexed = false;
  private lastError: string | undefined;
  private readonly latencies = new Float64Array(1024);
  private latencyCount = 0;
  private readonly opts: Required<AttributorOptions>;
  private closed = false;
  private state: AttributionStats['introspector'];
  private openError: string | undefined;
  /** When the guest became walkable: time spent opening does not count against a pending flow's wait. */
  private readyAt = 0;
  private inFlight: Promise<void> | undefined;
  private indexedFrom: [readonly unknown[] | undefined, readonly unknown[] | undefined] = [undefined, undefined];
  readonly stats_ = { refreshes: 0, lookups: 0, refreshErrors: 0, lastWalkMs: 0 };
  /** Pending flows not looked up on their own yet. */
  private unlooked = 0;
  /** When a lookup batch last missed (it walked the guest): the next batch waits the walk interval from there. */
  private missAt = -Infinity;
  readonly outcomes = { attributed: 0, 'inbound-to-listener': 0, 'closed-before-attribution': 0, unattributed: 0 };

  constructor(
    private readonly introspector: AsyncGuestIntrospector | undefined,
    private readonly processes: ProcessQueue,
    private readonly hooks: {
      onOutcome: (record: ConnectionRecord) => void;
      /** True when the wire already shows the connection closing (FIN/RST) or gone. */
      isClosing: (record: ConnectionRecord) => boolean;
    },
    options: AttributorOptions = {},
  ) {
    this.opts = {
      minRefreshIntervalMs: options.minRefreshIntervalMs ?? 250,
      maxAttempts: options.maxAttempts ?? 3,
      maxWaitMs: options.maxWaitMs ?? 3000,
      maxPending: options.maxPending ?? 4096,
      batchDelayMs: options.batchDelayMs ?? 1,
    };
    this.state = introspector ? 'opening' : 'none';
  }

  /** Waits for the guest to open, then walks it once; `onOpenError` hears why it could not be opened. */
  start(onOpenError?: (e: Error) => void): void {
    const intro = this.introspector;
    if (!intro) return;
    intro.opened.then(
      () => {
        if (this.closed) return;
        this.state = 'ready';
        this.readyAt = Date.now();
        void this.refresh();
      },
      (e: Error) => {
        if (this.closed) return;
        this.state = 'failed';
        this.openError = e.message;
        const now = Date.now();
        for (const p of this.pending.values()) this.finish(p.record, p.since, now, 'unattributed', this.openFailure());
        this.pending.clear();
        this.unlooked = 0;
        onOpenError?.(e);
      },
    );
  }

  private openFailure(): string {
    return `introspector-error: open failed: ${this.openError ?? ''}`;
  }

  /** A new flow: answered at once from the index when possible, else queued for the next walk. */
  request(record: ConnectionRecord): void {
    const now = Date.now();
    if (!this.introspector) return this.finish(record, now, now, 'unattributed', 'no-introspector');
    if (this.state === 'failed') return this.finish(record, now, now, 'unattributed', this.openFailure());
    // ICMP, ICMPv6 (neighbour discovery), GRE...: not a TCP or UDP socket's, so there is nothing to look up (and a
    // lookup would miss, costing a walk and holding up the real flows behind it).
    if (record.proto !== 6 && record.proto !== 17) return this.finish(record, now, now, 'unattributed', NOT_A_SOCKET_FLOW);
    if (this.indexed && this.tryResolve(record, now, now)) return;
    if (this.pending.size >= this.opts.maxPending) return this.finish(record, now, now, 'unattributed', 'attribution-backlog');
    this.pending.set(record.flowId, { record, since: now, attempts: 0, closed: false, looked: false });
    this.unlooked++;
    // While the guest opens, flows wait: its first walk serves them all.
    if (this.state === 'ready') this.schedule(now);
  }

  /** The flow left the flow table (closed or idle) while its owner was unknown. */
  flowEnded(flowId: number): void {
    const p = this.pending.get(flowId);
    if (p) p.closed = true;
  }

  private schedule(now: number): void {
    if (this.timer || this.closed) return;
    // Flows not looked up yet go after one batching delay unless a lookup lately missed (a walk); the rest wait for
    // the walk rate.
    const gate = this.indexed && this.unlooked > 0 ? this.missAt : this.lastRefresh;
    const wait = Math.max(this.opts.batchDelayMs, gate + this.opts.minRefreshIntervalMs - now);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, wait);
  }

  /** The next round: lookups of the flows not looked up yet, else one walk for every pending flow. */
  private run(): void {
    if (this.closed || this.pending.size === 0 || this.inFlight) return;
    const now = Date.now();
    if (this.indexed && this.unlooked > 0) {
      if (now < this.missAt + this.opts.minRefreshIntervalMs) return this.schedule(now);
      const batch: Pending[] = [];
      for (const p of this.pending.values()) {
        if (p.looked) continue;
        batch.push(p);
        if (batch.length >= LOOKUP_BATCH) break;
      }
      void this.lookup(batch);
      return;
    }
    if (now < this.lastRefresh + this.opts.minRefreshIntervalMs) return this.schedule(now);
    void this.refresh();
  }

  /** Removes a pending flow (settled, gone or given up). */
  private drop(id: number, p: Pending): void {
    this.pending.delete(id);
    if (!p.looked) this.unlooked--;
  }

  /** Each flow of `batch` looked up on its own, in one request; found ones are settled, the rest stay pending. */
  private lookup(batch: Pending[]): Promise<void> {
    const started = Date.now();
    for (const p of batch) {
      p.looked = true;
      this.unlooked--;
    }
    this.stats_.lookups++;
    const done = this.introspector!.lookupMany(batch.map((p) => tupleOf(p.record))).then(
      (owners) => {
        if (this.closed) return;
        // A miss walked the guest: it counts against the walk rate like a refresh, and every flow still waiting for
        // its own lookup is left to the next walk instead (a flood of unknown flows costs walks at that rate only).
        if (owners.includes(null)) this.missed(started);
        const now = Date.now();
        for (let i = 0; i < owners.length; i++) {
          const o = owners[i];
          const p = batch[i]!;
          if (o && this.pending.get(p.record.flowId) === p && this.settleFromOwner(p, o, now)) this.drop(p.record.flowId, p);
        }
      },
      (e: Error) => {
        if (this.closed) return;
        this.missed(started);
        this.stats_.refreshErrors++;
        this.lastError = e.message;
      },
    );
    this.inFlight = done.then(() => {
      this.inFlight = undefined;
      if (!this.closed && this.pending.size > 0) this.schedule(Date.now());
    });
    return this.inFlight;
  }

  private missed(at: number): void {
    this.lastRefresh = this.missAt = at;
    for (const p of this.pending.values()) {
      if (p.looked) continue;
      p.looked = true;
      this.unlooked--;
    }
  }

  /** A lookup's answer as the flow's outcome (false: it does not settle this flow, e.g. outbound TCP to a listener). */
  private settleFromOwner(p: Pending, o: ConnectionOwner, now: number): boolean {
    const r = p.record;
    if (o.process) this.processes.upsert(o.process, now);
    const c = o.connection;
    const bound = !('state' in c) || c.state === 'LISTEN' || (c.remotePort === 0 && isWildcard(canonical(c.remoteAddress) ?? ''));
    if (!bound) this.finish(r, p.since, now, 'attributed', c.foundBy, o.pid);
    else if (r.direction === 'inbound') this.finish(r, p.since, now, 'inbound-to-listener', `${c.foundBy} (bound socket)`, o.pid);
    else if (r.proto === 17) this.finish(r, p.since, now, 'attributed', `${c.foundBy} (bound socket)`, o.pid);
    else return false;
    return true;
  }

  /** The answers of a walk: pending flows found, gone, or out of attempts. */
  private settlePending(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      p.attempts++;
      if (this.tryResolve(p.record, p.since, now)) {
        this.drop(id, p);
        continue;
      }
      if (p.closed || this.hooks.isClosing(p.record)) {
        this.drop(id, p);
        this.finish(p.record, p.since, now, 'closed-before-attribution', 'connection gone from the guest before its walk');
      } else if (p.attempts >= this.opts.maxAttempts || now - Math.max(p.since, this.readyAt) >= this.opts.maxWaitMs) {
        this.drop(id, p);
        this.finish(p.record, p.since, now, 'unattributed', this.lastError ? `introspector-error: ${this.lastError}` : 'not-found-in-guest');
      }
    }
    if (this.pending.size > 0) this.schedule(Date.now());
  }

  /**
   * Re-walks the guest, rebuilds the index and settles the pending flows. One walk at a time: a call while one is
   * in flight returns that one. Resolves when the index is rebuilt (or the walk failed: see refreshErrors).
   */
  refresh(): Promise<void> {
    const intro = this.introspector;
    if (!intro || this.closed || this.state !== 'ready') return Promise.resolve();
    if (this.inFlight) return this.inFlight;
    const started = Date.now();
    this.lastRefresh = started;
    this.stats_.refreshes++;
    const walk = intro.snapshot(this.indexed).then(
      (snap) => {
        if (this.closed) return;
        this.stats_.lastWalkMs = Date.now() - started;
        this.index(snap);
      },
      (e: Error) => {
        if (this.closed) return;
        this.stats_.lastWalkMs = Date.now() - started;
        this.stats_.refreshErrors++;
        this.lastError = e.message;
      },
    );
    this.inFlight = walk.then(() => {
      this.inFlight = undefined;
      if (!this.closed) this.settlePending();
    });
    return this.inFlight;
  }

  private index(snap: GuestSnapshot): void {
    const now = Date.now();
    this.processes.update(snap.processes.items, now);
    // A worker's snapshot hands out the same arrays when nothing changed: the index stands as it is.
    if (this.indexed && snap.connections.items === this.indexedFrom[0] && snap.sockets.items === this.indexedFrom[1]) {
      this.lastError = undefined;
      return;
    }
    this.indexedFrom = [snap.connections.items, snap.sockets.items];
    const conns = new Map<number, Owner[]>();
    const listeners = new Map<number, Owner[]>();
    for (const c of snap.connections.items) {
      const local = canonical(c.localAddress);
      const remote = canonical(c.remoteAddress);
      if (local === undefined || remote === undefined) continue;
      if (c.state === 'LISTEN' || (c.remotePort === 0 && isWildcard(remote))) {
        addTo(listeners, portKey(c.proto, c.localPort), { pid: c.pid, via: c.foundBy, local: isWildcard(local) ? '*' : local, remote: '', rport: 0 });
      } else {
        addTo(conns, portKey(c.proto, c.localPort), { pid: c.pid, via: c.foundBy, local, remote, rport: c.remotePort });
      }
    }
    for (const sk of snap.sockets.items) {
      const local = canonical(sk.localAddress);
      if (local === undefined) continue;
      addTo(listeners, portKey(sk.proto, sk.localPort), { pid: sk.pid, via: sk.foundBy, local: isWildcard(local) ? '*' : local, remote: '', rport: 0 });
    }
    this.conns = conns;
    this.listeners = listeners;
    this.indexed = true;
    this.lastError = undefined;
  }

  private tryResolve(r: ConnectionRecord, since: number, now: number): boolean {
    const key = portKey(r.proto, r.lport);
    const candidates = this.conns.get(key);
    if (candidates) {
      for (const c of candidates) {
        if (c.rport === r.rport && c.remote === r.remote && c.local === r.local) {
          this.finish(r, since, now, 'attributed', c.via, c.pid);
          return true;
        }
      }
    }
    if (r.direction !== 'inbound' && r.proto !== 17) return false;
    const bound = this.listeners.get(key);
    if (!bound) return false;
    // A socket bound to this very address wins over a wildcard one (first registered wins among equals).
    let listener: Owner | undefined;
    for (const b of bound) {
      if (b.local === r.local) {
        listener = b;
        break;
      }
      if (b.local === '*' && !listener) listener = b;
    }
    if (!listener) return false;
    // Outbound UDP from an unconnected socket is still that socket's process.
    const outcome = r.direction === 'inbound' ? 'inbound-to-listener' : 'attributed';
    this.finish(r, since, now, outcome, `${listener.via} (bound socket)`, listener.pid);
    return true;
  }

  private finish(r: ConnectionRecord, since: number, now: number, outcome: Exclude<AttributionOutcome, 'pending'>, reason: string, pid?: number): void {
    r.outcome = outcome;
    r.reason = reason;
    r.attributionMs = now - since;
    if (pid !== undefined) {
      r.pid = pid;
      const proc = this.processes.get(pid);
      if (proc) {
        r.processKey = proc.key;
        r.name = proc.name;
        r.path = proc.path;
      }
    }
    this.outcomes[outcome]++;
    this.latencies[this.latencyCount++ % this.latencies.length] = r.attributionMs;
    this.hooks.onOutcome(r);
  }

  stats(): AttributionStats {
    const n = Math.min(this.latencyCount, this.latencies.length);
    const sorted = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    const q = (f: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(f * n))]!);
    return { introspector: this.state, ...this.stats_, pending: this.pending.size, outcomes: { ...this.outcomes }, latencyP50Ms: q(0.5), latencyP99Ms: q(0.99) };
  }

  /**
   * Stops the timer; pending flows are resolved as unattributed ("sensor closed"), never dropped silently. A walk
   * still in flight is not waited for: its answer is ignored when it comes.
   */
  close(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    for (const p of this.pending.values()) this.finish(p.record, p.since, now, p.closed || this.hooks.isClosing(p.record) ? 'closed-before-attribution' : 'unattributed', 'sensor closed');
    this.pending.clear();
    this.unlooked = 0;
    this.closed = true;
  }
}
