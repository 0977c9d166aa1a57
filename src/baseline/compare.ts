/**
 * Comparison of a snapshot with the stored normal value, and the recording of a new normal value.
 *
 * Risks:
 * - extra / missing file: code → high, data → low; an extra memfd file: executable → high, else medium;
 * - a file mapped after deletion that the baseline did not show deleted: code → high, data → medium;
 * - a file the baseline saw as data now mapped executable → high;
 * - content hash differs from this version's baseline or a preset: code → high, data → medium; from the previous
 *   app version's baseline (a fallback: upgrades change files legitimately): code → medium, data → low;
 * - more anonymous executable mappings in a process than the policy allows (default: the most the clean recording
 *   showed in one process — JIT runtimes have some) → high;
 * - when code pages are checked: more written code pages of a file in one process than the clean recording showed
 *   (normally none) → high ("code-modified");
 * - a file whose content could not be read for hashing → low ("unverified").
 */
import { classifyFile, maxRisk, riskAtLeast } from './classify.js';
import { anonExecEntries, fileRecord, fileUses, type FileProbe, type FileUse } from './collect.js';
import type { Digest } from './digest.js';
import { featureValue, pathList } from './feature.js';
import type {
  BaselinePolicy,
  BaselineRecord,
  Comparison,
  FeatureValue,
  FileRecord,
  Finding,
  Risk,
  Snapshot,
} from './types.js';
import { defaultPolicy } from './types.js';

export interface CompareContext {
  digest: Digest;
  probe: FileProbe;
  /** Compare content hashes of the mapped files (default true). */
  hashFiles?: boolean;
  /** Baseline of the previous app version on the same OS and device (hash fallback). */
  previous?: BaselineRecord;
  /** Known-good content hashes by path ("algo:hex"), e.g. shipped with a product release. */
  preset?: ReadonlyMap<string, string>;
}

export function snapshotFeature(s: Snapshot, digest: Digest): FeatureValue {
  const key = { app: s.app, appVersion: s.appVersion.version, osVersion: s.env.osVersion, deviceModel: s.env.deviceModel };
  return featureValue(key, pathList(s.processes), digest);
}

export function buildRecord(
  s: Snapshot,
  ctx: Pick<CompareContext, 'digest' | 'probe' | 'hashFiles'>,
  policy: BaselinePolicy = defaultPolicy,
  source: BaselineRecord['source'] = 'record',
): BaselineRecord {
  const uses = fileUses(s.processes);
  const feature = snapshotFeature(s, ctx.digest);
  const files: FileRecord[] = feature.paths.map((p) => fileRecord(uses.get(p)!, ctx.probe, ctx.hashFiles !== false));
  const written = writtenCodeByPath(s);
  for (const f of files) {
    const n = written.get(f.path)?.most ?? 0;
    if (n > 0) f.modifiedCode = n;
  }
  const anonExecMax = Math.max(0, ...s.processes.map((p) => anonExecEntries(p).length));
  return { feature, files, anonExecMax, policy, appVersionInfo: s.appVersion, recordedAt: s.collectedAt, source };
}

/**
 * Folds a new clean recording into the stored one (`record --merge`): the path list becomes the union, files not
 * in both are marked optional (never reported missing), the anonymous-exec allowance is the larger one, and the
 * newer recording's hashes win (the caller vouches that this run is clean too).
 */
export function mergeRecords(older: BaselineRecord, newer: BaselineRecord, digest: Digest): BaselineRecord {
  const a = new Map(older.files.map((f) => [f.path, f]));
  const b = new Map(newer.files.map((f) => [f.path, f]));
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const files = paths.map((p) => {
    const n = b.get(p);
    const o = a.get(p);
    const f: FileRecord = { ...(n ?? o)! };
    if (!n || !o || o.optional) f.optional = true;
    else delete f.optional;
    if (n && o) {
      f.exec = n.exec || o.exec;
      f.deleted = n.deleted || o.deleted;
      f.code = n.code || o.code;
      const most = Math.max(n.modifiedCode ?? 0, o.modifiedCode ?? 0);
      if (most > 0) f.modifiedCode = most;
    }
    return f;
  });
  const f = newer.feature;
  return {
    ...newer,
    feature: featureValue({ app: f.app, appVersion: f.appVersion, osVersion: f.osVersion, deviceModel: f.deviceModel }, paths, digest),
    files,
    anonExecMax: Math.max(older.anonExecMax, newer.anonExecMax),
  };
}

