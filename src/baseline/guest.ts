/**
 * Guest mode: processes and memory maps of a VM's guest through a GuestIntrospector (Windows VADs or Linux VMAs,
 * read from outside). The guest's disk is out of reach, so there is no content hashing, no ELF magic check and no
 * package query: code is recognised by executable mappings and file extensions, the app version must be given (or
 * is "unknown"), and the device model is the VM's (given, default "virtual machine").
 */
import { basename } from 'node:path';
import type { GuestIntrospector, MemoryMapEntry } from '../introspect/types.js';
import { classifyName } from './maps.js';
import type { MapSource, ProcessRef, TargetSpec } from './source.js';
import type { AppVersion, Environment, MapEntry, ProcessMap } from './types.js';

export interface GuestSourceOptions {
  /** VM name for events. */
  vm: string;
  deviceModel?: string;
}

function baseName(p: string): string {
  // Guest paths may be Windows paths.
  return basename(p.replace(/\\/g, '/'));
}

export function toMapEntry(m: MemoryMapEntry): MapEntry {
  const c = classifyName(m.path ?? '');
  // Windows file names ("\Device\HarddiskVolume1\WINDOWS\system32\ntdll.dll", "C:\...") are files too.
  if (m.kind === 'file' && c.kind === 'special' && m.path) {
    c.kind = 'file';
    c.listName = c.path;
  }
  const kind = c.kind;
  return {
    start: m.start,
    end: m.end,
    perms: m.perms,
    shared: m.shared,
    offset: m.offset ?? 0n,
    dev: '',
    inode: m.inode === undefined ? 0 : Number(m.inode),
    path: c.path,
    deleted: c.deleted,
    kind,
    listName: c.listName,
  };
}

export class GuestMapSource implements MapSource {
  readonly origin: string;

  constructor(
    private readonly guest: GuestIntrospector,
    private readonly opts: GuestSourceOptions,
  ) {
    this.origin = opts.vm;
  }

  environment(): Environment {
    const info = this.guest.info();
    return { osVersion: `${info.os} ${info.version}`, deviceModel: this.opts.deviceModel ?? 'virtual machine' };
  }

  find(target: TargetSpec): ProcessRef[] {
    const out: ProcessRef[] = [];
    for (const p of this.guest.processes({ paths: true }).items) {
      // Linux tasks include threads; the thread-group leader stands for the process.
      if (p.tgid !== undefined && p.tgid !== p.pid) continue;
      if (p.exitTime !== undefined) continue;
      const exe = p.path ?? '';
      const hit =
        target.pid !== undefined
          ? p.pid === target.pid
          : target.exe !== undefined
            ? exe === target.exe
            : p.name === target.name || (exe !== '' && baseName(exe) === target.name);
      if (hit) out.push({ pid: p.pid, name: p.name, exe, ppid: p.ppid, createTime: p.createTime, createTimeBase: p.createTimeBase });
    }
    return out.sort((a, b) => a.pid - b.pid);
  }

  memoryMap(ref: ProcessRef): ProcessMap {
    const r = this.guest.memoryMap(ref.pid);
    return { ...ref, entries: r.items.map(toMapEntry), problems: r.problems };
  }

  appVersion(_exe: string, given?: string): AppVersion {
    return given ? { version: given, source: 'given' } : { version: 'unknown', source: 'unknown' };
  }
}
