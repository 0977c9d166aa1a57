/**
 * The module-map baseline detector: collect → feature value → stored normal value → comparison → events.
 * Host mode by default; pass a GuestMapSource to check a VM's processes from outside.
 */
import { collect, fileUses, noFileAccess, sourceProbe, type FileProbe } from './collect.js';
import { ParasightError } from '../errors.js';
import { buildRecord, compare, mergeRecords, snapshotFeature } from './compare.js';
import { HashCache, loadDigest, sha256File, type Digest } from './digest.js';
import { comparisonEvents, recordedEvent, unknownEvent, type BaselineEvent } from './events.js';
import { HostMapSource } from './host.js';
import type { MapSource, TargetSpec } from './source.js';
import type { BaselineStore, StoredBaseline } from './store.js';
import { defaultPolicy, type BaselinePolicy, type Comparison, type Finding, type Snapshot } from './types.js';

export interface BaselineDetectorOptions {
  store: BaselineStore;
  /** Where maps come from (default: this host's /proc). */
  source?: MapSource;
  /** Hash mapped files' content (default true; guest mode cannot and skips it). */
  hashFiles?: boolean;
  /**
   * Also find written code pages (code-pages.ts): executable file pages that are private copies (default false:
   * host only, about 0.4 µs per resident code page).
   */
  codePages?: boolean;
  /** Record the first state seen of an unknown key as its baseline (default false); reported as an event. */
  trustOnFirstUse?: boolean;
  /** Known-good content hashes by path ("algo:hex"). */
  preset?: ReadonlyMap<string, string>;
  /** Called for every finding of medium risk or more, e.g. to quarantine the file; must not throw or block. */
  onSuspicious?: (finding: Finding, snapshot: Snapshot, contentPath: string | undefined) => void;
}

export interface RunOptions {
  appVersion?: string;
}

export interface RecordResult {
  snapshot: Snapshot;
  stored: StoredBaseline;
  events: BaselineEvent[];
}

export interface CheckResult {
  snapshot: Snapshot;
  comparison: Comparison;
  /** Set when trust on first use recorded this snapshot. */
  recorded?: StoredBaseline;
  events: BaselineEvent[];
}

export class BaselineDetector {
  /** Content hashes of files by identity, kept for the detector's life: an unchanged file is not read again. */
  readonly hashCache: HashCache;

  private constructor(
    private readonly opts: BaselineDetectorOptions,
    private readonly source: MapSource,
    readonly digest: Digest,
  ) {
    this.hashCache = new HashCache(digest);
  }

  static async create(opts: BaselineDetectorOptions): Promise<BaselineDetector> {
    return new BaselineDetector(opts, opts.source ?? new HostMapSource(), await loadDigest());
  }

  /** A fresh probe per run: file hashes are cached within one run, never across (files change between runs). */
  private probe(): FileProbe {
    if (!this.source.contentPath) return noFileAccess;
    return sourceProbe({ source: this.source, digest: this.digest, files: this.hashCache, sha256: sha256File });
  }

  private get hashFiles(): boolean {
    return this.opts.hashFiles !== false && this.source.contentPath !== undefined;
  }

  collect(target: TargetSpec, run: RunOptions = {}): Snapshot[] {
    return collect(this.source, target, { ...run, ...(this.opts.codePages ? { codePages: true } : {}) });
  }

  /** Records the current state of each application the target matches as a new baseline revision. */
  record(target: TargetSpec, run: RunOptions & { policy?: Partial<BaselinePolicy>; merge?: boolean } = {}): RecordResult[] {
    const probe = this.probe();
    return this.collect(target, run).map((snapshot) => {
      if (snapshot.processes.length === 0) {
        throw new ParasightError(`cannot record ${snapshot.app}: ${unreadable(snapshot)}`, { code: 'UNSUPPORTED', source: snapshot.origin });
      }
      let rec = buildRecord(snapshot, { digest: this.digest, probe, hashFiles: this.hashFiles }, { ...defaultPolicy, ...run.policy });
      const older = run.merge ? this.opts.store.current(rec.feature)?.record : undefined;
      if (older) rec = mergeRecords(older, { ...rec, policy: run.policy?.anonExec !== undefined ? rec.policy : older.policy }, this.digest);
      const stored = this.opts.store.put(rec);
      return { snapshot, stored, events: [recordedEvent(snapshot, 'record', stored.revision, rec.feature.featureHash)] };
    });
  }

  check(target: TargetSpec, run: RunOptions = {}): CheckResult[] {
    return this.collect(target, run).map((s) => this.checkSnapshot(s));
  }

  checkSnapshot(snapshot: Snapshot): CheckResult {
    // No map at all is "cannot tell", never "every file is missing".
    if (snapshot.processes.length === 0) {
      const comparison = { baseline: undefined, current: snapshotFeature(snapshot, this.digest), samePaths: false, findings: [], risk: 'none' as const };
      return { snapshot, comparison, events: [unknownEvent(snapshot, `no memory map could be read: ${unreadable(snapshot)}`)] };
    }
    const probe = this.probe();
    const key = {
      app: snapshot.app,
      appVersion: snapshot.appVersion.version,
      osVersion: snapshot.env.osVersion,
      deviceModel: snapshot.env.deviceModel,
    };
    const stored = this.opts.store.current(key);
    const ctx = {
      digest: this.digest,
      probe,
      hashFiles: this.hashFiles,
      ...(this.opts.preset ? { preset: this.opts.preset } : {}),
    };
    if (!stored && this.opts.trustOnFirstUse) {
      const rec = buildRecord(snapshot, ctx, defaultPolicy, 'tofu');
      const put = this.opts.store.put(rec);
      const comparison = compare(snapshot, rec, { ...ctx, hashFiles: false });
      return { snapshot, comparison, recorded: put, events: [recordedEvent(snapshot, 'tofu', put.revision, rec.feature.featureHash)] };
    }
    // The previous version only matters as a hash fallback for files this version's baseline has no hash of.
    const needPrevious = ctx.hashFiles && stored !== undefined && stored.record.files.some((f) => f.hash === undefined);
    const previous = needPrevious || !stored ? this.opts.store.previousVersion(key)?.record : undefined;
    const comparison = compare(snapshot, stored?.record, { ...ctx, ...(previous ? { previous } : {}) });
    if (!stored && previous) comparison.otherVersion = previous.feature.appVersion;
    if (this.opts.onSuspicious && comparison.findings.length > 0) this.notify(snapshot, comparison);
    return { snapshot, comparison, events: comparisonEvents(snapshot, comparison) };
  }

  private notify(snapshot: Snapshot, c: Comparison): void {
    const uses = fileUses(snapshot.processes);
    for (const f of c.findings) {
      if (f.risk !== 'high' && f.risk !== 'medium') continue;
      const u = uses.get(f.path);
      const path = u ? this.source.contentPath?.(u.pid, u.entry) : undefined;
      try {
        this.opts.onSuspicious!(f, snapshot, path);
      } catch {
        // Reporting side channels never stop detection.
      }
    }
  }
}

function unreadable(s: Snapshot): string {
  const first = s.problems.slice(0, 3).map((p) => p.message);
  return first.length > 0 ? first.join('; ') : 'no process had a readable memory map';
}
