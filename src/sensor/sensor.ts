/**
 * Sensor: the embeddable VM sensor. Watches one or more VMs (live on a bridge/tap, or from capture files), attributes
 * each new connection to a guest process through a GuestIntrospector, applies the per-process policy and publishes
 * events (EventEmitter "event" + async iteration, with back-pressure).
 *
 *   const sensor = createSensor({ policy: 'rules.yaml', vms: [{ name: 'web1', guest: { macs: [...] }, introspector }] });
 *   for await (const e of sensor) console.log(e.type, e.process?.name);
 */
import { EventEmitter } from 'node:events';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ParasightError, badArgument } from '../errors.js';
import { LiveCapture, type LiveCaptureOptions } from '../capture/live.js';
import { readPcapFile, type PcapFileOptions, type PcapFileSummary } from '../capture/pcap-file.js';
import type { CaptureStats } from '../capture/types.js';
import { Detector } from '../detector/detector.js';
import { EventStream } from '../events/stream.js';
import type { SensorEvent } from '../events/event.js';
import type { GuestIntrospector } from '../introspect/types.js';
import { asyncIntrospector, isAsyncIntrospector, type AsyncGuestIntrospector } from '../introspect/async.js';
import { WorkerIntrospector, type WorkerIntrospectorOptions } from '../introspect/worker-client.js';
import type { MemorySourceSpec } from '../memory/open.js';
import { openRegistered } from '../introspect/open.js';
import type { PolicySpec } from '../rules/policy.js';
import { PolicyStore } from '../rules/store.js';
import { VmPipeline, type PipelineOptions } from './pipeline.js';
import { collectMetrics, type SensorMetrics } from './metrics.js';
import { BridgeEnforcer, type EnforcerOptions } from '../events/enforcer.js';
import { SensorPrometheus, type PrometheusOptions } from './prometheus.js';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface VmOptions extends Omit<PipelineOptions, 'introspector'> {
  /**
   * Guest memory to attribute connections with, opened and walked on a worker thread of this VM's own (the event
   * loop never waits for discovery or a walk): a source string as `--memory` takes (`/path/image.raw`,
   * `live:/dev/shm/vm1`, `qemu:PID,qmp=SOCKET`, `libvmi:DOMAIN`) or a source spec. The sensor owns it.
   */
  memory?: string | MemorySourceSpec;
  /** How to open `memory`: profile, OS, modules that register openers in the worker, close timeout. */
  introspection?: WorkerIntrospectorOptions;
  /**
   * An introspector the caller opened instead of `memory`: an asynchronous one (e.g. from
   * `openIntrospectorInWorker`), or a synchronous GuestIntrospector, whose walks then run on this thread.
   * Without either, every flow is `unattributed`.
   */
  introspector?: GuestIntrospector | AsyncGuestIntrospector;
  /** Host interface (bridge, tap) to capture this VM's traffic on; omit for file/ingest-only use. */
  iface?: string;
  capture?: LiveCaptureOptions;
  /** close() also closes the introspector (default true; false when the caller keeps using it). */
  closeIntrospector?: boolean;
}

export interface SensorOptions {
  vms: VmOptions[];
  /** Policy file path (YAML/JSON), a policy object, or an existing PolicyStore. */
  policy: string | PolicySpec | PolicyStore;
  /** Reload the policy file when it changes on disk (default true for a path). */
  watchPolicy?: boolean;
  /** Publish `connection.allowed` events too. */
  emitAllowed?: boolean;
  /** Per-process rate-limit window for abnormal-connection events (ms). */
  rateWindowMs?: number;
  /** Events queued per slow async-iterator consumer before the oldest are dropped. */
  maxQueuedEvents?: number;
  /**
   * Drop what a process's own policy forbids at the bridge (nftables, in this process's network namespace; needs
   * root). Off by default. The first packets of an abnormal connection are already out (passive capture).
   */
  enforce?: boolean | EnforcerOptions;
  /** Prometheus registry, prefix and labels (default: a registry of this sensor's own, prefix "parasight_"). */
  prometheus?: PrometheusOptions;
}

interface Vm {
  pipeline: VmPipeline;
  introspector: AsyncGuestIntrospector | undefined;
  ownsIntrospector: boolean;
  detector: Detector;
  options: VmOptions;
  capture: LiveCapture | undefined;
  captureStats: CaptureStats | undefined;
}

export interface SensorEventMap {
  event: [SensorEvent];
  error: [Error];
  'policy-reloaded': [number];
}

export class Sensor extends EventEmitter<SensorEventMap> {
  readonly policyStore: PolicyStore;
  private readonly ownsStore: boolean;
  private readonly stream: EventStream;
  private readonly vms = new Map<string, Vm>();
  private readonly loopDelay: IntervalHistogram;
  private expiryTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  readonly startedAt = Date.now();
  readonly enforcer: BridgeEnforcer | undefined;
  private readonly prom: SensorPrometheus;
  private readonly sharedRegistry: boolean;

