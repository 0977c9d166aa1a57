/**
 * Collection: find the target's processes, read their memory maps, and group them into one snapshot per
 * application (processes with the same executable). Also turns a snapshot into per-file facts (what is code, which
 * file is mapped executable or deleted) and, on request, content hashes.
 */
import type { Problem } from '../introspect/types.js';
import { classifyFile } from './classify.js';
import type { Digest } from './digest.js';
import { fileIsElf } from './elf.js';
import { isAnonExec, isExec } from './maps.js';
import type { MapSource, TargetSpec } from './source.js';
import type { FileRecord, MapEntry, ProcessMap, Snapshot } from './types.js';

export interface CollectOptions {
  /** App version to use instead of the detected one. */
  appVersion?: string;
  /** Also look for written code pages (code-pages.ts; host only, about 0.4 µs per mapped code page). */
  codePages?: boolean;
}

export function collect(source: MapSource, target: TargetSpec, opts: CollectOptions = {}): Snapshot[] {
  const refs = source.find(target);
  const env = source.environment();
  const byApp = new Map<string, ProcessMap[]>();
  for (const ref of refs) {
    const app = ref.exe || ref.name;
    let list = byApp.get(app);
    if (!list) byApp.set(app, (list = []));
    const map = source.memoryMap(ref);
    if (opts.codePages && source.modifiedCode && map.entries.length > 0) {
      const m = source.modifiedCode(ref.pid, map.entries);
      map.modifiedCode = m.items;
      map.problems.push(...m.problems);
    }
    list.push(map);
  }
  const now = new Date().toISOString();
  const out: Snapshot[] = [];
  for (const [app, processes] of byApp) {
    const problems: Problem[] = processes.flatMap((p) => p.problems);
    if (opts.codePages && !source.modifiedCode) {
      problems.push({ code: 'UNSUPPORTED', message: `code pages cannot be checked through ${source.origin}: only host processes have a pagemap`, walk: 'proc-pagemap' });
    }
    // A process that exited between listing and reading has no map: it says nothing about the app.
    const live = processes.filter((p) => p.entries.length > 0);
    out.push({
      app,
      appVersion: source.appVersion(processes[0]!.exe, opts.appVersion),
      env,
      processes: live,
      origin: source.origin,
      collectedAt: now,
      problems,
    });
  }
  return out;
}

/** Per list name: the first mapping (for reading content) and what all processes show about it. */
export interface FileUse {
  name: string;
  exec: boolean;
  deleted: boolean;
  pids: number[];
  /** One mapping to reach the content through (pid + entry). */
  pid: number;
  entry: MapEntry;
  ranges: { pid: number; start: bigint; end: bigint; perms: string }[];
}

const MAX_RANGES = 8;

export function fileUses(processes: readonly ProcessMap[]): Map<string, FileUse> {
  const uses = new Map<string, FileUse>();
  for (const p of processes) {
    for (const e of p.entries) {
      if (e.listName === '') continue;
      let u = uses.get(e.listName);
      if (!u) {
        u = { name: e.listName, exec: false, deleted: false, pids: [], pid: p.pid, entry: e, ranges: [] };
        uses.set(e.listName, u);
      }
      if (isExec(e)) u.exec = true;
      if (e.deleted) u.deleted = true;
      if (u.pids[u.pids.length - 1] !== p.pid) u.pids.push(p.pid);
      if (u.ranges.length < MAX_RANGES) u.ranges.push({ pid: p.pid, start: e.start, end: e.end, perms: e.perms });
    }
  }
  return uses;
}

export function anonExecEntries(p: ProcessMap): MapEntry[] {
  return p.entries.filter(isAnonExec);
}

/** Reads file content for classification and hashing; the seam unit tests replace. */
export interface FileProbe {
  isElf(use: FileUse): boolean;
  hash(use: FileUse): { hash: string; size: number } | undefined;
  sha256(use: FileUse): string | undefined;
}

/** A probe that cannot read any file (guest mode). */
export const noFileAccess: FileProbe = {
  isElf: () => false,
  hash: () => undefined,
  sha256: () => undefined,
};

export function fileRecord(use: FileUse, probe: FileProbe, digestFiles: boolean): FileRecord {
  const c = classifyFile(use.name, use.exec, () => probe.isElf(use));
  const r: FileRecord = { path: use.name, code: c.code, why: c.why, exec: use.exec, deleted: use.deleted };
  if (digestFiles) {
    const d = probe.hash(use);
    if (d) {
      r.hash = d.hash;
      r.size = d.size;
    }
  }
  return r;
}

export interface HostProbeOptions {
  source: MapSource;
  digest: Digest;
  /** Hashes files remembered across probes (by file identity); default: hash every time. */
  files?: { file(path: string): { hash: string; size: number } | undefined };
  sha256: (path: string) => string | undefined;
}

/** File access through the source's content paths, with hashes cached per content path for one probe's life. */
export function sourceProbe(o: HostProbeOptions): FileProbe {
  const cache = new Map<string, { hash: string; size: number } | undefined>();
  const pathOf = (u: FileUse) => o.source.contentPath?.(u.pid, u.entry);
  return {
    isElf(u) {
      const p = pathOf(u);
      return p !== undefined && fileIsElf(p);
    },
    hash(u) {
      const p = pathOf(u);
      if (p === undefined) return undefined;
      if (!cache.has(p)) cache.set(p, (o.files ?? o.digest).file(p));
      return cache.get(p);
    },
    sha256(u) {
      const p = pathOf(u);
      return p === undefined ? undefined : o.sha256(p);
    },
  };
}
