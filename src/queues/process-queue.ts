/**
 * ProcessQueue: the guest's process list as the sensor last saw it, keyed by pid. Refreshed from each introspector
 * walk; a pid whose create time changed is a NEW process (PID reuse) — the old one is retired, never merged.
 * Processes missing from a complete walk are marked exited and kept for a while (their connections may still be
 * reported). Bounded: exited entries go first when the cap is reached.
 */
import type { GuestProcess } from '../introspect/types.js';

export interface ProcessEntry {
  pid: number;
  ppid: number;
  name: string;
  path: string | undefined;
  createTime: number;
  createTimeBase: 'epoch' | 'boot';
  /** Unique across PID reuse: `pid@createTime`. */
  key: string;
  firstSeen: number;
  lastSeen: number;
  /** Wall-clock ms when the sensor noticed the exit, undefined while running. */
  exitedAt: number | undefined;
}

export interface ProcessUpdate {
  added: ProcessEntry[];
  exited: ProcessEntry[];
  /** Same pid, different create time: `before` was retired, `after` replaces it. */
  reused: Array<{ before: ProcessEntry; after: ProcessEntry }>;
}

export interface ProcessQueueOptions {
  maxEntries?: number;
  /** How long exited/retired processes stay resolvable (ms). */
  exitedTtlMs?: number;
}

export function processKey(pid: number, createTime: number): string {
  return `${pid}@${createTime}`;
}

export class ProcessQueue {
  private readonly live = new Map<number, ProcessEntry>();
  /** Exited or retired entries by key (a pid may have several generations). */
  private readonly gone = new Map<string, ProcessEntry>();
  private readonly maxEntries: number;
  private readonly ttl: number;
  reusedCount = 0;
  exitedCount = 0;
  evictedCount = 0;

  constructor(options: ProcessQueueOptions = {}) {
    this.maxEntries = options.maxEntries ?? 16_384;
    this.ttl = options.exitedTtlMs ?? 300_000;
  }

  get size(): number {
    return this.live.size + this.gone.size;
  }

  /** The running process with this pid. */
  get(pid: number): ProcessEntry | undefined {
    return this.live.get(pid);
  }

  /** A process by its reuse-safe key, running or gone. */
  byKey(key: string): ProcessEntry | undefined {
    const pid = Number(key.slice(0, key.indexOf('@')));
    const e = this.live.get(pid);
    return e && e.key === key ? e : this.gone.get(key);
  }

  /** Adds or refreshes one process (from a lookup); detects PID reuse. */
  upsert(p: GuestProcess, now: number, update?: ProcessUpdate): ProcessEntry {
    const cur = this.live.get(p.pid);
    if (cur && cur.createTime === p.createTime) {
      cur.lastSeen = now;
      // Same pid and create time but a new name: it exec'd, so a path read before names the old program.
      if (p.path !== undefined) cur.path = p.path;
      else if (p.name !== cur.name) cur.path = undefined;
      cur.name = p.name;
      return cur;
    }
    const entry: ProcessEntry = {
      pid: p.pid,
      ppid: p.ppid,
      name: p.name,
      path: p.path,
      createTime: p.createTime,
      createTimeBase: p.createTimeBase,
      key: processKey(p.pid, p.createTime),
      firstSeen: now,
      lastSeen: now,
      exitedAt: undefined,
    };
    if (cur) {
      cur.exitedAt = now;
      this.gone.set(cur.key, cur);
      this.reusedCount++;
      update?.reused.push({ before: cur, after: entry });
    } else {
      update?.added.push(entry);
    }
    this.live.set(p.pid, entry);
    this.bound(now);
    return entry;
  }

  /** Applies a complete process list: new, reused and exited processes are reported. */
  update(list: GuestProcess[], now: number): ProcessUpdate {
    const u: ProcessUpdate = { added: [], exited: [], reused: [] };
    const seen = new Set<number>();
    for (const p of list) {
      seen.add(p.pid);
      this.upsert(p, now, u);
    }
    for (const [pid, e] of this.live) {
      if (seen.has(pid)) continue;
      e.exitedAt = now;
      this.live.delete(pid);
      this.gone.set(e.key, e);
      this.exitedCount++;
      u.exited.push(e);
    }
    this.expire(now);
    return u;
  }

  /** Drops exited entries older than the TTL. */
  expire(now: number): void {
    for (const [k, e] of this.gone) if (now - (e.exitedAt ?? now) > this.ttl) this.gone.delete(k);
  }

  private bound(now: number): void {
    if (this.size <= this.maxEntries) return;
    this.expire(now);
    // Oldest gone entries first (Map keeps insertion order), then the least recently seen live ones.
    for (const k of this.gone.keys()) {
      if (this.size <= this.maxEntries) return;
      this.gone.delete(k);
      this.evictedCount++;
    }
    const byAge = [...this.live.values()].sort((a, b) => a.lastSeen - b.lastSeen);
    for (const e of byAge) {
      if (this.size <= this.maxEntries) return;
      this.live.delete(e.pid);
      this.evictedCount++;
    }
  }
}
