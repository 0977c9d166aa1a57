/**
 * Executable paths of Linux processes read from outside: task->mm->exe_file->f_path through d_path, what the guest's
 * own `readlink /proc/PID/exe` prints (the file the kernel executed: a program started through a symlink names the
 * target; an unlinked one ends in " (deleted)"). Tasks are read level by level, one batch per level, so paths for
 * many processes cost a few physical reads plus one dentry chain per distinct executable.
 */
import type { AddressSpace } from '../../paging/address-space.js';
import type { Profile } from '../../profiles/isf.js';
import type { Problem } from '../types.js';
import { KernelReader, PathBuilder, kernelPointer, pathLayout, type DirectMap, type PathLayout } from './dpath.js';

export interface ExeLayout extends PathLayout {
  taskMm: number;
  taskPid: number;
  taskStartTime: number;
  mmExeFile: number;
}

export function exeLayout(profile: Profile): ExeLayout {
  return {
    ...pathLayout(profile),
    ...profile.offsets({ taskMm: 'task_struct.mm', taskPid: 'task_struct.pid', taskStartTime: 'task_struct.start_time', mmExeFile: 'mm_struct.exe_file' }),
  };
}

/** A task as the last walk saw it: its task_struct, pid, and start time in ms since boot. */
export interface ExeTask {
  address: bigint;
  pid: number;
  createTime: number;
}

/** Deeper than any path the kernel itself would print within PATH_MAX. */
const MAX_PATH_DEPTH = 256;

/**
 * The executable path of each task (`undefined` for kernel threads and exiting tasks, which have no mm or no
 * exe_file, and for what could not be read — those also leave a problem).
 */
export function readExePaths(
  space: AddressSpace,
  l: ExeLayout,
  tasks: readonly ExeTask[],
  direct?: DirectMap,
): { paths: Array<string | undefined>; problems: Problem[] } {
  const r = new KernelReader(space, direct, 'exe');
  const paths: Array<string | undefined> = new Array(tasks.length).fill(undefined);
  const word = (v: DataView | undefined): bigint => (v ? v.getBigUint64(0, true) : 0n);
  // mm, pid and start time in one read per task: the task must still be the one the walk saw (a task freed since
  // and its memory reused would name another program).
  const from = Math.min(l.taskMm, l.taskPid, l.taskStartTime);
  const span = Math.max(l.taskMm, l.taskPid, l.taskStartTime) + 8 - from;
  const views = r.many(tasks.map((t) => t.address + BigInt(from)), span, 'task_struct');
  const mms = views.map((v, i) => {
    if (!v) return 0n;
    const t = tasks[i]!;
    const start = v.getBigUint64(l.taskStartTime - from, true);
    if (v.getInt32(l.taskPid - from, true) !== t.pid || Number(start / 1_000_000n) !== t.createTime) {
      r.problem('STALE', `task of pid ${t.pid} at 0x${t.address.toString(16)} is no longer that process (exited since the walk)`, t.address);
      return 0n;
    }
    return v.getBigUint64(l.taskMm - from, true);
  });
  const withMm = mms.flatMap((mm, i) => (mm !== 0n && kernelPointer(mm) ? [i] : []));
  const files = r.many(withMm.map((i) => mms[i]! + BigInt(l.mmExeFile)), 8, 'mm_struct.exe_file').map(word);
  const withFile = withMm.flatMap((i, k) => (files[k] !== 0n && kernelPointer(files[k]!) ? [{ task: i, file: files[k]! }] : []));
  const fPath = r.many(withFile.map((x) => x.file + BigInt(l.filePath)), Math.max(l.pathMnt, l.pathDentry) + 8, 'file.f_path');
  const builder = new PathBuilder(r, l, MAX_PATH_DEPTH);
  withFile.forEach(({ task }, k) => {
    const v = fPath[k];
    if (v) paths[task] = builder.of(v.getBigUint64(l.pathMnt, true), v.getBigUint64(l.pathDentry, true));
  });
  return { paths, problems: r.problems };
}
