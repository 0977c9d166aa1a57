/**
 * Built-in Windows profiles: ntoskrnl structure layouts as ISF JSON (XP SP2/SP3 x86, Server 2003 SP1/SP2 x86) and
 * tcpip.sys data files, one per driver build (global-variable RVAs plus _TCPT_OBJECT/_ADDRESS_OBJECT layouts).
 * tcpip.sys structures are not in ntoskrnl symbol files, so they live apart. The JSON files ship in the package
 * beside the compiled code (this path resolves from both src/profiles and dist/profiles).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Profile } from './isf.js';

const DIR = fileURLToPath(new URL('../../src/profiles/windows/', import.meta.url));

export type WindowsFamily = 'xp' | '2003';

export interface BuiltinWindowsProfile {
  name: string;
  path: string;
  family: WindowsFamily;
  build: number;
  servicePacks: number[];
}

const BUILTIN: BuiltinWindowsProfile[] = [
  { name: 'xp-sp2-x86', family: 'xp', build: 2600, servicePacks: [2] },
  { name: 'xp-sp3-x86', family: 'xp', build: 2600, servicePacks: [3] },
  { name: '2003-sp1-x86', family: '2003', build: 3790, servicePacks: [1] },
  { name: '2003-sp2-x86', family: '2003', build: 3790, servicePacks: [2] },
].map((p) => ({ ...p, family: p.family as WindowsFamily, path: join(DIR, `${p.name}.json`) }));

export function builtinWindowsProfiles(): readonly BuiltinWindowsProfile[] {
  return BUILTIN;
}

const loaded = new Map<string, Profile>();

/** Loads a built-in profile by name (cached). */
export function loadBuiltinWindowsProfile(name: string): Profile {
  let p = loaded.get(name);
  if (!p) {
    const info = BUILTIN.find((b) => b.name === name);
    if (!info) throw new Error(`no built-in Windows profile ${name}`);
    p = Profile.load(info.path);
    loaded.set(name, p);
  }
  return p;
}

/** Picks the built-in profile for a family and service pack (nearest supported service pack). */
export function pickWindowsProfile(family: WindowsFamily, servicePack: number | undefined): BuiltinWindowsProfile {
  const candidates = BUILTIN.filter((b) => b.family === family);
  const exact = candidates.find((b) => servicePack !== undefined && b.servicePacks.includes(servicePack));
  if (exact) return exact;
  // Same structure layouts across the service packs we ship: the nearest one serves.
  return servicePack !== undefined && servicePack > Math.max(...candidates.flatMap((c) => c.servicePacks))
    ? candidates[candidates.length - 1]!
    : candidates[0]!;
}

export interface TcpipStruct {
  size: number;
  fields: Record<string, number>;
}

export interface TcpipBuild {
  file: string;
  family: WindowsFamily;
  key: string;
  /** tcpip.sys FileVersion from its version resource, or null when the published source did not record it. */
  fileVersion: string | null;
  rvas: { _TCBTable: number; _MaxHashTableSize: number; _AddrObjTable: number; _AddrObjTableSize: number } | null;
  types: { _TCPT_OBJECT: TcpipStruct; _ADDRESS_OBJECT: TcpipStruct };
}

let builds: TcpipBuild[] | undefined;

/** Every tcpip.sys data file shipped (one per build, plus one "unknown build" layout per family). */
export function tcpipBuilds(): readonly TcpipBuild[] {
  if (!builds) {
    const dir = join(DIR, 'tcpip');
    builds = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => ({ file: f, ...(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<TcpipBuild, 'file'>) }));
  }
  return builds;
}
