/**
 * The flow table: typed arrays, open addressing with linear probing (Math.imul hash, backward-shift deletion so no
 * tombstones), keyed with the guest endpoint first. A known flow is found and updated without allocating.
 *
 * Idle expiry differs per protocol/TCP state: each timeout class keeps its own LRU list ordered by last packet, so
 * expiry pops from list tails and stops at the first live flow. At the hard cap the least recently seen flow of all
 * classes is evicted (counted).
 */
import { PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type DecodedPacket } from '../decode/packet.js';
import { formatAddress } from '../decode/address.js';
import { SIDE_GUEST_SRC } from './guest.js';
import { badArgument } from '../errors.js';

/** TCP states as the sensor sees them from the wire (not the guest's own state). */
export const TCP_NONE = 0; // not TCP
export const TCP_SYN_SENT = 1;
export const TCP_SYN_RECEIVED = 2;
export const TCP_ESTABLISHED = 3;
export const TCP_FIN_WAIT = 4; // one side sent FIN
export const TCP_CLOSED = 5; // both FINs or a RST
export const TCP_STATE_NAMES = ['none', 'syn-sent', 'syn-received', 'established', 'fin-wait', 'closed'] as const;

export const DIR_OUTBOUND = 1;
export const DIR_INBOUND = 2;

/** Timeout classes. */
const C_TCP_OPENING = 0;
const C_TCP_ESTABLISHED = 1;
const C_TCP_CLOSING = 2;
const C_UDP = 3;
const C_OTHER = 4;
const CLASSES = 5;

export interface FlowTimeouts {
  /** SYN seen, handshake not complete. */
  tcpOpening: number;
  tcpEstablished: number;
  /** FIN or RST seen: kept briefly so late packets do not open a new flow. */
  tcpClosing: number;
  udp: number;
  /** Other IP protocols (ICMP, ...). */
  other: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = {
  tcpOpening: 30_000,
  tcpEstablished: 3_600_000,
  tcpClosing: 10_000,
  udp: 60_000,
  other: 30_000,
};

export type RemoveReason = 'idle' | 'evicted' | 'cleared';

export interface FlowTableOptions {
  /** Hard cap on live flows (memory ceiling: ~130 bytes per flow, allocated up front). */
  maxFlows?: number;
  /** Idle timeouts in ms. */
  timeouts?: Partial<FlowTimeouts>;
  /** Called before a flow's slot is reused: its fields are still readable. */
  onRemove?: (flow: number, reason: RemoveReason) => void;
}

/** A flow, copied out for events and tests (allocates: not for the per-packet path). */
export interface FlowInfo {
  id: number;
  proto: number;
  family: number;
  local: string;
  lport: number;
  remote: string;
  rport: number;
  direction: 'outbound' | 'inbound';
  tcpState: (typeof TCP_STATE_NAMES)[number];
  midstream: boolean;
  firstSeen: number;
  lastSeen: number;
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
}

export interface FlowTableStats {
  flows: number;
  capacity: number;
  created: number;
  expired: number;
  evicted: number;
  lookups: number;
}

/** Key words per flow: meta (family<<8 | proto), local address ×4, remote address ×4, ports (lport<<16 | rport). */
const KW = 10;
const F_MIDSTREAM = 1;
const F_FIN_OUT = 2;
const F_FIN_IN = 4;

export class FlowTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly slots: Int32Array;
  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly heads = new Int32Array(CLASSES).fill(-1);
  private readonly tails = new Int32Array(CLASSES).fill(-1);
  private readonly timeoutOf = new Float64Array(CLASSES);
  private readonly freeList: Int32Array;
  private freeTop: number;
  private readonly scratch = new Uint32Array(KW);
  private readonly onRemove: ((flow: number, reason: RemoveReason) => void) | undefined;
  private nextId = 1;

  /** Per-flow columns, index = flow number returned by track(). Read freely; write only `verdict`/`tag`. */
  readonly id: Float64Array;
  readonly firstSeen: Float64Array;
  readonly lastSeen: Float64Array;
  readonly packetsOut: Uint32Array;
  readonly packetsIn: Uint32Array;
  readonly bytesOut: Float64Array;
  readonly bytesIn: Float64Array;
  readonly tcpState: Uint8Array;
  readonly direction: Uint8Array;
  readonly flags: Uint8Array;
  readonly klass: Uint8Array;
  /** Cached verdict for the fast path (owned by the sensor: 0 = none yet). */
  readonly verdict: Uint8Array;
  /** Free slot for the owner (e.g. index of an attribution record), -1 initially. */
  readonly tag: Int32Array;

