/**
 * Prometheus exposition of a Sensor's metrics through prom-client. Each Sensor gets a registry of its own (two
 * Sensors in one process never collide, and prom-client's global registry is left alone unless the embedder hands
 * it over). Totals are read from the sensor's own counters at scrape time (nothing on the packet path); the
 * attribution latency histogram is observed once per attribution outcome.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AttributionOutcome } from '../queues/record-queue.js';
import type { SensorMetrics, VmMetrics } from './metrics.js';

export interface PrometheusOptions {
  /** Register into this registry instead of a new one (e.g. prom-client's global `register`). */
  registry?: Registry;
  /** Metric name prefix (default "parasight_"): two Sensors sharing one registry need different prefixes. */
  prefix?: string;
  /** Labels added to every sample of a registry of its own (e.g. `{ host: 'hv1' }`). */
  labels?: Record<string, string>;
}

type Outcome = Exclude<AttributionOutcome, 'pending'>;

/** Seconds: attribution ends from a snapshot hit (µs) up to `maxWaitMs` after several walks (s). */
const LATENCY_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class SensorPrometheus {
  readonly registry: Registry;
  private readonly latency: Histogram<'vm' | 'outcome'>;
  private cached: SensorMetrics | undefined;
  private server: Server | undefined;
  /** Names this sensor registered (a shared registry holds the embedder's metrics too). */
  private readonly names: string[] = [];

  constructor(
    private readonly source: () => SensorMetrics,
    options: PrometheusOptions = {},
  ) {
    this.registry = options.registry ?? new Registry();
    if (options.labels && !options.registry) this.registry.setDefaultLabels(options.labels);
    const p = options.prefix ?? 'parasight_';
    const reg = [this.registry];
    const name = (n: string): string => {
      this.names.push(p + n);
      return p + n;
    };
    const perVm = (f: (v: VmMetrics) => number) => (m: SensorMetrics) => m.vms.map((v) => [{ vm: v.vm }, f(v)] as const);
    const counter = (metricName: string, help: string, read: (m: SensorMetrics) => ReadonlyArray<readonly [Record<string, string>, number]>, labelNames: string[] = ['vm']): void => {
      const self = this;
      new Counter({
        name: name(metricName),
        help,
        labelNames,
        registers: reg,
        collect() {
          // A counter that mirrors a running total: restate it at each scrape.
          this.reset();
          for (const [labels, v] of read(self.current())) this.inc(labels, v);
        },
      });
    };
    const gauge = (metricName: string, help: string, read: (m: SensorMetrics) => ReadonlyArray<readonly [Record<string, string>, number]>, labelNames: string[] = ['vm']): void => {
      const self = this;
      new Gauge({
        name: name(metricName),
        help,
        labelNames,
        registers: reg,
        collect() {
          this.reset();
          for (const [labels, v] of read(self.current())) this.set(labels, v);
        },
      });
    };
    counter('packets_total', 'Frames decoded.', perVm((v) => v.decode.frames));
    counter('packets_malformed_total', 'Malformed or truncated frames.', perVm((v) => v.decode.malformed));
    counter('capture_dropped_total', 'Packets the kernel dropped (pcap ps_drop).', perVm((v) => v.capture?.dropped ?? 0));
    counter('capture_if_dropped_total', 'Packets the interface dropped (pcap ps_ifdrop).', perVm((v) => v.capture?.ifDropped ?? 0));
    gauge('flows', 'Live flows.', perVm((v) => v.flows.flows));
    counter('flows_created_total', 'Flows created.', perVm((v) => v.flows.created));
    counter('flows_evicted_total', 'Flows evicted at the table cap.', perVm((v) => v.flows.evicted));
    counter('flows_expired_total', 'Flows expired idle.', perVm((v) => v.flows.expired));
    counter(
      'attribution_total',
      'Attribution outcomes.',
      (m) => m.vms.flatMap((v) => Object.entries(v.attribution.outcomes).map(([outcome, n]) => [{ vm: v.vm, outcome }, n] as const)),
      ['vm', 'outcome'],
    );
    gauge('attribution_pending', 'Flows waiting for a guest walk.', perVm((v) => v.attribution.pending));
    this.latency = new Histogram({
      name: name('attribution_latency_seconds'),
      help: 'Time from a new flow to its attribution outcome.',
      labelNames: ['vm', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: reg,
    });
    counter('guest_walks_total', 'Guest walks (introspector refreshes).', perVm((v) => v.attribution.refreshes));
    counter('guest_walk_errors_total', 'Guest walks that failed.', perVm((v) => v.attribution.refreshErrors));
    gauge('guest_walk_last_seconds', 'Wall-clock time of the last guest walk, request to answer.', perVm((v) => v.attribution.lastWalkMs / 1000));
    gauge(
      'introspector_state',
      'The guest introspector\'s state (1 for the current one): opening, ready, failed or none.',
      (m) => m.vms.flatMap((v) => (['opening', 'ready', 'failed', 'none'] as const).map((state) => [{ vm: v.vm, state }, v.attribution.introspector === state ? 1 : 0] as const)),
      ['vm', 'state'],
    );
    gauge('processes', 'Guest processes known.', perVm((v) => v.processes));
    counter('events_total', 'Events published.', (m) => [[{}, m.events.emitted]], []);
    counter('events_dropped_total', 'Events dropped for slow consumers.', (m) => [[{}, m.events.dropped]], []);
    gauge('event_loop_lag_seconds', 'Event-loop delay since start (quantile 1 = max).', (m) => [
      [{ quantile: '0.5' }, m.eventLoopLagMs.p50 / 1000],
      [{ quantile: '0.99' }, m.eventLoopLagMs.p99 / 1000],
      [{ quantile: '1' }, m.eventLoopLagMs.max / 1000],
    ], ['quantile']);
    gauge('policy_generation', 'Policy generation in force (1 + successful reloads).', (m) => [[{}, m.policyGeneration]], []);
    counter('enforcement_blocked_total', 'Destinations blocked at the bridge.', (m) => (m.enforcement ? [[{}, m.enforcement.blocked]] : []), []);
    counter('enforcement_errors_total', 'Failed nftables updates.', (m) => (m.enforcement ? [[{}, m.enforcement.errors]] : []), []);
  }

  /** One snapshot per scrape: every collect() of a scrape runs in the same turn, so a microtask clears it. */
  private current(): SensorMetrics {
    if (!this.cached) {
      this.cached = this.source();
      queueMicrotask(() => (this.cached = undefined));
    }
    return this.cached;
  }

  /** Called once per attribution outcome (new flows only, never per packet). */
  observe(vm: string, outcome: Outcome, ms: number): void {
    this.latency.observe({ vm, outcome }, ms / 1000);
  }

  /** Prometheus text exposition (version 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serves GET /metrics; resolves with the bound address. */
  async listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    if (this.server) throw new Error('metrics are already served');
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.text().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => {
        this.server = undefined;
        reject(e);
      });
      server.listen(port, host, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  /** Stops serving; with a shared registry, also removes this sensor's metrics from it. */
  close(shared: boolean): void {
    this.server?.close();
    this.server?.closeAllConnections();
    this.server = undefined;
    if (shared) for (const n of this.names) this.registry.removeSingleMetric(n);
  }
}
