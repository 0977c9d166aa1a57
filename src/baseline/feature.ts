/**
 * The feature value of an application and its canonical form.
 *
 * Canonical rule (version 1) — the bytes hashed are UTF-8 of:
 *
 *     parasight-feature/1\n
 *     app=<app>\n
 *     app-version=<app version>\n
 *     os=<OS version>\n
 *     device=<device model>\n
 *     <path 1>\n
 *     ...
 *     <path N>\n
 *
 * where the paths are the list names of every file-backed and memfd mapping of all the application's processes
 * (file path, or "memfd:NAME"; no " (deleted)" suffix), de-duplicated and sorted by UTF-16 code unit (JavaScript's
 * default string order; for ASCII paths the same as byte order). In every field a backslash is written as "\\" and
 * a newline as "\n", so no field can imitate a separator. Addresses, offsets and inode numbers are not part of
 * it: they change with ASLR and reinstalls while the set of mapped files does not. The path hash is the same hash
 * over the path lines alone.
 */
import type { Digest } from './digest.js';
import type { FeatureValue, MapEntry, ProcessMap } from './types.js';

export const FEATURE_VERSION = 'parasight-feature/1';

function esc(s: string): string {
  return s.indexOf('\\') < 0 && s.indexOf('\n') < 0 ? s : s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

// Per entries array (shared while a process's maps text is unchanged): its sorted list names.
const listMemo = new WeakMap<readonly MapEntry[], string[]>();

function namesOf(entries: readonly MapEntry[]): string[] {
  let names = listMemo.get(entries);
  if (!names) {
    const seen = new Set<string>();
    for (const e of entries) if (e.listName !== '') seen.add(e.listName);
    names = [...seen].sort();
    listMemo.set(entries, names);
  }
  return names;
}

/** Sorted, de-duplicated list names of all mappings of all processes. */
export function pathList(processes: readonly ProcessMap[]): string[] {
  if (processes.length === 1) return [...namesOf(processes[0]!.entries)];
  const seen = new Set<string>();
  for (const p of processes) for (const n of namesOf(p.entries)) seen.add(n);
  return [...seen].sort();
}

export function pathLines(paths: readonly string[]): string {
  let s = '';
  for (const p of paths) s += esc(p) + '\n';
  return s;
}

export interface FeatureKey {
  app: string;
  appVersion: string;
  osVersion: string;
  deviceModel: string;
}

export function canonicalFeature(key: FeatureKey, paths: readonly string[]): string {
  return (
    `${FEATURE_VERSION}\napp=${esc(key.app)}\napp-version=${esc(key.appVersion)}\n` +
    `os=${esc(key.osVersion)}\ndevice=${esc(key.deviceModel)}\n` +
    pathLines(paths)
  );
}

export function featureValue(key: FeatureKey, paths: string[], digest: Digest): FeatureValue {
  return {
    ...key,
    paths,
    pathHash: digest.text(pathLines(paths)),
    featureHash: digest.text(canonicalFeature(key, paths)),
  };
}