  size = 0;
  created = 0;
  expired = 0;
  evicted = 0;
  lookups = 0;
  /** Set by track(): true when the last call created the flow. */
  lastCreated = false;

  constructor(options: FlowTableOptions = {}) {
    const max = options.maxFlows ?? 65_536;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 24) throw badArgument(`maxFlows must be an integer in 1..${1 << 24}`);
    this.capacity = max;
    let slots = 16;
    while (slots < max * 2) slots *= 2;
    this.mask = slots - 1;
    this.slots = new Int32Array(slots).fill(-1);
    this.keys = new Uint32Array(max * KW);
    this.hashes = new Uint32Array(max);
    this.prev = new Int32Array(max);
    this.next = new Int32Array(max);
    this.freeList = new Int32Array(max);
    for (let i = 0; i < max; i++) this.freeList[i] = max - 1 - i;
    this.freeTop = max;
    this.id = new Float64Array(max);
    this.firstSeen = new Float64Array(max);
    this.lastSeen = new Float64Array(max);
    this.packetsOut = new Uint32Array(max);
    this.packetsIn = new Uint32Array(max);
    this.bytesOut = new Float64Array(max);
    this.bytesIn = new Float64Array(max);
    this.tcpState = new Uint8Array(max);
    this.direction = new Uint8Array(max);
    this.flags = new Uint8Array(max);
    this.klass = new Uint8Array(max);
    this.verdict = new Uint8Array(max);
    this.tag = new Int32Array(max).fill(-1);
    const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.timeoutOf[C_TCP_OPENING] = t.tcpOpening;
    this.timeoutOf[C_TCP_ESTABLISHED] = t.tcpEstablished;
    this.timeoutOf[C_TCP_CLOSING] = t.tcpClosing;
    this.timeoutOf[C_UDP] = t.udp;
    this.timeoutOf[C_OTHER] = t.other;
    this.onRemove = options.onRemove;
  }

  /**
   * Finds or creates the flow of a decoded IP packet; `side` says which end is the guest (SIDE_GUEST_SRC/DST).
   * Returns the flow number; `lastCreated` tells whether it is new.
   */
  track(p: DecodedPacket, side: number, now: number): number {
    const k = this.scratch;
    const out = side === SIDE_GUEST_SRC;
    const la = out ? p.src : p.dst;
    const ra = out ? p.dst : p.src;
    const lport = p.hasPorts ? (out ? p.sport : p.dport) : 0;
    const rport = p.hasPorts ? (out ? p.dport : p.sport) : 0;
    k[0] = (p.family << 8) | p.proto;
    k[1] = la[0]!;
    k[2] = la[1]!;
    k[3] = la[2]!;
    k[4] = la[3]!;
    k[5] = ra[0]!;
    k[6] = ra[1]!;
    k[7] = ra[2]!;
    k[8] = ra[3]!;
    k[9] = ((lport << 16) | rport) >>> 0;
    // Unrolled multiply-xorshift over the 10 key words (a loop here costs ~2x on the hot path).
    let h = Math.imul(0x9e3779b9 ^ k[0]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[1]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[2]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[3]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[4]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[5]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[6]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[7]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[8]!, 0x85ebca6b);
    h = Math.imul((h ^ (h >>> 13)) ^ k[9]!, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
    h = (h ^ (h >>> 15)) >>> 0;
    this.lookups++;
    const mask = this.mask;
    const keys = this.keys;
    let s = h & mask;
    for (;;) {
      const f = this.slots[s]!;
      if (f < 0) break;
      if (this.hashes[f] === h) {
        const o = f * KW;
        if (
          keys[o] === k[0] && keys[o + 1] === k[1] && keys[o + 5] === k[5] && keys[o + 9] === k[9] &&
          keys[o + 2] === k[2] && keys[o + 3] === k[3] && keys[o + 4] === k[4] &&
          keys[o + 6] === k[6] && keys[o + 7] === k[7] && keys[o + 8] === k[8]
        ) {
          this.lastCreated = false;
          this.update(f, p, out, now);
          return f;
        }
      }
      s = (s + 1) & mask;
    }
    // New flow.
    if (this.freeTop === 0) {
      this.evictOldest();
      // Eviction moved entries: find the empty slot for this hash again.
      s = h & mask;
      while (this.slots[s]! >= 0) s = (s + 1) & mask;
    }
    const f = this.freeList[--this.freeTop]!;
    this.slots[s] = f;
    this.hashes[f] = h;
    keys.set(k, f * KW);
    this.id[f] = this.nextId++;
    this.firstSeen[f] = now;
    this.packetsOut[f] = this.packetsIn[f] = 0;
    this.bytesOut[f] = this.bytesIn[f] = 0;
    this.verdict[f] = 0;
    this.tag[f] = -1;
    this.flags[f] = 0;
    let dir = out ? DIR_OUTBOUND : DIR_INBOUND;
    let state = TCP_NONE;
    if (p.proto === PROTO_TCP && p.hasPorts) {
      const fl = p.tcpFlags;
      if ((fl & TCP_SYN) !== 0 && (fl & TCP_ACK) === 0) state = TCP_SYN_SENT;
      else if ((fl & TCP_SYN) !== 0) {
        // Joined at the SYN-ACK: the other side initiated.
        state = TCP_SYN_RECEIVED;
        dir = out ? DIR_INBOUND : DIR_OUTBOUND;
      } else {
        state = (fl & TCP_RST) !== 0 ? TCP_CLOSED : TCP_ESTABLISHED;
        this.flags[f] = F_MIDSTREAM;
      }
    }
    this.direction[f] = dir;
    this.tcpState[f] = state;
    this.klass[f] = classOf(p.proto, state);
    this.lastSeen[f] = now;
    this.linkHead(f);
    this.size++;
    this.created++;
    this.lastCreated = true;
    this.count(f, p, out);
    return f;
  }

  private count(f: number, p: DecodedPacket, out: boolean): void {
    if (out) {
      this.packetsOut[f]!++;
      this.bytesOut[f]! += p.ipLength;
    } else {
      this.packetsIn[f]!++;
      this.bytesIn[f]! += p.ipLength;
    }
  }

  private update(f: number, p: DecodedPacket, out: boolean, now: number): void {
    this.count(f, p, out);
    this.lastSeen[f] = now;
    let c = this.klass[f]!;
    if (p.proto === PROTO_TCP && p.hasPorts) {
      const fl = p.tcpFlags;
      let st = this.tcpState[f]!;
      if ((fl & TCP_RST) !== 0) st = TCP_CLOSED;
      else if (st !== TCP_CLOSED) {
        if ((fl & TCP_FIN) !== 0) {
          this.flags[f] = this.flags[f]! | (out ? F_FIN_OUT : F_FIN_IN);
          st = (this.flags[f]! & (F_FIN_OUT | F_FIN_IN)) === (F_FIN_OUT | F_FIN_IN) ? TCP_CLOSED : TCP_FIN_WAIT;
        } else if (st === TCP_SYN_SENT && (fl & TCP_SYN) !== 0 && (fl & TCP_ACK) !== 0) st = TCP_SYN_RECEIVED;
        else if (st === TCP_SYN_RECEIVED && (fl & TCP_SYN) === 0 && (fl & TCP_ACK) !== 0) st = TCP_ESTABLISHED;
      }
      this.tcpState[f] = st;
      c = classOf(PROTO_TCP, st);
    }
    if (c !== this.klass[f]) {
      this.unlink(f);
      this.klass[f] = c;
      this.linkHead(f);
    } else if (this.heads[c] !== f) {
      this.unlink(f);
      this.linkHead(f);
    }
  }

  /** Removes flows idle longer than their class's timeout. Returns how many were removed. */
  expire(now: number): number {
    let n = 0;
    for (let c = 0; c < CLASSES; c++) {
      const limit = this.timeoutOf[c]!;
      for (let f = this.tails[c]!; f >= 0 && now - this.lastSeen[f]! > limit; f = this.tails[c]!) {
        this.remove(f, 'idle');
        this.expired++;
        n++;
      }
    }
    return n;
  }

  /** Removes every flow (calling onRemove with "cleared"). */
  clear(): void {
    for (let c = 0; c < CLASSES; c++) {
      while (this.tails[c]! >= 0) this.remove(this.tails[c]!, 'cleared');
    }
  }

  private evictOldest(): void {
    let victim = -1;
    for (let c = 0; c < CLASSES; c++) {
      const t = this.tails[c]!;
      if (t >= 0 && (victim < 0 || this.lastSeen[t]! < this.lastSeen[victim]!)) victim = t;
    }
    this.remove(victim, 'evicted');
    this.evicted++;
  }

  private remove(f: number, reason: RemoveReason): void {
    this.onRemove?.(f, reason);
    const mask = this.mask;
    let i = this.hashes[f]! & mask;
    while (this.slots[i] !== f) i = (i + 1) & mask;
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const g = this.slots[j]!;
      if (g < 0) break;
      const home = this.hashes[g]! & mask;
      const between = i <= j ? i < home && home <= j : i < home || home <= j;
      if (between) continue;
      this.slots[i] = g;
      i = j;
    }
    this.slots[i] = -1;
    this.unlink(f);
    this.freeList[this.freeTop++] = f;
    this.size--;
    this.id[f] = 0;
  }

  private linkHead(f: number): void {
    const c = this.klass[f]!;
    const h = this.heads[c]!;
    this.prev[f] = -1;
    this.next[f] = h;
    if (h >= 0) this.prev[h] = f;
    else this.tails[c] = f;
    this.heads[c] = f;
  }

  private unlink(f: number): void {
    const c = this.klass[f]!;
    const p = this.prev[f]!;
    const n = this.next[f]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[c] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tails[c] = p;
  }

  /** True when `flow` still holds the flow with this id (flow numbers are reused after removal). */
  isLive(flow: number, id: number): boolean {
    return flow >= 0 && flow < this.capacity && this.id[flow] === id && id !== 0;
  }

  isMidstream(f: number): boolean {
    return (this.flags[f]! & F_MIDSTREAM) !== 0;
  }

  /** Guest-first 5-tuple of a flow as plain values (for attribution and events). */
  tuple(f: number): { proto: number; family: number; local: string; lport: number; remote: string; rport: number } {
    const o = f * KW;
    const k = this.keys;
    const family = k[o]! >>> 8;
    return {
      proto: k[o]! & 0xff,
      family,
      local: formatAddress(family, k.subarray(o + 1, o + 5)),
      lport: k[o + 9]! >>> 16,
      remote: formatAddress(family, k.subarray(o + 5, o + 9)),
      rport: k[o + 9]! & 0xffff,
    };
  }

  /** Remote address words of a flow (a view: valid until the flow is removed). */
  remoteWords(f: number): Uint32Array {
    return this.keys.subarray(f * KW + 5, f * KW + 9);
  }

  describe(f: number): FlowInfo {
    return {
      id: this.id[f]!,
      ...this.tuple(f),
      direction: this.direction[f] === DIR_OUTBOUND ? 'outbound' : 'inbound',
      tcpState: TCP_STATE_NAMES[this.tcpState[f]!] ?? 'none',
      midstream: this.isMidstream(f),
      firstSeen: this.firstSeen[f]!,
      lastSeen: this.lastSeen[f]!,
      packetsOut: this.packetsOut[f]!,
      packetsIn: this.packetsIn[f]!,
      bytesOut: this.bytesOut[f]!,
      bytesIn: this.bytesIn[f]!,
    };
  }

  stats(): FlowTableStats {
    return { flows: this.size, capacity: this.capacity, created: this.created, expired: this.expired, evicted: this.evicted, lookups: this.lookups };
  }
}

function classOf(proto: number, state: number): number {
  if (proto === PROTO_TCP) {
    if (state === TCP_ESTABLISHED) return C_TCP_ESTABLISHED;
    if (state === TCP_FIN_WAIT || state === TCP_CLOSED) return C_TCP_CLOSING;
    return C_TCP_OPENING;
  }
  return proto === PROTO_UDP ? C_UDP : C_OTHER;
}