function algoOf(h: string): string {
  return h.slice(0, h.indexOf(':'));
}

function fileFinding(kind: Finding['kind'], risk: Risk, u: FileUse, code: boolean, why: Finding['why'], reason: string): Finding {
  return { kind, risk, path: u.name, code, why, pids: u.pids, reason, ranges: u.ranges };
}

export function compare(s: Snapshot, baseline: BaselineRecord | undefined, ctx: CompareContext): Comparison {
  const current = snapshotFeature(s, ctx.digest);
  if (!baseline) return { baseline, current, samePaths: false, findings: [], risk: 'none' };
  const uses = fileUses(s.processes);
  const known = new Map(baseline.files.map((f) => [f.path, f]));
  const findings: Finding[] = [];
  const samePaths =
    algoOf(current.pathHash) === algoOf(baseline.feature.pathHash)
      ? current.pathHash === baseline.feature.pathHash
      : current.paths.join('\n') === baseline.feature.paths.join('\n');

  for (const u of uses.values()) {
    const b = known.get(u.name);
    if (!b) {
      if (u.entry.kind === 'memfd') {
        findings.push(fileFinding('memfd', u.exec ? 'high' : 'medium', u, u.exec, u.exec ? 'exec-mapping' : 'data',
          `memfd file ${u.name} (no file on disk) mapped${u.exec ? ' executable' : ''}; not in the baseline`));
        continue;
      }
      const c = classifyFile(u.name, u.exec, () => ctx.probe.isElf(u));
      findings.push(fileFinding('extra', c.code ? 'high' : 'low', u, c.code, c.why,
        `${c.code ? 'code' : 'data'} file ${u.name} mapped${u.deleted ? ' (deleted on disk)' : ''}; not in the baseline`));
      continue;
    }
    if (u.exec && !b.exec) {
      findings.push(fileFinding(u.entry.kind === 'memfd' ? 'memfd' : 'extra', 'high', u, true, 'exec-mapping',
        `${u.name} is mapped executable; the baseline only saw it as data`));
    }
    if (u.deleted && !b.deleted) {
      findings.push(fileFinding('deleted', b.code || u.exec ? 'high' : 'medium', u, b.code || u.exec, b.why,
        `${u.name} is mapped but was deleted or replaced on disk since it was loaded`));
    }
  }

  for (const b of baseline.files) {
    if (uses.has(b.path) || b.optional) continue;
    findings.push({ kind: 'missing', risk: b.code ? 'high' : 'low', path: b.path, code: b.code, why: b.why, pids: [],
      reason: `${b.code ? 'code' : 'data'} file ${b.path} of the baseline is not mapped by any process` });
  }

  if (ctx.hashFiles !== false) findings.push(...hashFindings(uses, baseline, ctx));
  findings.push(...anonExecFindings(s, baseline));
  findings.push(...codeModifiedFindings(s, baseline));
  addSha256(findings, uses, ctx.probe);
  return { baseline, current, samePaths, findings, risk: maxRisk(findings.map((f) => f.risk)) };
}

function hashFindings(uses: Map<string, FileUse>, baseline: BaselineRecord, ctx: CompareContext): Finding[] {
  const out: Finding[] = [];
  const algo = ctx.digest.algo;
  const prev = new Map((ctx.previous?.files ?? []).map((f) => [f.path, f]));
  let otherAlgo = 0;
  for (const b of baseline.files) {
    const u = uses.get(b.path);
    if (!u) continue;
    let expected: string | undefined;
    let from: Finding['hashFrom'];
    if (b.hash !== undefined && algoOf(b.hash) === algo) [expected, from] = [b.hash, 'baseline'];
    else if (ctx.preset?.get(b.path) !== undefined && algoOf(ctx.preset.get(b.path)!) === algo)
      [expected, from] = [ctx.preset.get(b.path), 'preset'];
    else if (prev.get(b.path)?.hash !== undefined && algoOf(prev.get(b.path)!.hash!) === algo)
      [expected, from] = [prev.get(b.path)!.hash, 'previous-version'];
    if (expected === undefined) {
      if (b.hash !== undefined) otherAlgo++;
      continue;
    }
    const actual = ctx.probe.hash(u);
    if (!actual) {
      out.push({ kind: 'unverified', risk: 'low', path: b.path, code: b.code, why: b.why, pids: u.pids,
        reason: `content of ${b.path} could not be read to verify its hash`, expectedHash: expected, hashFrom: from });
      continue;
    }
    if (actual.hash === expected) continue;
    const strong = from !== 'previous-version';
    const risk: Risk = b.code ? (strong ? 'high' : 'medium') : strong ? 'medium' : 'low';
    out.push({ kind: 'tampered', risk, path: b.path, code: b.code, why: b.why, pids: u.pids, ranges: u.ranges,
      reason: `${b.code ? 'code' : 'data'} file ${b.path} has the same path but different content than ` +
        (from === 'baseline' ? 'in the baseline' : from === 'preset' ? 'the preset says' : 'in the previous app version'),
      expectedHash: expected, actualHash: actual.hash, hashFrom: from });
  }
  if (otherAlgo > 0) {
    out.push({ kind: 'unverified', risk: 'low', path: '', code: false, why: 'data', pids: [],
      reason: `${otherAlgo} file hash(es) of the baseline use another algorithm than ${algo}: record the baseline again` });
  }
  return out;
}

