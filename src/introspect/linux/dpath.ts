/**
 * Reading kernel objects from outside, shared by the Linux walks done in TypeScript (memory maps, executable paths):
 * a reader that batches direct-map objects into one physical read and turns failures into problems, and d_path —
 * a file's path rebuilt from its dentries up to the namespace root, across mounts, " (deleted)" included.
 */
import { ParasightError } from '../../errors.js';
import type { Memory } from '../../memory/memory.js';
import type { AddressSpace } from '../../paging/address-space.js';
import type { Profile } from '../../profiles/isf.js';
import type { Problem } from '../types.js';

/** Offsets (from BTF) d_path needs: struct path inside struct file, dentries, mounts. */
export interface PathLayout {
  filePath: number; pathMnt: number; pathDentry: number;
  dParent: number; dName: number; dHashPprev: number; qstrLen: number; qstrName: number;
  mountMnt: number; mountParent: number; mountMountpoint: number; vfsmountRoot: number;
}

export function pathLayout(profile: Profile): PathLayout {
  const o = profile.offsets({
    filePath: 'file.f_path', pathMnt: 'path.mnt', pathDentry: 'path.dentry',
    dParent: 'dentry.d_parent', dName: 'dentry.d_name', dHash: 'dentry.d_hash', qstrLen: 'qstr.len',
    qstrName: 'qstr.name', mountMnt: 'mount.mnt', mountParent: 'mount.mnt_parent',
    mountMountpoint: 'mount.mnt_mountpoint', vfsmountRoot: 'vfsmount.mnt_root',
  });
  const { dHash, ...rest } = o;
  // d_hash is an hlist_bl_node {next, pprev}: pprev is NULL while the dentry is unhashed (unlinked).
  return { ...rest, dHashPprev: dHash + 8 };
}

/** A canonical, 8-byte aligned kernel-half address. */
export function kernelPointer(v: bigint): boolean {
  return v >> 47n === 0x1ffffn && (v & 7n) === 0n;
}

const DIRECT_MAP_SPAN = 1n << 46n;  // the direct map's size with 4-level paging

/** Where the kernel's direct map starts: objects there are read in physical batches, without page walks. */
export interface DirectMap {
  memory: Memory;
  pageOffsetBase: bigint;
}

export class KernelReader {
  readonly problems: Problem[] = [];
  constructor(
    private readonly space: AddressSpace,
    private readonly direct: DirectMap | undefined,
    /** Names the walk in problems ("vma", "exe"). */
    private readonly walk: string,
  ) {}

  /** `len` bytes at each address: direct-map objects in one batch, the rest (and failures) one by one. */
  many(vas: bigint[], len: number, what: string): Array<DataView | undefined> {
    const out: Array<DataView | undefined> = new Array(vas.length).fill(undefined);
    const d = this.direct;
    const batched: number[] = [];
    if (d && len <= 4096) {
      for (let i = 0; i < vas.length; i++) {
        const off = vas[i]! - d.pageOffsetBase;
        if (off >= 0n && off < DIRECT_MAP_SPAN) batched.push(i);
      }
      if (batched.length > 0) {
        const { bytes, ok } = d.memory.readMany(BigUint64Array.from(batched, (i) => vas[i]! - d.pageOffsetBase), len);
        batched.forEach((i, k) => {
          if (ok[k]) out[i] = new DataView(bytes.buffer, bytes.byteOffset + k * len, len);
        });
      }
    }
    for (let i = 0; i < vas.length; i++) if (!out[i]) out[i] = this.bytes(vas[i]!, len, what);
    return out;
  }

  bytes(va: bigint, len: number, what: string): DataView | undefined {
    try {
      const b = this.space.read(va, len);
      return new DataView(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      const code = e instanceof ParasightError ? e.code : 'BAD_POINTER';
      this.problem(code, `${what} at 0x${va.toString(16)}: ${(e as Error).message}`, va);
      return undefined;
    }
  }

  u64(va: bigint, what: string): bigint | undefined {
    return this.bytes(va, 8, what)?.getBigUint64(0, true);
  }

  problem(code: string, message: string, address?: bigint): void {
    if (this.problems.length >= 256) return;
    this.problems.push(address === undefined ? { code, message, walk: this.walk } : { code, message, address, walk: this.walk });
  }
}

/**
 * d_path from outside: the path of (vfsmount, dentry), memoised per pair for the builder's lifetime, and so is each
 * directory passed on the way up (files of one directory then cost their own dentry only).
 */
export class PathBuilder {
  readonly #cache = new Map<string, string | undefined>();
  /** (struct mount, directory dentry) → its path. */
  readonly #dirs = new Map<string, string>();
  constructor(private readonly r: KernelReader, private readonly l: PathLayout, private readonly maxDepth: number) {}

