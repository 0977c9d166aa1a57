/**
 * Shapes of the module-map baseline detector: what is collected from a running application, what a stored baseline
 * holds, and what a comparison finds. Host (/proc) and guest (introspection) collection produce the same shapes.
 */
import type { Problem } from '../introspect/types.js';

/**
 * What one mapping is, as far as the baseline cares:
 * - file: a regular file path (kept in the feature value's path list);
 * - memfd: a memfd_create() file ("memfd:NAME"; fileless code lives here);
 * - anon: private or shared anonymous memory, including [heap], [stack], [anon:NAME] and /dev/zero shared maps;
 * - kernel: kernel-provided code pages ([vdso], [vsyscall], [uprobes]): executable by design;
 * - special: everything else with a name that is not a stable file (SysV shm, anon_inode:..., [vvar], aio).
 */
export type MappingKind = 'file' | 'memfd' | 'anon' | 'kernel' | 'special';

export interface MapEntry {
  start: bigint;
  end: bigint;
  /** "r-x", "rwx", ... (the p/s flag is `shared`). */
  perms: string;
  shared: boolean;
  offset: bigint;
  /** "fe:00"-style device of the backing file; "" when unknown (guest mode). */
  dev: string;
  inode: number;
  /** Path as the kernel printed it, without the " (deleted)" suffix; "" for unnamed anonymous memory. */
  path: string;
  /** The backing file was unlinked (or replaced) after it was mapped. */
  deleted: boolean;
  kind: MappingKind;
  /** Name used in the feature value's path list: the path for files, "memfd:NAME" for memfd, "" otherwise. */
  listName: string;
}

export interface ProcessMap {
  pid: number;
  name: string;
  ppid?: number;
  /** Host: ms since the epoch; guest: as the introspector reports it (see createTimeBase). */
  createTime?: number;
  createTimeBase?: 'epoch' | 'boot';
  /** Executable path (host: /proc/PID/exe; guest: mm->exe_file or PEB). */
  exe: string;
  entries: MapEntry[];
  problems: Problem[];
  /**
   * Executable file mappings with written code pages (see code-pages.ts); undefined when not checked (the
   * `codePages` option is off, or guest mode).
   */
  modifiedCode?: ModifiedCode[];
}

/** A private executable file mapping some of whose pages are private copies, not the file's pages. */
export interface ModifiedCode {
  /** List name of the file. */
  path: string;
  start: bigint;
  end: bigint;
  perms: string;
  /** Written (privately copied) pages in the mapping. */
  pages: number;
  /** Address of the first one. */
  first: bigint;
}

export type AppVersionSource = 'given' | 'dpkg' | 'rpm' | 'build-id' | 'unknown';

export interface AppVersion {
  /** The string used in the baseline key. */
  version: string;
  source: AppVersionSource;
  /** Owning package, when the package manager knows the executable. */
  package?: string;
  /** GNU build-id of the executable (hex), when it has one. */
  buildId?: string;
}

export interface Environment {
  /** e.g. "Debian GNU/Linux 12 (bookworm); kernel 6.1.0-26-amd64". */
  osVersion: string;
  /** DMI product name, device-tree model, or "unknown". */
  deviceModel: string;
}

/** One collection of an application: all its processes at one moment. */
export interface Snapshot {
  /** Application identity: the executable path (or the name when the path is unknown). */
  app: string;
  appVersion: AppVersion;
  env: Environment;
  processes: ProcessMap[];
  /** "host" or the VM name. */
  origin: string;
  collectedAt: string;
  problems: Problem[];
}

/** A file of the path list with what the baseline needs to judge it later. */
export interface FileRecord {
  /** List name: the file path or "memfd:NAME". */
  path: string;
  code: boolean;
  /** Why it counts as code or not: "exec-mapping", "elf", "extension", "data". */
  why: CodeReason;
  /** Seen mapped executable in some process. */
  exec: boolean;
  /** Seen mapped after its file was deleted (normal for some apps, e.g. shared memory files). */
  deleted: boolean;
  /** Content hash of the file (XXH3 once native hashing lands), "algo:hex"; absent when not hashed. */
  hash?: string;
  size?: number;
  /**
   * Seen in some recorded clean runs but not all (a merged record): loaded on demand (plugins, NSS modules), so
   * its absence is not reported.
   */
  optional?: boolean;
  /**
   * Most written code pages (private copies in an executable mapping of this file) seen in one process of the clean
   * recording, when code pages were checked; absent means none (a TEXTREL library has some by design).
   */
  modifiedCode?: number;
}

export type CodeReason = 'exec-mapping' | 'elf' | 'extension' | 'data';

/** Per-application settings that decide what counts as normal (kept with the baseline). */
export interface BaselinePolicy {
  /**
   * Anonymous executable mappings allowed per process: "baseline" = the most seen in the recorded clean run
   * (JIT runtimes such as node have some), a number = that many, "any" = never report them.
   */
  anonExec: 'baseline' | number | 'any';
}

export const defaultPolicy: BaselinePolicy = { anonExec: 'baseline' };

/** The feature value: key fields plus the canonical path list and its hashes. */
export interface FeatureValue {
  app: string;
  appVersion: string;
  osVersion: string;
  deviceModel: string;
  /** Sorted, de-duplicated list names (see feature.ts for the canonical rule). */
  paths: string[];
  /** Hash of the path list alone. */
  pathHash: string;
  /** Hash of the whole canonical feature string (key fields + path list). */
  featureHash: string;
}

/** What is stored as the normal value of one (app, app version, OS version, device model). */
export interface BaselineRecord {
  feature: FeatureValue;
  files: FileRecord[];
  /** Most anonymous executable mappings seen in one process of the clean run. */
  anonExecMax: number;
  policy: BaselinePolicy;
  appVersionInfo: AppVersion;
  recordedAt: string;
  /** How it got here: an explicit record, trust on first use, or an import. */
  source: 'record' | 'tofu' | 'import';
}

export type Risk = 'high' | 'medium' | 'low' | 'none';

export type FindingKind =
  | 'extra'
  | 'missing'
  | 'tampered'
  | 'deleted'
  | 'memfd'
  | 'anon-exec'
  | 'code-modified'
  | 'unverified';

export interface Finding {
  kind: FindingKind;
  risk: Risk;
  /** List name of the file, or "" for anonymous memory. */
  path: string;
  code: boolean;
  why: CodeReason | 'anonymous';
  /** Processes that show it (empty for missing files). */
  pids: number[];
  /** One sentence an analyst can read. */
  reason: string;
  /** Mappings involved (first few per process). */
  ranges?: { pid: number; start: bigint; end: bigint; perms: string }[];
  expectedHash?: string;
  actualHash?: string;
  /** Where the expected hash came from when it is not this version's baseline. */
  hashFrom?: 'baseline' | 'preset' | 'previous-version';
  sha256?: string;
}

export interface Comparison {
  /** The baseline compared against (undefined: none stored for this key). */
  baseline: BaselineRecord | undefined;
  current: FeatureValue;
  samePaths: boolean;
  findings: Finding[];
  /** Highest risk among the findings ("none" when clean). */
  risk: Risk;
  /**
   * No baseline for this app version, but one for another version of the same app on this OS and device: an
   * upgrade nobody recorded yet, or a replaced executable (a build-id version changes with the binary).
   */
  otherVersion?: string;
}
