/**
 * parasight public API. Everything an embedder imports comes from here; the CLI is a thin layer over it.
 */
export { ParasightError, type ErrorCode, type ErrorDetails } from './errors.js';
export type * from './introspect/types.js';
export { Memory, type PhysicalRange } from './memory/memory.js';
export {
  openMemory,
  type MemorySourceSpec,
  type SyncMemorySourceSpec,
  type FileSourceSpec,
  type LiveFileSourceSpec,
  type QemuProcessSourceSpec,
  type LibvmiSourceSpec,
} from './memory/open.js';
export { locateQemuRam, type QemuRamLayout, type LocateOptions } from './memory/qemu-process.js';
export { parseMemorySpec } from './memory/spec.js';
export { QmpClient, type QmpEvent, type QmpOptions } from './memory/qmp.js';
export { PacketDecoder, type DecodeStats } from './decode/decoder.js';
export { DecodedPacket, MALFORMED_REASONS, type MalformedReason } from './decode/packet.js';
export { FlowTable, type FlowTableOptions, type FlowTimeouts, type FlowInfo, type FlowTableStats } from './flows/table.js';
export { GuestMatcher, type GuestAddresses } from './flows/guest.js';
export { readPcapFile, type PcapFileOptions, type PcapFileSummary } from './capture/pcap-file.js';
export { LiveCapture, type LiveCaptureOptions } from './capture/live.js';
export type { FrameSink, CaptureStats } from './capture/types.js';
export { AddressSpace, TranslateStatus, UNTRANSLATED, type AddressSpaceOptions, type PagingMode, type Translation, type TranslateStatusCode } from './paging/address-space.js';
export { Policy, type PolicySpec, type ProcessPolicySpec, type RuleSpec, type Verdict, type ConnectionFacts, type Mode } from './rules/policy.js';
export { loadPolicyFile, parsePolicy } from './rules/load.js';
export { PolicyStore } from './rules/store.js';
export { Learner, type LearnOptions, type LearnResult, type ObservedConnection } from './rules/learn.js';
export { BaselineDetector, type BaselineDetectorOptions, type CheckResult, type RecordResult } from './baseline/detector.js';
export { BaselineStore, defaultDbPath, type BaselineSummary, type ExportDocument } from './baseline/store.js';
export { HostMapSource } from './baseline/host.js';
export { watch as watchBaseline, type WatchOptions, type WatchSummary } from './baseline/watch.js';
export { GuestMapSource, type GuestSourceOptions } from './baseline/guest.js';
export type { MapSource, TargetSpec } from './baseline/source.js';
export { canonicalFeature, FEATURE_VERSION } from './baseline/feature.js';
export { parseMaps } from './baseline/maps.js';
export { modifiedCodePages } from './baseline/code-pages.js';
export type { BaselineEvent } from './baseline/events.js';
export type { BaselineRecord, Comparison, Finding, FindingKind, Risk, Snapshot, MapEntry, ProcessMap, ModifiedCode, FeatureValue, BaselinePolicy } from './baseline/types.js';
export { Sensor, createSensor, type SensorOptions, type VmOptions, type SensorEventMap } from './sensor/sensor.js';
export type { SensorMetrics, VmMetrics } from './sensor/metrics.js';
export type { PrometheusOptions } from './sensor/prometheus.js';
export type { AttributorOptions, AttributionStats } from './sensor/attributor.js';
export { EVENT_SCHEMA, type SensorEvent, type EventType, type EventFlow, type EventProcess, type Evidence, type Risk as EventRisk } from './events/event.js';
export { EventStream, NdjsonWriter } from './events/stream.js';
export { ProcessQueue, type ProcessEntry, type ProcessUpdate } from './queues/process-queue.js';
export { RecordQueue, type ConnectionRecord, type AttributionOutcome } from './queues/record-queue.js';
export { hashFile, hashFileSync, hashRange, hashRangeSync, hashBytes, type HashAlgorithm, type HashResult, type HashOptions, type AsyncHashOptions } from './hash/hash.js';
export { loadWasmHasher, type WasmHasher } from './hash/wasm.js';
export { openIntrospector, openGuest, registerIntrospector, type IntrospectorSpec, type IntrospectorOpener, type IntrospectorOptions } from './introspect/open.js';
export { asyncIntrospector, type AsyncGuestIntrospector, type GuestSnapshot } from './introspect/async.js';
export { openIntrospectorInWorker, WorkerIntrospector, type WorkerIntrospectorOptions } from './introspect/worker-client.js';
export { WindowsIntrospector, type WindowsIntrospectorOptions, type GuestModule, type TcpipTablesInfo, type ScannedProcess, type ProcessModule, type InjectedCodeFinding, type ScannedConnection, type ScannedSocket, type PoolScanPlacement, protectionName } from './introspect/windows/introspector.js';
export { LinuxIntrospector, type LinuxIntrospectorOptions } from './introspect/linux/introspector.js';
export { generateLinuxProfile, unpackKernel, parseSystemMap, type LinuxProfileOptions } from './profiles/linux/generate.js';
export { linuxProfileFromMemory, type MemoryProfileResult } from './profiles/linux/from-memory.js';
export { Profile, parseIsf, serializeIsf, type IsfDocument } from './profiles/isf.js';
export { BridgeEnforcer, removeEnforcementTable, type EnforcerOptions, type BlockTarget } from './events/enforcer.js';
