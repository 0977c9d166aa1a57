/**
 * Host mode: processes and memory maps from /proc. Reading other users' maps and map_files needs root (or
 * CAP_SYS_PTRACE / same user); what cannot be read becomes a `problem`, not an exception.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { ParasightError } from '../errors.js';
import type { Problem } from '../introspect/types.js';
import { modifiedCodePages } from './code-pages.js';
import { parseMaps } from './maps.js';
import type { MapSource, ProcessRef, TargetSpec } from './source.js';
import { appVersion, hostEnvironment } from './system.js';
import type { MapEntry, ProcessMap } from './types.js';

const DELETED = ' (deleted)';

function exeOf(pid: number): string {
  try {
    const p = readlinkSync(`/proc/${pid}/exe`);
    return p.endsWith(DELETED) ? p.slice(0, -DELETED.length) : p;
  } catch {
    return '';
  }
}

let bootMs: number | undefined;

/** Boot time in ms since the epoch ("btime" of /proc/stat), read once. */
function bootTime(): number {
  if (bootMs === undefined) {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    bootMs = m ? Number(m[1]) * 1000 : 0;
  }
  return bootMs;
}

/** USER_HZ: the unit of /proc/PID/stat times; 100 on every Linux ABI the kernel exports to user space. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  name: string;
  ppid: number;
  createTime: number;
}

/**
 * Name (comm), parent and start time from /proc/PID/stat in one read. The name sits in parentheses and may itself
 * contain ") ", so the fields start after the LAST ")".
 */
function statOf(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, starttime field 22.
  const ppid = Number(f[1]);
  const start = Number(f[19]);
  return { name: text.slice(open + 1, close), ppid, createTime: bootTime() + (start * 1000) / TICKS_PER_SECOND };
}

function refOf(pid: number, exe: string, st: ProcStat): ProcessRef {
  return { pid, name: st.name, exe, ppid: st.ppid, createTime: st.createTime, createTimeBase: 'epoch' };
}

function resolve(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Parsed maps kept per pid: a process whose maps text did not change is not parsed again (watch, repeated checks). */
const MAX_REMEMBERED = 1024;

export class HostMapSource implements MapSource {
  readonly origin = 'host';
  private readonly lastMaps = new Map<number, { text: string; parsed: ReturnType<typeof parseMaps> }>();

  environment() {
    return hostEnvironment();
  }

  find(target: TargetSpec): ProcessRef[] {
    if (target.pid !== undefined) {
      const st = statOf(target.pid);
      if (!st) throw new ParasightError(`no process ${target.pid}`, { code: 'NOT_FOUND', source: `pid ${target.pid}` });
      return [refOf(target.pid, exeOf(target.pid), st)];
    }
    const wantExe = target.exe === undefined ? undefined : resolve(target.exe);
    const out: ProcessRef[] = [];
    for (const d of readdirSync('/proc')) {
      const c = d.charCodeAt(0);
      if (c < 0x30 || c > 0x39) continue;
      const pid = Number(d);
      const exe = exeOf(pid);
      // Kernel threads have no executable and no user memory map.
      if (!exe) continue;
      if (wantExe !== undefined && exe !== wantExe && exe !== target.exe) continue;
      const st = statOf(pid);
      if (!st) continue;
      if (wantExe === undefined && st.name !== target.name && basename(exe) !== target.name) continue;
      out.push(refOf(pid, exe, st));
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  memoryMap(ref: ProcessRef): ProcessMap {
    const problems: Problem[] = [];
    let entries: MapEntry[] = [];
    try {
      const text = readFileSync(`/proc/${ref.pid}/maps`, 'utf8');
      const last = this.lastMaps.get(ref.pid);
      // Same text, same mappings: the parsed entries are never modified downstream, so they can be shared.
      const parsed = last?.text === text ? last.parsed : parseMaps(text);
      if (last?.text !== text) {
        this.lastMaps.delete(ref.pid);
        if (this.lastMaps.size >= MAX_REMEMBERED) this.lastMaps.delete(this.lastMaps.keys().next().value!);
        this.lastMaps.set(ref.pid, { text, parsed });
      }
      entries = parsed.entries;
      for (const line of parsed.bad.slice(0, 5)) {
        problems.push({ code: 'FORMAT', message: `unparsed maps line: ${line}`, walk: 'proc-maps' });
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'GONE' : 'PERMISSION';
      problems.push({ code, message: `pid ${ref.pid}: cannot read maps (${(e as Error).message})`, walk: 'proc-maps' });
    }
    return { ...ref, entries, problems };
  }

  appVersion(exe: string, given?: string) {
    return appVersion(exe, given);
  }

  modifiedCode(pid: number, entries: readonly MapEntry[]) {
    return modifiedCodePages(pid, entries);
  }

  /**
   * Deleted files and memfd content stay reachable through /proc/PID/map_files while mapped; other files are read
   * at their path (the file a restart would map).
   */
  contentPath(pid: number, entry: MapEntry): string | undefined {
    if (entry.kind === 'memfd' || entry.deleted) {
      return `/proc/${pid}/map_files/${entry.start.toString(16)}-${entry.end.toString(16)}`;
    }
    return entry.kind === 'file' ? entry.path : undefined;
  }
}
