/**
 * Baseline results as events of the shared schema (schema/event.schema.json, one JSON object per line):
 * `{schema, id, ts, type, vm, flow, process, verdict, risk, rule, reason, evidence[], count}`.
 *
 * Types: `baseline.finding` (one per finding; verdict "parasitized" for high risk, else "abnormal"; rule
 * "baseline.<kind>"), `baseline.checked` (one per application check; verdict "clean" or the worst finding's; rule
 * null), `baseline.recorded` (rule "record", or "tofu" for trust on first use), `baseline.unknown` (no baseline
 * stored for the key; verdict "unknown"; rule null). `vm` is the VM name in guest mode and null on the host; `flow`
 * is null (not about a connection); no `attribution` (that describes how a connection found its owner).
 * Evidence kinds: "file" and "memory" (a finding: `finding` says which kind) and "feature" (the key and hashes).
 * Addresses in evidence are hex strings (JSON has no 64-bit integers).
 */
import { randomUUID } from 'node:crypto';
import { EVENT_SCHEMA, type EventProcess, type Risk } from '../events/event.js';
import type { Comparison, Finding, Snapshot } from './types.js';

export { EVENT_SCHEMA };

export type BaselineEventType = 'baseline.finding' | 'baseline.checked' | 'baseline.recorded' | 'baseline.unknown';
export type BaselineVerdict = 'clean' | 'abnormal' | 'parasitized' | 'recorded' | 'unknown';

export interface BaselineEvent {
  schema: typeof EVENT_SCHEMA;
  id: string;
  ts: string;
  type: BaselineEventType;
  /** VM name in guest mode; null on the host. */
  vm: string | null;
  flow: null;
  process: EventProcess | null;
  verdict: BaselineVerdict;
  risk: Risk;
  rule: string | null;
  reason: string;
  evidence: ({ kind: 'file' | 'memory' | 'feature' } & Record<string, unknown>)[];
  count: number;
}

function verdictOf(risk: Risk): BaselineVerdict {
  return risk === 'high' ? 'parasitized' : risk === 'none' ? 'clean' : 'abnormal';
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function base(s: Snapshot, type: BaselineEventType, pid: number | undefined): Pick<BaselineEvent, 'schema' | 'id' | 'ts' | 'type' | 'vm' | 'flow' | 'process' | 'count'> {
  const p = pid === undefined ? undefined : s.processes.find((x) => x.pid === pid);
  return {
    schema: EVENT_SCHEMA,
    id: randomUUID(),
    ts: new Date().toISOString(),
    type,
    vm: s.origin === 'host' ? null : s.origin,
    flow: null,
    process: p
      ? { pid: p.pid, name: p.name, path: p.exe || null, create_time: p.createTime ?? 0, create_time_base: p.createTimeBase ?? 'epoch', ppid: p.ppid ?? 0 }
      : null,
    count: 1,
  };
}

function keyEvidence(s: Snapshot, c: Comparison | undefined): BaselineEvent['evidence'][number] {
  return {
    kind: 'feature',
    app: s.app,
    app_version: s.appVersion.version,
    app_version_source: s.appVersion.source,
    build_id: s.appVersion.buildId ?? null,
    os_version: s.env.osVersion,
    device_model: s.env.deviceModel,
    pids: s.processes.map((p) => p.pid),
    ...(c
      ? {
          feature_hash: c.current.featureHash,
          path_hash: c.current.pathHash,
          baseline_feature_hash: c.baseline?.feature.featureHash ?? null,
          same_paths: c.samePaths,
        }
      : {}),
  };
}

export function findingEvidence(f: Finding): BaselineEvent['evidence'][number] {
  const e: BaselineEvent['evidence'][number] = { kind: f.kind === 'anon-exec' || f.kind === 'code-modified' ? 'memory' : 'file', finding: f.kind, path: f.path, code: f.code, why: f.why, pids: f.pids };
  if (f.ranges) e.ranges = f.ranges.map((r) => ({ pid: r.pid, start: hex(r.start), end: hex(r.end), perms: r.perms }));
  if (f.expectedHash) e.expected_hash = f.expectedHash;
  if (f.actualHash) e.actual_hash = f.actualHash;
  if (f.hashFrom) e.hash_from = f.hashFrom;
  if (f.sha256) e.sha256 = f.sha256;
  return e;
}

/** One event per finding, then the per-application summary. */
export function comparisonEvents(s: Snapshot, c: Comparison): BaselineEvent[] {
  if (!c.baseline) {
    const other = c.otherVersion === undefined ? '' :
      `; a baseline exists for version ${c.otherVersion}: record this version if it is an upgrade, else the executable was replaced`;
    return [{ ...base(s, 'baseline.unknown', s.processes[0]?.pid), verdict: 'unknown', risk: c.otherVersion === undefined ? 'none' : 'low',
      rule: null, reason: `no baseline stored for ${s.app} ${s.appVersion.version} on ${s.env.osVersion} / ${s.env.deviceModel}${other}`,
      evidence: [{ ...keyEvidence(s, c), other_version: c.otherVersion ?? null }] }];
  }
  const out: BaselineEvent[] = c.findings.map((f) => ({
    ...base(s, 'baseline.finding', f.pids[0] ?? s.processes[0]?.pid),
    verdict: verdictOf(f.risk),
    risk: f.risk,
    rule: `baseline.${f.kind}`,
    reason: f.reason,
    evidence: [findingEvidence(f)],
  }));
  out.push({
    ...base(s, 'baseline.checked', s.processes[0]?.pid),
    verdict: verdictOf(c.risk),
    risk: c.risk,
    rule: null,
    reason: c.findings.length === 0
      ? `${s.app}: memory maps of ${s.processes.length} process(es) match the baseline`
      : `${s.app}: ${c.findings.length} finding(s), worst risk ${c.risk}`,
    evidence: [{ ...keyEvidence(s, c), findings: c.findings.length }],
  });
  return out;
}

/** The app could not be judged (no baseline, or no readable memory map): verdict "unknown". */
export function unknownEvent(s: Snapshot, reason: string): BaselineEvent {
  return { ...base(s, 'baseline.unknown', s.processes[0]?.pid), verdict: 'unknown', risk: 'none', rule: null, reason,
    evidence: [keyEvidence(s, undefined)] };
}

export function recordedEvent(s: Snapshot, how: 'record' | 'tofu', revision: number, featureHash: string): BaselineEvent {
  return {
    ...base(s, 'baseline.recorded', s.processes[0]?.pid),
    verdict: 'recorded',
    risk: 'none',
    rule: how,
    reason: how === 'tofu'
      ? `trust on first use: recorded the first seen state of ${s.app} ${s.appVersion.version} as its baseline`
      : `recorded revision ${revision} of the baseline of ${s.app} ${s.appVersion.version}`,
    evidence: [{ ...keyEvidence(s, undefined), feature_hash: featureHash, revision }],
  };
}

export function eventLine(e: BaselineEvent): string {
  return JSON.stringify(e) + '\n';
}
