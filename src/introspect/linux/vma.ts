/**
 * A Linux process's memory map read from outside, as the guest's own /proc/PID/maps shows it: the VMAs of
 * mm->mm_mt (kernel 6.1+ keeps them in a maple tree, not a list), their permissions, file offsets and inodes, file
 * paths rebuilt from dentries up to the namespace root across mounts, and the names of anonymous and special
 * mappings ([heap], [stack], [vdso], [vvar]). Every walk is bounded; unreadable objects become problems and the
 * rest of the map is still returned.
 */
import type { AddressSpace } from '../../paging/address-space.js';
import type { Profile } from '../../profiles/isf.js';
import type { MemoryMapEntry, WithProblems } from '../types.js';
import { KernelReader as Reader, PathBuilder, kernelPointer, pathLayout, type DirectMap, type PathLayout } from './dpath.js';

export type { DirectMap } from './dpath.js';

/** Offsets (from BTF) and slid symbols the VMA walk needs (d_path's among them). */
export interface VmaLayout extends PathLayout {
  mmMt: number; maRoot: number; startBrk: number; brk: number; startStack: number;
  rangePivot: number; rangeSlot: number; arangePivot: number; arangeSlot: number;
  vmStart: number; vmEnd: number; vmFlags: number; vmPgoff: number; vmFile: number; vmOps: number; vmPrivate: number;
  fileInode: number; inodeIno: number;
  specialName: number;
  /** Slid addresses of the vm_operations_struct of special mappings; empty → recognised by their name. */
  specialOps: bigint[];
}

export function vmaLayout(profile: Profile, slide: bigint): VmaLayout {
  const o = profile.offsets({
    mmMt: 'mm_struct.mm_mt', maRoot: 'maple_tree.ma_root', startBrk: 'mm_struct.start_brk', brk: 'mm_struct.brk',
    startStack: 'mm_struct.start_stack', rangePivot: 'maple_range_64.pivot', rangeSlot: 'maple_range_64.slot',
    arangePivot: 'maple_arange_64.pivot', arangeSlot: 'maple_arange_64.slot', vmStart: 'vm_area_struct.vm_start',
    vmEnd: 'vm_area_struct.vm_end', vmFlags: 'vm_area_struct.vm_flags', vmPgoff: 'vm_area_struct.vm_pgoff',
    vmFile: 'vm_area_struct.vm_file', vmOps: 'vm_area_struct.vm_ops', vmPrivate: 'vm_area_struct.vm_private_data',
    fileInode: 'file.f_inode', inodeIno: 'inode.i_ino', specialName: 'vm_special_mapping.name',
  });
  const specialOps = ['special_mapping_vmops', 'legacy_special_mapping_vmops']
    .map((n) => profile.symbol(n))
    .filter((a): a is bigint => a !== undefined)
    .map((a) => a + slide);
  return { ...pathLayout(profile), ...o, specialOps };
}

export interface VmaLimits {
  maxVmas: number;
  maxNodes: number;
  maxPathDepth: number;
}

const VM_READ = 1n, VM_WRITE = 2n, VM_EXEC = 4n, VM_MAYSHARE = 0x80n;
// Maple tree encoding (include/linux/maple_tree.h): nodes are 256-byte aligned; an encoded node pointer carries
// its type in bits 3..6 (and 4 as "not null"); the tree's root pointer is tagged with 2 when it is a node, else it
// is the only entry.
const MAPLE_NODE_MASK = 0xffn, MAPLE_LEAF_64 = 1, MAPLE_RANGE_64 = 2, MAPLE_ARANGE_64 = 3;
const MAPLE_NODE_SIZE = 256;
const MAX_DEPTH = 8;
const VMA_SPAN = 0xa8;
const ULONG_MAX = 0xffff_ffff_ffff_ffffn;