  constructor(options: SensorOptions) {
    super();
    if (!options || !Array.isArray(options.vms) || options.vms.length === 0) throw badArgument('options.vms must list at least one VM');
    // Everything that can be refused is checked before anything is started (threads, nftables, metrics).
    const names = new Set<string>();
    for (const vo of options.vms) {
      if (names.has(vo.name)) throw badArgument(`two VMs are named ${JSON.stringify(vo.name)}`);
      names.add(vo.name);
      if (vo.memory !== undefined && vo.introspector !== undefined) throw badArgument(`VM ${JSON.stringify(vo.name)}: give memory or introspector, not both`);
    }
    this.ownsStore = !(options.policy instanceof PolicyStore);
    this.policyStore = options.policy instanceof PolicyStore ? options.policy : new PolicyStore(options.policy);
    this.stream = new EventStream(options.maxQueuedEvents);
    this.enforcer = options.enforce ? new BridgeEnforcer(options.enforce === true ? {} : options.enforce) : undefined;
    this.stream.on('event', (e) => this.emit('event', e));
    this.sharedRegistry = options.prometheus?.registry !== undefined;
    this.prom = new SensorPrometheus(() => this.metrics(), options.prometheus);
    const started: AsyncGuestIntrospector[] = [];
    try {
      for (const vo of options.vms) {
        let pipeline: VmPipeline | undefined;
        const detector = new Detector({ vm: vo.name, emitAllowed: options.emitAllowed, rateWindowMs: options.rateWindowMs }, (e) => this.stream.publish(e), (k) => pipeline?.processes.byKey(k));
        const introspector =
          vo.memory !== undefined
            ? openMemoryIntrospector(vo.memory, vo.introspection)
            : vo.introspector === undefined || isAsyncIntrospector(vo.introspector)
              ? vo.introspector
              : asyncIntrospector(vo.introspector);
        const ownsIntrospector = vo.memory !== undefined || vo.closeIntrospector !== false;
        if (introspector && ownsIntrospector) started.push(introspector);
        pipeline = new VmPipeline({ ...vo, introspector }, this.policyStore, detector, this.enforcer, (r) => {
          if (r.outcome !== 'pending') this.prom.observe(vo.name, r.outcome, r.attributionMs ?? 0);
        });
        this.vms.set(vo.name, { pipeline, introspector, ownsIntrospector, detector, options: vo, capture: undefined, captureStats: undefined });
        pipeline.attributor.start((e) => {
          if (this.listenerCount('error') > 0) this.emit('error', new ParasightError(`VM ${vo.name}: guest memory could not be opened: ${e.message}`, { code: (e as ParasightError).code ?? 'IO', cause: e }));
        });
      }
    } catch (e) {
      // A VM that could not be set up: what the others started is released before the error goes up.
      for (const intro of started) void intro.close().catch(() => {});
      this.prom.close(this.sharedRegistry);
      this.enforcer?.close();
      throw e;
    }
    this.policyStore.on('reloaded', (_p, gen) => {
      for (const vm of this.vms.values()) vm.pipeline.reevaluate();
      this.emit('policy-reloaded', gen);
    });
    this.policyStore.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    if (typeof options.policy === 'string' && options.watchPolicy !== false) this.policyStore.watchFile();
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
  }

  /** Opens live captures for every VM that names an interface. */
  start(): this {
    for (const [name, vm] of this.vms) {
      if (!vm.options.iface || vm.capture) continue;
      vm.capture = new LiveCapture(vm.options.iface, vm.pipeline.onFrame, { filter: vm.pipeline.matcher.bpfFilter(), ...vm.options.capture }, (e) => {
        // Its interface went away (the VM stopped): said as an error with code SOURCE_GONE; the other VMs go on.
        if (this.listenerCount('error') > 0) this.emit('error', new ParasightError(`VM ${name}: ${e.message}`, { code: 'SOURCE_GONE', source: e.source, cause: e }));
      });
    }
    if (!this.expiryTimer) {
      // Live flows also expire while no packets arrive.
      this.expiryTimer = setInterval(() => {
        const now = Date.now();
        for (const vm of this.vms.values()) if (vm.capture) vm.pipeline.expire(now);
      }, 1000);
      this.expiryTimer.unref();
    }
    return this;
  }

  private vm(name?: string): Vm {
    if (name === undefined) {
      if (this.vms.size !== 1) throw badArgument('several VMs are configured: name the one the frames belong to');
      return this.vms.values().next().value!;
    }
    const vm = this.vms.get(name);
    if (!vm) throw badArgument(`no VM named ${JSON.stringify(name)}`);
    return vm;
  }

