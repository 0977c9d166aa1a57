/** Sensor metrics as one plain object for the API (prometheus.ts exposes the same figures to Prometheus). */
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