/** VMA addresses of the maple tree rooted at `root`, in address order, with the range each leaf slot covers. */
function mapleVmas(r: Reader, l: VmaLayout, root: bigint, limits: VmaLimits): { vma: bigint; min: bigint; max: bigint }[] {
  const out: { vma: bigint; min: bigint; max: bigint }[] = [];
  const seen = new Set<bigint>();
  const visit = (entry: bigint, min: bigint, max: bigint, depth: number): void => {
    if (out.length >= limits.maxVmas) return;
    const node = entry & ~MAPLE_NODE_MASK;
    const type = Number((entry >> 3n) & 0xfn);
    if (depth > MAX_DEPTH || !kernelPointer(node) || type > MAPLE_ARANGE_64) {
      r.problem('BAD_POINTER', `maple node entry 0x${entry.toString(16)} (type ${type}, depth ${depth})`, entry);
      return;
    }
    if (seen.has(node) || seen.size >= limits.maxNodes) {
      r.problem(seen.has(node) ? 'CYCLE' : 'LIMIT', `maple tree node 0x${node.toString(16)} ${seen.has(node) ? 'again' : `beyond ${limits.maxNodes} nodes`}`, node);
      return;
    }
    seen.add(node);
    const dv = r.bytes(node, MAPLE_NODE_SIZE, 'maple node');
    if (!dv) return;
    const arange = type === MAPLE_ARANGE_64;
    const pivotAt = arange ? l.arangePivot : l.rangePivot;
    const slotAt = arange ? l.arangeSlot : l.rangeSlot;
    const slots = (slotAt - pivotAt) / 8 + 1;
    let lo = min;
    for (let i = 0; i < slots; i++) {
      const pivot = i < slots - 1 ? dv.getBigUint64(pivotAt + i * 8, true) : max;
      // Unused slots past the node's end have pivot 0.
      if (i > 0 && pivot === 0n) break;
      const hi = pivot > max ? max : pivot;
      const slot = dv.getBigUint64(slotAt + i * 8, true);
      if (type === MAPLE_LEAF_64 || type < MAPLE_RANGE_64) {
        if (slot !== 0n && kernelPointer(slot)) out.push({ vma: slot, min: lo, max: hi });
      } else if (slot !== 0n) {
        visit(slot, lo, hi, depth + 1);
      }
      if (hi >= max) break;
      lo = hi + 1n;
    }
  };
  if ((root & 3n) === 2n && root > 4096n) visit(root, 0n, ULONG_MAX, 0);
  else if (root !== 0n && kernelPointer(root)) out.push({ vma: root, min: 0n, max: ULONG_MAX });
  if (out.length >= limits.maxVmas) r.problem('LIMIT', `memory map cut at ${limits.maxVmas} VMAs`);
  return out;
}