  /** The path d_path prints for (vfsmount, dentry), " (deleted)" included; undefined when unreadable. */
  of(vfsmount: bigint, dentry: bigint): string | undefined {
    const key = `${vfsmount}:${dentry}`;
    if (!this.#cache.has(key)) this.#cache.set(key, this.#build(vfsmount, dentry));
    return this.#cache.get(key);
  }

  #dentry(d: bigint): { parent: bigint; name: string; hashed: boolean } | undefined {
    const { l, r } = this;
    const end = Math.max(l.dParent, l.dHashPprev, l.dName + l.qstrName) + 8;
    const dv = r.bytes(d, end, 'dentry');
    if (!dv) return undefined;
    const len = dv.getUint32(l.dName + l.qstrLen, true);
    const at = dv.getBigUint64(l.dName + l.qstrName, true);
    if (len > 255 || !kernelPointer(at & ~7n)) {
      r.problem('INCONSISTENT', `dentry 0x${d.toString(16)} name (length ${len})`, d);
      return undefined;
    }
    const raw = len === 0 ? new DataView(new ArrayBuffer(0)) : this.r.bytes(at, len, 'dentry name');
    if (!raw) return undefined;
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    return {
      parent: dv.getBigUint64(l.dParent, true),
      name: Buffer.from(bytes).toString('utf8'),
      hashed: dv.getBigUint64(l.dHashPprev, true) !== 0n,
    };
  }

  #build(vfsmount: bigint, dentry: bigint): string | undefined {
    const { l, r } = this;
    const first = this.#dentry(dentry);
    if (!first) return undefined;
    let mount = vfsmount - BigInt(l.mountMnt);
    let root = r.u64(vfsmount + BigInt(l.vfsmountRoot), 'vfsmount root');
    if (root === undefined) return undefined;
    // Pseudo files (memfd, SysV shm, anonymous inodes) are their own parent but not their mount's root: the
    // kernel names them "/NAME (deleted)" (simple_dname).
    if (first.parent === dentry && dentry !== root) return `/${first.name} (deleted)`;
    const parts: string[] = [];
    // Directories passed, with how many names lie below each: their paths once the whole path is known.
    const passed: Array<{ key: string; below: number }> = [];
    let above = '';
    let d = dentry;
    let cur = first;
    for (let depth = 0; ; depth++) {
      if (depth >= this.maxDepth) {
        r.problem('LIMIT', `path of dentry 0x${dentry.toString(16)} deeper than ${this.maxDepth}`, dentry);
        return undefined;
      }
      if (d === root) {
        const parent = r.u64(mount + BigInt(l.mountParent), 'mount parent');
        if (parent === undefined) return undefined;
        if (parent === mount || !kernelPointer(parent)) break;  // the namespace root
        const mountpoint = r.u64(mount + BigInt(l.mountMountpoint), 'mount point');
        const parentRoot = r.u64(parent + BigInt(l.mountMnt + l.vfsmountRoot), 'vfsmount root');
        if (mountpoint === undefined || parentRoot === undefined) return undefined;
        mount = parent;
        root = parentRoot;
        d = mountpoint;
        const next = this.#dentry(d);
        if (!next) return undefined;
        cur = next;
        continue;
      }
      if (cur.parent === d) break;  // escaped its mount: print what was gathered
      parts.push(cur.name);
      d = cur.parent;
      const key = `${mount}:${d}`;
      const known = this.#dirs.get(key);
      if (known !== undefined) {
        above = known === '/' ? '' : known;
        break;
      }
      passed.push({ key, below: parts.length });
      const next = this.#dentry(d);
      if (!next) return undefined;
      cur = next;
    }
    const names = parts.reverse();
    const path = `${above}/${names.join('/')}`;
    for (const { key, below } of passed) this.#dirs.set(key, `${above}/${names.slice(0, names.length - below).join('/')}`);
    // d_unlinked: unhashed and not a root.
    return !first.hashed && first.parent !== dentry ? `${path} (deleted)` : path;
  }
}

