/** Sensor metrics: one plain object for the API, and Prometheus text exposition for `--metrics PORT`. */
import type { IntervalHistogram } from 'node:perf_hooks';
import type { CaptureStats } from '../capture/types.js';
import type { DecodeStats } from '../decode/decoder.js';
import type { Detector } from '../detector/detector.js';
import type { EventStream } from '../events/stream.js';
import type { FlowTableStats } from '../flows/table.js';
import type { AttributionStats } from './attributor.js';
import type { VmPipeline } from './pipeline.js';

export interface VmMetrics {
  vm: string;
  decode: DecodeStats;
  capture: CaptureStats | null;
  foreignPackets: number;
  laterFragments: number;
  deniedPackets: number;
  flows: FlowTableStats;
  attribution: AttributionStats;
  processes: number;
  records: number;
  suppressedEvents: number;
}

export interface SensorMetrics {
  vms: VmMetrics[];
  events: { emitted: number; dropped: number };
  policyGeneration: number;
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Present with enforcement on: destinations blocked at the bridge, failed nft batches. */
  enforcement?: { blocked: number; errors: number; lastError: string | null };
}

export function collectMetrics(
  vms: Array<{ pipeline: VmPipeline; capture: CaptureStats | undefined; detector: Detector }>,
  stream: EventStream,
  loop: IntervalHistogram,
  generation: number,
): SensorMetrics {
  const ms = (ns: number): number => (Number.isFinite(ns) ? ns / 1e6 : 0);
  return {
    vms: vms.map(({ pipeline: p, capture, detector }) => ({
      vm: p.name,
      decode: p.decoder.stats(),
      capture: capture ?? null,
      foreignPackets: p.foreign,
      laterFragments: p.laterFragments,
      deniedPackets: p.deniedPackets,
      flows: p.table.stats(),
      attribution: p.attributor.stats(),
      processes: p.processes.size,
      records: p.records.size,
      suppressedEvents: detector.suppressed,
    })),
    events: { emitted: stream.emitted, dropped: stream.dropped },
    policyGeneration: generation,
    eventLoopLagMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
  };
}

/** Prometheus text format (version 0.0.4). */
export function prometheusText(m: SensorMetrics): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[Record<string, string>, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${x.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${v}`);
    }
  };
  const per = <T>(f: (v: VmMetrics) => T): Array<[Record<string, string>, T]> => m.vms.map((v) => [{ vm: v.vm }, f(v)]);
  metric('parasight_packets_total', 'counter', 'Frames decoded.', per((v) => v.decode.frames));
  metric('parasight_packets_malformed_total', 'counter', 'Malformed or truncated frames.', per((v) => v.decode.malformed));
  metric('parasight_capture_dropped_total', 'counter', 'Packets the kernel dropped (pcap ps_drop).', per((v) => v.capture?.dropped ?? 0));
  metric('parasight_capture_if_dropped_total', 'counter', 'Packets the interface dropped (pcap ps_ifdrop).', per((v) => v.capture?.ifDropped ?? 0));
  metric('parasight_flows', 'gauge', 'Live flows.', per((v) => v.flows.flows));
  metric('parasight_flows_created_total', 'counter', 'Flows created.', per((v) => v.flows.created));
  metric('parasight_flows_evicted_total', 'counter', 'Flows evicted at the table cap.', per((v) => v.flows.evicted));
  metric('parasight_flows_expired_total', 'counter', 'Flows expired idle.', per((v) => v.flows.expired));
  const outcomes: Array<[Record<string, string>, number]> = [];
  for (const v of m.vms) for (const [o, n] of Object.entries(v.attribution.outcomes)) outcomes.push([{ vm: v.vm, outcome: o }, n]);
  metric('parasight_attribution_total', 'counter', 'Attribution outcomes.', outcomes);
  metric('parasight_attribution_pending', 'gauge', 'Flows waiting for a guest walk.', per((v) => v.attribution.pending));
  metric('parasight_attribution_latency_p99_ms', 'gauge', 'p99 time from first packet to attribution outcome.', per((v) => v.attribution.latencyP99Ms));
  metric('parasight_guest_walks_total', 'counter', 'Introspector refreshes.', per((v) => v.attribution.refreshes));
  metric('parasight_events_total', 'counter', 'Events published.', [[{}, m.events.emitted]]);
  metric('parasight_events_dropped_total', 'counter', 'Events dropped for slow consumers.', [[{}, m.events.dropped]]);
  metric('parasight_event_loop_lag_p99_ms', 'gauge', 'Event-loop delay p99.', [[{}, m.eventLoopLagMs.p99]]);
  if (m.enforcement) {
    metric('parasight_enforcement_blocked_total', 'counter', 'Destinations blocked at the bridge.', [[{}, m.enforcement.blocked]]);
    metric('parasight_enforcement_errors_total', 'counter', 'Failed nftables updates.', [[{}, m.enforcement.errors]]);
  }
  return lines.join('\n') + '\n';
}
