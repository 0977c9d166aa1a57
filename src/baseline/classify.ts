/**
 * Code or not: a file is code when some process maps it executable, when it starts with the ELF magic (a shared
 * object mapped read-only is still loadable code), or when its name says it is loadable code (.so, .node, .jar,
 * .dex, .oat, .odex; Windows .dll/.exe/.sys for guests). Code that appears or disappears is high risk; data is low.
 */
import type { CodeReason, Risk } from './types.js';

const CODE_EXTENSION = /\.(?:so(?:\.\d+)*|node|jar|dex|oat|odex|vdex|dll|exe|sys|drv|ocx|cpl)$/i;

export function hasCodeExtension(name: string): boolean {
  return CODE_EXTENSION.test(name);
}

/**
 * @param exec some mapping of it is executable
 * @param isElf reads the file's magic when reachable (host mode); absent or false when it cannot be read
 */
export function classifyFile(name: string, exec: boolean, isElf?: () => boolean): { code: boolean; why: CodeReason } {
  if (exec) return { code: true, why: 'exec-mapping' };
  if (hasCodeExtension(name)) return { code: true, why: 'extension' };
  if (isElf?.()) return { code: true, why: 'elf' };
  return { code: false, why: 'data' };
}

const ORDER: Record<Risk, number> = { none: 0, low: 1, medium: 2, high: 3 };

export function maxRisk(risks: Iterable<Risk>): Risk {
  let r: Risk = 'none';
  for (const x of risks) if (ORDER[x] > ORDER[r]) r = x;
  return r;
}

export function riskAtLeast(r: Risk, floor: Risk): boolean {
  return ORDER[r] >= ORDER[floor];
}
