/**
 * /proc/PID/maps parsing and the naming rules that turn a mapping into a MapEntry kind and list name. Guest memory
 * maps (introspection) go through `classifyName` too, so host and guest agree on what a name means.
 */
import type { MapEntry, MappingKind } from './types.js';

const DELETED = ' (deleted)';

/** Kernel code pages that are executable in every process. */
const KERNEL_PAGES = new Set(['[vdso]', '[vsyscall]', '[uprobes]']);

export interface NameClass {
  kind: MappingKind;
  path: string;
  deleted: boolean;
  listName: string;
}

/**
 * What a mapping's name means. The kernel appends " (deleted)" to unlinked files; memfd files print as
 * "/memfd:NAME (deleted)" (always unlinked, so that flag says nothing about them); shared anonymous memory prints
 * as "/dev/zero (deleted)"; SysV segments as "/SYSV%08x (deleted)" (their key changes between runs, so they stay
 * out of the path list); "[aio]" ring pages likewise.
 */
export function classifyName(raw: string): NameClass {
  let path = raw;
  let deleted = false;
  if (path.endsWith(DELETED)) {
    deleted = true;
    path = path.slice(0, -DELETED.length);
  }
  if (path === '') return { kind: 'anon', path, deleted: false, listName: '' };
  if (path.charCodeAt(0) === 0x5b /* [ */) {
    if (KERNEL_PAGES.has(path)) return { kind: 'kernel', path, deleted: false, listName: '' };
    if (path === '[heap]' || path.startsWith('[stack') || path.startsWith('[anon')) {
      return { kind: 'anon', path, deleted: false, listName: '' };
    }
    return { kind: 'special', path, deleted: false, listName: '' };
  }
  if (path.startsWith('/memfd:') || path.startsWith('memfd:')) {
    const name = path.slice(path.indexOf(':') + 1);
    return { kind: 'memfd', path, deleted: false, listName: `memfd:${name}` };
  }
  if (path.charCodeAt(0) !== 0x2f /* / */) return { kind: 'special', path, deleted, listName: '' };
  if (deleted && (path === '/dev/zero' || path.startsWith('/SYSV') || path === '/[aio]')) {
    return { kind: path === '/dev/zero' ? 'anon' : 'special', path, deleted: false, listName: '' };
  }
  return { kind: 'file', path, deleted, listName: path };
}

/** Parses one /proc/PID/maps text. Lines that do not have the expected shape are returned in `bad`. */
export function parseMaps(text: string): { entries: MapEntry[]; bad: string[] } {
  const entries: MapEntry[] = [];
  const bad: string[] = [];
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = n;
    if (eol > pos) {
      const e = parseLine(text, pos, eol);
      if (e) entries.push(e);
      else bad.push(text.slice(pos, eol));
    }
    pos = eol + 1;
  }
  return { entries, bad };
}

/**
 * Hex field → bigint. Up to 13 digits (every user-space address on x86-64 and arm64) goes through a double, which
 * is exact below 2^53 and several times cheaper than BigInt('0x…'); longer fields take the exact path.
 */
function hex(text: string, from: number, to: number): bigint | undefined {
  const len = to - from;
  if (len <= 0 || len > 16) return undefined;
  if (len <= 13) {
    let v = 0;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (d < 0) return undefined;
      v = v * 16 + d;
    }
    return BigInt(v);
  }
  const s = text.slice(from, to);
  return /^[0-9a-fA-F]+$/.test(s) ? BigInt('0x' + s) : undefined;
}

// Field layout: "start-end perms offset dev inode   path" — the path may contain spaces, so it is everything after
// the run of blanks that follows the inode.
function parseLine(text: string, from: number, to: number): MapEntry | undefined {
  const dash = text.indexOf('-', from);
  const sp1 = text.indexOf(' ', from);
  if (dash < 0 || sp1 < 0 || dash > sp1 || sp1 >= to) return undefined;
  const sp2 = text.indexOf(' ', sp1 + 1);
  const sp3 = sp2 < 0 ? -1 : text.indexOf(' ', sp2 + 1);
  const sp4 = sp3 < 0 ? -1 : text.indexOf(' ', sp3 + 1);
  if (sp4 < 0 || sp4 > to || sp2 - sp1 !== 5) return undefined;
  let sp5 = text.indexOf(' ', sp4 + 1);
  if (sp5 < 0 || sp5 > to) sp5 = to;
  let p = sp5;
  while (p < to && text.charCodeAt(p) === 0x20) p++;
  const inode = Number(text.slice(sp4 + 1, sp5));
  const start = hex(text, from, dash);
  const end = hex(text, dash + 1, sp1);
  const offset = hex(text, sp2 + 1, sp3);
  if (start === undefined || end === undefined || offset === undefined || !Number.isFinite(inode)) return undefined;
  const c = classifyName(text.slice(p, to));
  return {
    start,
    end,
    perms: text.slice(sp1 + 1, sp1 + 4),
    shared: text.charCodeAt(sp1 + 4) === 0x73 /* s */,
    offset,
    dev: text.slice(sp3 + 1, sp4),
    inode,
    path: c.path,
    deleted: c.deleted,
    kind: c.kind,
    listName: c.listName,
  };
}

export function isExec(e: { perms: string }): boolean {
  return e.perms.charCodeAt(2) === 0x78 /* x */;
}

/** Anonymous memory that can run code: JIT regions, shellcode, reflective loads. */
export function isAnonExec(e: MapEntry): boolean {
  return isExec(e) && (e.kind === 'anon' || e.kind === 'special');
}
