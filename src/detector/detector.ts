/**
 * Detector: a connection record with its verdict → events.
 *  - allow → `connection.allowed` (only when asked for: it is the bulk of traffic).
 *  - deny  → `connection.abnormal`; rate-limited per process: the first event of a window in full, the rest
 *            counted and summarised in one event (count = n) when the window closes.
 *  - deny from the process's OWN policy (a known program doing what it never does) → `process.parasitized`,
 *            once per process (pid + create time); its later denied connections only add to the counts.
 * Time is packet time: an event's `ts` is the capture time of its connection's first packet, and rate-limit windows
 * run on the capture clock, so replaying a capture file gives the same timestamps and windows as watching live.
 */
import { newEvent, type EventFlow, type EventProcess, type Evidence, type SensorEvent } from '../events/event.js';
import type { ConnectionRecord } from '../queues/record-queue.js';
import type { ProcessEntry } from '../queues/process-queue.js';

export interface DetectorOptions {
  vm: string;
  emitAllowed?: boolean;
  /** Rate-limit window per process for `connection.abnormal` (ms). */
  rateWindowMs?: number;
  /** How many connections a summary lists as evidence. */
  maxEvidence?: number;
}

interface Window {
  started: number;
  suppressed: number;
  last: ConnectionRecord[];
  template: SensorEvent;
}

export function eventFlow(r: ConnectionRecord): EventFlow {
  return { proto: r.proto === 6 ? 'tcp' : r.proto === 17 ? 'udp' : 'other', local: r.local, lport: r.lport, remote: r.remote, rport: r.rport, direction: r.direction };
}

function connectionEvidence(r: ConnectionRecord): Evidence {
  return {
    kind: 'connection',
    flow: eventFlow(r),
    first_seen: new Date(r.firstSeen).toISOString(),
    verdict: r.verdict?.action ?? null,
    rule: r.verdict?.rule ?? null,
  };
}

export class Detector {
  private readonly windows = new Map<string, Window>();
  private readonly parasitized = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly window: number;
  private readonly maxEvidence: number;
  /** The capture clock: the latest packet time seen, and the wall time when it was seen. */
  private latestPacket = 0;
  private latestWall = 0;
  suppressed = 0;

  constructor(
    private readonly opts: DetectorOptions,
    private readonly publish: (e: SensorEvent) => void,
    private readonly processOf: (key: string) => ProcessEntry | undefined,
  ) {
    this.window = opts.rateWindowMs ?? 60_000;
    this.maxEvidence = opts.maxEvidence ?? 10;
  }

  private proc(r: ConnectionRecord): EventProcess | null {
    if (r.pid === undefined) return null;
    const p = r.processKey ? this.processOf(r.processKey) : undefined;
    return {
      pid: r.pid,
      name: r.name ?? p?.name ?? '',
      path: r.path ?? p?.path ?? null,
      create_time: p?.createTime ?? 0,
      create_time_base: p?.createTimeBase ?? 'epoch',
      ppid: p?.ppid ?? 0,
    };
  }

  /**
   * Capture-clock now: the latest packet time plus the wall time since it was seen (live, this is about the wall
   * clock; over a capture file, it follows the file's timestamps).
   */
  now(): number {
    return this.latestPacket === 0 ? Date.now() : this.latestPacket + (Date.now() - this.latestWall);
  }

  private observe(packetTime: number): void {
    if (packetTime > this.latestPacket) {
      this.latestPacket = packetTime;
      this.latestWall = Date.now();
    }
  }

  private base(r: ConnectionRecord, type: SensorEvent['type'], risk: SensorEvent['risk'], reason: string, evidence: Evidence[], when: number): SensorEvent {
    const v = r.verdict!;
    return newEvent({
      type,
      vm: this.opts.vm,
      flow: eventFlow(r),
      process: this.proc(r),
      verdict: v.action,
      risk,
      rule: v.rule,
      reason,
      evidence,
      count: 1,
      attribution: { outcome: r.outcome, reason: r.reason ?? null, ms: r.attributionMs ?? null },
    }, when);
  }

