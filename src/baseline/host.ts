/**
 * Host mode: processes and memory maps from /proc. Reading other users' maps and map_files needs root (or
 * CAP_SYS_PTRACE / same user); what cannot be read becomes a `problem`, not an exception.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { ParasightError } from '../errors.js';
import type { Problem } from '../introspect/types.js';
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

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return '';
  }
}

function resolve(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

export class HostMapSource implements MapSource {
  readonly origin = 'host';

  environment() {
    return hostEnvironment();
  }

  find(target: TargetSpec): ProcessRef[] {
    if (target.pid !== undefined) {
      const exe = exeOf(target.pid);
      const name = commOf(target.pid);
      if (!exe && !name) throw new ParasightError(`no process ${target.pid}`, { code: 'NOT_FOUND', source: `pid ${target.pid}` });
      return [{ pid: target.pid, name, exe }];
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
      if (wantExe !== undefined) {
        if (exe !== wantExe && exe !== target.exe) continue;
        out.push({ pid, name: commOf(pid), exe });
      } else {
        const name = commOf(pid);
        if (name !== target.name && basename(exe) !== target.name) continue;
        out.push({ pid, name, exe });
      }
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  memoryMap(ref: ProcessRef): ProcessMap {
    const problems: Problem[] = [];
    let entries: MapEntry[] = [];
    try {
      const parsed = parseMaps(readFileSync(`/proc/${ref.pid}/maps`, 'utf8'));
      entries = parsed.entries;
      for (const line of parsed.bad.slice(0, 5)) {
        problems.push({ code: 'FORMAT', message: `unparsed maps line: ${line}`, walk: 'proc-maps' });
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'GONE' : 'PERMISSION';
      problems.push({ code, message: `pid ${ref.pid}: cannot read maps (${(e as Error).message})`, walk: 'proc-maps' });
    }
    return { pid: ref.pid, name: ref.name, exe: ref.exe, entries, problems };
  }

  appVersion(exe: string, given?: string) {
    return appVersion(exe, given);
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