  /** Feeds one frame (e.g. from the embedder's own capture). The bytes are not kept. */
  ingest(frame: Uint8Array, tsMs: number, linkType = 1, vm?: string): void {
    this.vm(vm).pipeline.onFrame(frame, 0, frame.length, frame.length, tsMs, linkType);
  }

  /** Reads a pcap/pcapng file through the VM's pipeline (chunked: the event loop keeps running). */
  async readPcap(path: string, vm?: string, options?: PcapFileOptions): Promise<PcapFileSummary> {
    const v = this.vm(vm);
    const summary = await readPcapFile(path, v.pipeline.onFrame, options);
    return summary;
  }

  /** Waits until every new flow seen so far has an attribution outcome (useful after readPcap). */
  async settle(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ([...this.vms.values()].some((v) => v.pipeline.attributor.stats().pending > 0)) {
      if (Date.now() > end) throw badArgument('attribution did not settle in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Re-reads the policy file (the CLI calls this on SIGHUP). Flows, records and processes are kept. */
  reloadPolicy(): boolean {
    return this.policyStore.reload();
  }

  /** Emits pending rate-limit summaries now. */
  flushEvents(): void {
    for (const vm of this.vms.values()) vm.detector.flush(true);
  }

  /** A new async iterator over events from now on. */
  events(): AsyncIterableIterator<SensorEvent> {
    return this.stream.subscribe();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<SensorEvent> {
    return this.events();
  }

  pipeline(name?: string): VmPipeline {
    return this.vm(name).pipeline;
  }

  metrics(): SensorMetrics {
    const vms = [...this.vms.values()].map((vm) => {
      if (vm.capture) vm.captureStats = vm.capture.stats();
      return { pipeline: vm.pipeline, capture: vm.captureStats, detector: vm.detector };
    });
    const m = collectMetrics(vms, this.stream, this.loopDelay, this.policyStore.generation);
    if (this.enforcer) m.enforcement = { blocked: this.enforcer.blocked, errors: this.enforcer.errors, lastError: this.enforcer.lastError ?? null };
    return m;
  }

  /**
   * Resolves once every VM's guest is open (discovery done) and walked once; rejects with the first VM whose guest
   * could not be opened (its flows are then `unattributed` with the reason). Capture does not wait for this.
   */
  async ready(): Promise<void> {
    await Promise.all([...this.vms.values()].map(async (vm) => {
      if (!vm.introspector) return;
      await vm.introspector.opened;
      await vm.pipeline.attributor.refresh();
    }));
  }

  /** The prom-client registry holding this sensor's metrics. */
  get registry(): Registry {
    return this.prom.registry;
  }

  /** The metrics as Prometheus text (exposition format 0.0.4). */
  prometheusText(): Promise<string> {
    return this.prom.text();
  }

  /** Serves the Prometheus text on http://HOST:PORT/metrics until close() (port 0: any free port). */
  serveMetrics(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    if (this.closing) throw badArgument('the sensor is closed');
    return this.prom.listen(port, host);
  }

  /**
   * Stops capture, resolves pending attributions (`unattributed: sensor closed`), flushes summaries, ends iterators,
   * stops serving metrics and closes the introspectors it owns. All of that happens before it returns, except
   * releasing worker threads: the promise resolves once they have ended. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    clearInterval(this.expiryTimer);
    const releasing: Array<Promise<void>> = [];
    for (const vm of this.vms.values()) {
      if (vm.capture) {
        vm.captureStats = vm.capture.stats();
        vm.capture.close();
        vm.capture = undefined;
      }
      vm.pipeline.close();
      vm.detector.close();
      if (vm.introspector && vm.ownsIntrospector) releasing.push(vm.introspector.close().catch(() => {}));
    }
    this.enforcer?.close();
    if (this.ownsStore) this.policyStore.close();
    this.loopDelay.disable();
    this.prom.close(this.sharedRegistry);
    this.stream.end();
    this.closing = Promise.all(releasing).then(() => {});
    return this.closing;
  }
}

/**
 * `memory` of a VM: openers registered on this thread (registerIntrospector) see a source string first, as with
 * openIntrospector; the built-in ones open and walk the guest on a worker thread.
 */
function openMemoryIntrospector(memory: string | MemorySourceSpec, options: WorkerIntrospectorOptions = {}): AsyncGuestIntrospector {
  if (typeof memory === 'string') {
    const { modules: _m, closeTimeoutMs: _c, ...spec } = options;
    const local = openRegistered({ ...spec, memory });
    if (local) return asyncIntrospector(local);
  }
  return WorkerIntrospector.start(memory, options);
}

export function createSensor(options: SensorOptions): Sensor {
  return new Sensor(options);
}
