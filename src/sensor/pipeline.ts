/**
 * One VM's packet path: decode → guest side → flow table → (new flow) record + attribution → verdict → detector.
 * The per-packet work for a known flow is a decode and a table update: no allocation, verdict cached in the table.
 */
import { PacketDecoder } from '../decode/decoder.js';
import { DECODED_IP } from '../decode/packet.js';
import { FlowTable, DIR_OUTBOUND, TCP_CLOSED, TCP_FIN_WAIT, type FlowTableOptions, type RemoveReason } from '../flows/table.js';
import { GuestMatcher, SIDE_NONE, type GuestAddresses } from '../flows/guest.js';
import { ProcessQueue, type ProcessQueueOptions } from '../queues/process-queue.js';
import { RecordQueue, type ConnectionRecord, type RecordQueueOptions } from '../queues/record-queue.js';
import { Attributor, type AttributorOptions } from './attributor.js';
import type { AsyncGuestIntrospector } from '../introspect/async.js';
import type { PolicyStore } from '../rules/store.js';
import type { Detector } from '../detector/detector.js';
import type { Verdict } from '../rules/policy.js';
import type { BridgeEnforcer } from '../events/enforcer.js';

/** Cached verdict bytes in FlowTable.verdict. */
export const V_PENDING = 0;
export const V_ALLOW = 1;
export const V_DENY = 2;

export interface PipelineOptions {
  name: string;
  guest: GuestAddresses;
  introspector?: AsyncGuestIntrospector;
  flows?: Omit<FlowTableOptions, 'onRemove'>;
  processes?: ProcessQueueOptions;
  records?: RecordQueueOptions;
  attribution?: AttributorOptions;
}

export class VmPipeline {
  readonly name: string;
  readonly decoder = new PacketDecoder();
  readonly matcher: GuestMatcher;
  readonly table: FlowTable;
  readonly processes: ProcessQueue;
  readonly records: RecordQueue;
  readonly attributor: Attributor;
  /** Frames that were IP but belonged to neither side of this guest (a shared capture). */
  foreign = 0;
  /** Later IP fragments (no ports): counted, not tracked as flows. */
  laterFragments = 0;
  /** Packets of flows whose cached verdict is deny. */
  deniedPackets = 0;
  private lastExpire = 0;
  private lastRecordExpire = 0;
  private sinceExpire = 0;

  constructor(
    opts: PipelineOptions,
    private readonly policy: PolicyStore,
    private readonly detector: Detector,
    private readonly enforcer?: BridgeEnforcer,
    /** Sees every attribution outcome (the sensor's latency histogram). */
    private readonly observe?: (r: ConnectionRecord) => void,
  ) {
    this.name = opts.name;
    this.matcher = new GuestMatcher(opts.guest);
    this.table = new FlowTable({ ...opts.flows, onRemove: (f, why) => this.flowRemoved(f, why) });
    this.processes = new ProcessQueue(opts.processes);
    this.records = new RecordQueue(opts.records);
    this.attributor = new Attributor(opts.introspector, this.processes, { onOutcome: (r) => this.decided(r), isClosing: (r) => this.isClosing(r) }, opts.attribution);
  }

  /** The per-packet entry point (a FrameSink). */
  readonly onFrame = (bytes: Uint8Array, start: number, caplen: number, _origLen: number, ts: number, linkType: number): void => {
    if (this.decoder.decode(bytes, caplen, linkType, start) !== DECODED_IP) return;
    const p = this.decoder.packet;
    if (p.fragment === 2) {
      this.laterFragments++;
      return;
    }
    const side = this.matcher.side(p);
    if (side === SIDE_NONE) {
      this.foreign++;
      return;
    }
    const t = this.table;
    const f = t.track(p, side, ts);
    if (t.lastCreated) this.newFlow(f, ts);
    else if (t.verdict[f] === V_DENY) this.deniedPackets++;
    if (++this.sinceExpire >= 4096 || ts - this.lastExpire >= 1000) this.expire(ts);
  };

  expire(now: number): void {
    this.sinceExpire = 0;
    this.lastExpire = now;
    this.table.expire(now);
    const wall = Date.now();
    if (wall - this.lastRecordExpire >= 1000) {
      this.lastRecordExpire = wall;
      this.records.expire(wall);
    }
  }

  private newFlow(f: number, ts: number): void {
    const t = this.table;
    const tuple = t.tuple(f);
    const r: ConnectionRecord = {
      flowId: t.id[f]!,
      flow: f,
      proto: tuple.proto,
      family: tuple.family,
      local: tuple.local,
      lport: tuple.lport,
      remote: tuple.remote,
      remoteWords: wordsOf(t.remoteWords(f)),
      rport: tuple.rport,
      direction: t.direction[f] === DIR_OUTBOUND ? 'outbound' : 'inbound',
      outcome: 'pending',
      reason: undefined,
      pid: undefined,
      processKey: undefined,
      name: undefined,
      path: undefined,
      firstSeen: ts,
      lastSeen: ts,
      attributionMs: undefined,
      verdict: undefined,
      generation: 0,
      endedAt: undefined,
    };
    this.records.add(r);
    this.attributor.request(r);
  }

  private flowRemoved(f: number, _why: RemoveReason): void {
    const id = this.table.id[f]!;
    const r = this.records.ended(id, this.table.lastSeen[f]!, Date.now());
    if (r && r.outcome === 'pending') this.attributor.flowEnded(id);
  }

  /** Whether the flow of a record is closing/closed on the wire (TCP FIN/RST seen). */
  isClosing(r: ConnectionRecord): boolean {
    if (r.flow < 0 || !this.table.isLive(r.flow, r.flowId)) return true;
    const s = this.table.tcpState[r.flow]!;
    return s === TCP_FIN_WAIT || s === TCP_CLOSED;
  }

  /** Attribution finished: decide the verdict, cache it in the flow table, hand it to the detector. */
  private decided(r: ConnectionRecord): void {
    this.observe?.(r);
    const v = this.evaluate(r);
    this.detector.handle(r);
    // Enforcement acts on what a process's own policy forbids (a parasitized process), not on fallback denies.
    if (this.enforcer && v.action === 'deny' && v.scope === 'process') this.enforcer.block(r);
  }

  private evaluate(r: ConnectionRecord): Verdict {
    const policy = this.policy.policy;
    const facts = { direction: r.direction, proto: r.proto, family: r.family, remote: r.remoteWords, rport: r.rport, lport: r.lport };
    const v = r.pid !== undefined && r.name !== undefined ? policy.decide(r.name, r.path, facts) : policy.decideUnattributed(facts);
    r.verdict = v;
    r.generation = this.policy.generation;
    if (r.flow >= 0 && this.table.isLive(r.flow, r.flowId)) this.table.verdict[r.flow] = v.action === 'deny' ? V_DENY : V_ALLOW;
    return v;
  }

  /** After a policy reload: re-decide live flows; a flow that turns to deny is reported like a new one. */
  reevaluate(): void {
    for (const r of this.records.active()) {
      if (r.outcome === 'pending') continue;
      const before = r.verdict?.action;
      const v = this.evaluate(r);
      if (v.action === 'deny' && before !== 'deny') {
        this.detector.handle(r, this.detector.now());
        if (this.enforcer && v.scope === 'process') this.enforcer.block(r);
      }
    }
  }

  close(): void {
    this.attributor.close();
  }
}

/** A plain array: cheaper to allocate and collect than a typed array for a 4-word value kept per connection. */
function wordsOf(w: Uint32Array): number[] {
  return [w[0]!, w[1]!, w[2]!, w[3]!];
}