/** The memory map of the process whose mm_struct is at `mm` (read through the kernel address space). */
export function readMemoryMap(
  space: AddressSpace,
  l: VmaLayout,
  mm: bigint,
  limits: VmaLimits,
  direct?: DirectMap,
): WithProblems<MemoryMapEntry> {
  const r = new Reader(space, direct, 'vma');
  if (mm === 0n) return { items: [], problems: [] };  // kernel thread: no user address space
  const mmEnd = Math.max(l.mmMt + l.maRoot, l.startBrk, l.brk, l.startStack) + 8;
  const mmv = r.bytes(mm, mmEnd, 'mm_struct');
  if (!mmv) return { items: [], problems: r.problems };
  const root = mmv.getBigUint64(l.mmMt + l.maRoot, true);
  const startBrk = mmv.getBigUint64(l.startBrk, true);
  const brk = mmv.getBigUint64(l.brk, true);
  const startStack = mmv.getBigUint64(l.startStack, true);
  const paths = new PathBuilder(r, l, limits.maxPathDepth);
  const items: MemoryMapEntry[] = [];
  const span = Math.max(VMA_SPAN, l.vmStart, l.vmEnd, l.vmFlags, l.vmPgoff, l.vmFile, l.vmOps, l.vmPrivate) + 8;
  const slots = mapleVmas(r, l, root, limits);
  // Level by level: every VMA in one batch, then every file they map in another.
  const vmas = r.many(slots.map((s) => s.vma), span, 'vm_area_struct');
  const fileSpan = Math.max(l.filePath + l.pathMnt, l.filePath + l.pathDentry, l.fileInode) + 8;
  const fileOf = (v: DataView | undefined): bigint => (v ? v.getBigUint64(l.vmFile, true) : 0n);
  const fileVas = vmas.map(fileOf).filter((f) => f !== 0n && kernelPointer(f));
  const fileViews = new Map<bigint, DataView | undefined>();
  r.many(fileVas, fileSpan, 'file').forEach((fv, i) => fileViews.set(fileVas[i]!, fv));
  for (let n = 0; n < slots.length; n++) {
    const { vma, min, max } = slots[n]!;
    const v = vmas[n];
    if (!v) continue;
    const start = v.getBigUint64(l.vmStart, true);
    const end = v.getBigUint64(l.vmEnd, true);
    // A leaf slot covers exactly its VMA; the root alone (a one-entry tree) and the last slot are open-ended.
    if (end <= start || start < min || (max !== ULONG_MAX && end - 1n !== max)) {
      r.problem('INCONSISTENT', `VMA 0x${vma.toString(16)} [0x${start.toString(16)}, 0x${end.toString(16)}) outside its tree range`, vma);
      continue;
    }
    const flags = v.getBigUint64(l.vmFlags, true);
    const file = v.getBigUint64(l.vmFile, true);
    const perms = `${flags & VM_READ ? 'r' : '-'}${flags & VM_WRITE ? 'w' : '-'}${flags & VM_EXEC ? 'x' : '-'}`;
    const shared = (flags & VM_MAYSHARE) !== 0n;
    if (file !== 0n && kernelPointer(file)) {
      const e: MemoryMapEntry = { start, end, perms, shared, kind: 'file', offset: v.getBigUint64(l.vmPgoff, true) << 12n };
      const fv = fileViews.get(file);
      if (fv) {
        const inode = fv.getBigUint64(l.fileInode, true);
        const ino = kernelPointer(inode) ? r.u64(inode + BigInt(l.inodeIno), 'inode') : undefined;
        if (ino !== undefined) e.inode = ino;
        const path = paths.of(fv.getBigUint64(l.filePath + l.pathMnt, true), fv.getBigUint64(l.filePath + l.pathDentry, true));
        if (path !== undefined) e.path = path;
      }
      items.push(e);
      continue;
    }
    const e: MemoryMapEntry = { start, end, perms, shared, kind: 'private' };
    const name = specialName(r, l, v.getBigUint64(l.vmOps, true), v.getBigUint64(l.vmPrivate, true));
    if (name !== undefined) e.path = name;
    else if (start <= brk && end >= startBrk) e.path = '[heap]';
    else if (start <= startStack && end >= startStack) e.path = '[stack]';
    items.push(e);
  }
  return { items, problems: r.problems };
}

// A special mapping ([vdso], [vvar]) keeps its struct vm_special_mapping in vm_private_data; its first field names it.
function specialName(r: Reader, l: VmaLayout, ops: bigint, priv: bigint): string | undefined {
  if (!kernelPointer(priv) || ops === 0n) return undefined;
  if (l.specialOps.length > 0 && !l.specialOps.includes(ops)) return undefined;
  const at = r.u64(priv + BigInt(l.specialName), 'vm_special_mapping');
  if (at === undefined || !kernelPointer(at & ~7n)) return undefined;
  const dv = r.bytes(at, 32 - Number(at & 7n), 'special mapping name');
  if (!dv) return undefined;
  let s = '';
  for (let i = 0; i < dv.byteLength && dv.getUint8(i) !== 0; i++) s += String.fromCharCode(dv.getUint8(i));
  // Without the ops symbols, only a bracketed name is trusted.
  if (l.specialOps.length === 0 && !/^\[[a-z_]+\]$/.test(s)) return undefined;
  return s;
}