function anonExecFindings(s: Snapshot, baseline: BaselineRecord): Finding[] {
  const policy = baseline.policy.anonExec;
  if (policy === 'any') return [];
  const allowed = policy === 'baseline' ? baseline.anonExecMax : policy;
  const out: Finding[] = [];
  for (const p of s.processes) {
    const anon = anonExecEntries(p);
    if (anon.length <= allowed) continue;
    out.push({ kind: 'anon-exec', risk: 'high', path: '', code: true, why: 'anonymous', pids: [p.pid],
      reason: `pid ${p.pid} has ${anon.length} anonymous executable mapping(s); normal for this app: ${allowed}`,
      ranges: anon.slice(0, 8).map((e) => ({ pid: p.pid, start: e.start, end: e.end, perms: e.perms })) });
  }
  return out;
}

interface WrittenCode {
  /** Most written pages in one process. */
  most: number;
  pids: number[];
  ranges: NonNullable<Finding['ranges']>;
  pages: number;
}

/** Written code pages per file across the snapshot's processes (only processes whose code pages were checked). */
function writtenCodeByPath(s: Snapshot): Map<string, WrittenCode> {
  const out = new Map<string, WrittenCode>();
  for (const p of s.processes) {
    const perFile = new Map<string, number>();
    for (const m of p.modifiedCode ?? []) perFile.set(m.path, (perFile.get(m.path) ?? 0) + m.pages);
    for (const m of p.modifiedCode ?? []) {
      let w = out.get(m.path);
      if (!w) out.set(m.path, (w = { most: 0, pids: [], ranges: [], pages: 0 }));
      w.most = Math.max(w.most, perFile.get(m.path)!);
      w.pages += m.pages;
      if (w.pids[w.pids.length - 1] !== p.pid) w.pids.push(p.pid);
      if (w.ranges.length < 8) w.ranges.push({ pid: p.pid, start: m.start, end: m.end, perms: m.perms });
    }
  }
  return out;
}

function codeModifiedFindings(s: Snapshot, baseline: BaselineRecord): Finding[] {
  const allowed = new Map(baseline.files.map((f) => [f.path, f.modifiedCode ?? 0]));
  const out: Finding[] = [];
  for (const [path, w] of writtenCodeByPath(s)) {
    const normal = allowed.get(path) ?? 0;
    if (w.most <= normal) continue;
    out.push({ kind: 'code-modified', risk: 'high', path, code: true, why: 'exec-mapping', pids: w.pids, ranges: w.ranges,
      reason: `${w.pages} code page(s) of ${path} were written in memory (private copies, not the file's pages: ptrace or ` +
        `/proc/PID/mem patching, a debugger breakpoint or a uprobe); the clean recording had ${normal === 0 ? 'none' : `at most ${normal}`}` });
  }
  return out;
}

/** Adds SHA-256 of the file to findings worth an analyst's look (medium and up, with content reachable). */
export function addSha256(findings: Finding[], uses: Map<string, FileUse>, probe: FileProbe): void {
  for (const f of findings) {
    if (!riskAtLeast(f.risk, 'medium') || f.path === '' || f.kind === 'missing') continue;
    const u = uses.get(f.path);
    const h = u ? probe.sha256(u) : undefined;
    if (h) f.sha256 = h;
  }
}