  /**
   * Handles a record whose verdict was just decided, dated by its first packet; or changed by a policy reload, dated
   * `when` (the capture clock at the reload).
   */
  handle(r: ConnectionRecord, when?: number): void {
    const v = r.verdict;
    if (!v) return;
    this.observe(r.firstSeen);
    const now = when ?? r.firstSeen;
    if (v.action === 'allow') {
      if (this.opts.emitAllowed) this.publish(this.base(r, 'connection.allowed', 'none', `allowed by ${v.rule}`, [], now));
      return;
    }
    const who = r.name ? `${r.name} (pid ${r.pid})` : r.pid !== undefined ? `pid ${r.pid}` : `an unattributed flow (${r.outcome})`;
    const what = `${r.direction} ${eventFlow(r).proto} ${r.remote}:${r.rport}`;
    const ruleText = v.ruleIndex < 0 ? `policy "${v.policy}" allows nothing that matches (mode default-deny)` : `rule ${v.rule}`;
    const key = r.processKey ?? (r.pid !== undefined ? `pid:${r.pid}` : 'unattributed');

    if (v.scope === 'process' && r.processKey && !this.parasitized.has(r.processKey)) {
      // Bounded: the oldest process keys go first (a pid+create-time key never comes back once its process is gone).
      if (this.parasitized.size >= 65_536) this.parasitized.delete(this.parasitized.keys().next().value!);
      this.parasitized.set(r.processKey, 1);
      const p = this.proc(r)!;
      this.publish(
        this.base(r, 'process.parasitized', 'high', `${who} made a connection its own policy forbids: ${what}; ${ruleText}`, [
          connectionEvidence(r),
          { kind: 'policy', policy: v.policy, rule: v.rule, rule_index: v.ruleIndex, learned: v.learned },
          { kind: 'process', pid: p.pid, ppid: p.ppid, name: p.name, path: p.path, create_time: p.create_time, create_time_base: p.create_time_base },
        ], now),
      );
    } else if (r.processKey && this.parasitized.has(r.processKey)) {
      this.parasitized.set(r.processKey, this.parasitized.get(r.processKey)! + 1);
    }

    const w = this.windows.get(key);
    if (w && now - w.started < this.window) {
      w.suppressed++;
      this.suppressed++;
      w.last.push(r);
      if (w.last.length > this.maxEvidence) w.last.shift();
      return;
    }
    if (w) this.flushWindow(key, w, now);
    const risk = v.scope === 'process' ? 'high' : 'medium';
    const e = this.base(r, 'connection.abnormal', risk, `${who}: ${what} denied by ${ruleText}`, [connectionEvidence(r)], now);
    this.windows.set(key, { started: now, suppressed: 0, last: [], template: e });
    this.publish(e);
    this.arm();
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(false), Math.max(50, this.window / 4));
    this.timer.unref();
  }

  private flushWindow(key: string, w: Window, when: number): void {
    this.windows.delete(key);
    if (w.suppressed === 0) return;
    const last = w.last[w.last.length - 1];
    const { schema: _s, id: _i, ts: _t, ...template } = w.template;
    this.publish(
      newEvent({
        ...template,
        flow: last ? eventFlow(last) : w.template.flow,
        count: w.suppressed,
        reason: `${w.suppressed} more denied connection(s) of the same process within ${Math.round(this.window / 1000)} s (rate-limited)`,
        evidence: w.last.map(connectionEvidence),
      }, when),
    );
  }

  /** Emits summaries of closed windows (all of them when `all`). */
  flush(all: boolean): void {
    const now = this.now();
    for (const [k, w] of this.windows) if (all || now - w.started >= this.window) this.flushWindow(k, w, now);
    if (this.windows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Denied connections per parasitized process key (for metrics and reports). */
  parasitizedProcesses(): Map<string, number> {
    return new Map(this.parasitized);
  }

  close(): void {
    this.flush(true);
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
