/**
 * RecordQueue: one record per connection (flow id) joining what the sensor learned about it — owner process,
 * attribution outcome, verdict and matching rule. Later packets of the flow use the verdict cached in the flow table;
 * records are read on attribution, reload and events only. Bounded (oldest first) and expiring after the flow ends.
 */
import type { Verdict } from '../rules/policy.js';

export type AttributionOutcome = 'attributed' | 'inbound-to-listener' | 'closed-before-attribution' | 'unattributed' | 'pending';

export interface ConnectionRecord {
  flowId: number;
  /** Flow-table index while the flow is live (-1 after it ended). */
  flow: number;
  proto: number;
  family: number;
  local: string;
  lport: number;
  remote: string;
  /** Remote address as words (for rule matching without parsing). */
  remoteWords: number[];
  rport: number;
  direction: 'outbound' | 'inbound';
  outcome: AttributionOutcome;
  /** Why unattributed (or how attributed: "fd-table", "tcb-table", "listener", ...). */
  reason: string | undefined;
  pid: number | undefined;
  processKey: string | undefined;
  name: string | undefined;
  path: string | undefined;
  firstSeen: number;
  lastSeen: number;
  /** Wall-clock ms from the first packet to the outcome. */
  attributionMs: number | undefined;
  verdict: Verdict | undefined;
  /** Policy generation the verdict was computed under. */
  generation: number;
  /** Wall-clock ms the flow ended (removed from the flow table). */
  endedAt: number | undefined;
}

export interface RecordQueueOptions {
  maxRecords?: number;
  /** Records stay this long after their flow ended (ms). */
  lingerMs?: number;
}

export class RecordQueue {
  private readonly records = new Map<number, ConnectionRecord>();
  /** Ended records in end order (a FIFO), so expiry touches only what expires, not every record. */
  private endedIds: number[] = [];
  private endedHead = 0;
  private readonly max: number;
  private readonly linger: number;
  evicted = 0;

  constructor(options: RecordQueueOptions = {}) {
    this.max = options.maxRecords ?? 65_536;
    this.linger = options.lingerMs ?? 60_000;
  }

  get size(): number {
    return this.records.size;
  }

  add(r: ConnectionRecord): void {
    this.records.set(r.flowId, r);
    if (this.records.size > this.max) {
      for (const k of this.records.keys()) {
        this.records.delete(k);
        this.evicted++;
        if (this.records.size <= this.max) break;
      }
    }
  }

  get(flowId: number): ConnectionRecord | undefined {
    return this.records.get(flowId);
  }

  ended(flowId: number, lastSeen: number, now: number): ConnectionRecord | undefined {
    const r = this.records.get(flowId);
    if (r) {
      r.flow = -1;
      r.lastSeen = lastSeen;
      r.endedAt = now;
      this.endedIds.push(flowId);
    }
    return r;
  }

  /** Removes records whose flow ended more than `lingerMs` ago. */
  expire(now: number): number {
    let n = 0;
    const ids = this.endedIds;
    while (this.endedHead < ids.length) {
      const id = ids[this.endedHead]!;
      const r = this.records.get(id);
      // Gone already (evicted at the cap): skip. Ended times only grow along the FIFO, so stop at the first live one.
      if (r && r.endedAt !== undefined) {
        if (now - r.endedAt <= this.linger) break;
        this.records.delete(id);
        n++;
      }
      this.endedHead++;
    }
    if (this.endedHead > 4096 && this.endedHead * 2 > ids.length) {
      this.endedIds = ids.slice(this.endedHead);
      this.endedHead = 0;
    }
    return n;
  }

  /** Live records (flow still in the table), e.g. to re-evaluate after a policy reload. */
  *active(): IterableIterator<ConnectionRecord> {
    for (const r of this.records.values()) if (r.flow >= 0) yield r;
  }

  values(): IterableIterator<ConnectionRecord> {
    return this.records.values();
  }
}
