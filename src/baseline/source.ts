/**
 * Where memory maps come from. The host implementation reads /proc; the guest implementation asks a
 * GuestIntrospector (agentless, from outside the VM). Everything after collection is the same for both.
 */
import type { Problem } from '../introspect/types.js';
import type { AppVersion, Environment, MapEntry, ModifiedCode, ProcessMap } from './types.js';

/** Which application to look at: exactly one of the three. */
export interface TargetSpec {
  /** One process (only that process, not its siblings). */
  pid?: number;
  /** Every process whose executable is this file (symlinks resolved on the host). */
  exe?: string;
  /** Every process whose name (comm) or executable basename is this. */
  name?: string;
}

export interface ProcessRef {
  pid: number;
  name: string;
  ppid?: number;
  createTime?: number;
  createTimeBase?: 'epoch' | 'boot';
  /** Executable path; "" when it cannot be read. */
  exe: string;
}

export interface MapSource {
  /** "host" or the VM's name: goes into events as `vm`. */
  readonly origin: string;
  environment(): Environment;
  find(target: TargetSpec): ProcessRef[];
  memoryMap(ref: ProcessRef): ProcessMap;
  appVersion(exe: string, given?: string): AppVersion;
  /**
   * A path this process can read the mapping's file content from, or undefined when file content is out of reach
   * (guest mode: only guest memory is readable, not the guest's disk).
   */
  contentPath?(pid: number, entry: MapEntry): string | undefined;
  /** Executable file mappings of this process with written code pages (host only: /proc/PID/pagemap). */
  modifiedCode?(pid: number, entries: readonly MapEntry[]): { items: ModifiedCode[]; problems: Problem[] };
}

export function describeTarget(t: TargetSpec): string {
  if (t.pid !== undefined) return `pid ${t.pid}`;
  if (t.exe !== undefined) return `executable ${t.exe}`;
  return `name ${t.name ?? '?'}`;
}
