/**
 * openIntrospector(): the one place the CLI turns `--memory PATH [--profile FILE]` into a GuestIntrospector.
 * Registered openers (`registerIntrospector`) see the spec first and return undefined when the guest is not theirs;
 * then the built-in OS openers run on the opened memory (Linux with a profile, Windows XP/2003 x86, Linux with a
 * profile built from the guest's own memory; other OS implementations add a branch to `builtin`). The first that
 * recognises the guest wins. Embedders can skip this and pass their own GuestIntrospector to the Sensor.
 */
import { ParasightError } from '../errors.js';
import { Memory } from '../memory/memory.js';
import { openMemory, type MemorySourceSpec } from '../memory/open.js';
import { parseMemorySpec } from '../memory/spec.js';
import type { GuestIntrospector, GuestOs } from './types.js';
import { WindowsIntrospector } from './windows/introspector.js';
import { LinuxIntrospector } from './linux/introspector.js';
import { Profile } from '../profiles/isf.js';
import { linuxProfileFromMemory } from '../profiles/linux/from-memory.js';

export interface IntrospectorOptions {
  /** Profile file (ISF JSON / .json.xz, or a generated Linux profile). */
  profile?: string;
  /** Skip detection and open the guest as this OS. */
  os?: GuestOs;
  /** Windows: kernel DTB and KDBG virtual address, when known (skips the scans). */
  dtb?: bigint;
  kdbg?: bigint;
}

export interface IntrospectorSpec extends IntrospectorOptions {
  /** Memory source: image file, live RAM file, ... (what openMemory accepts). */
  memory: string;
}

/** Returns an introspector when it recognises the guest, undefined when the guest is not its kind. */
export type IntrospectorOpener = (spec: IntrospectorSpec) => GuestIntrospector | undefined;

const openers: IntrospectorOpener[] = [];

/** For OS implementations (and tests) to register an opener. */
export function registerIntrospector(opener: IntrospectorOpener): void {
  openers.push(opener);
}

// `owns`: the introspector closes the memory when it is closed (the memory was opened here from a path).
type BuiltinOpener = (memory: Memory, options: IntrospectorOptions, owns: boolean) => GuestIntrospector | undefined;

function openWindows(memory: Memory, options: IntrospectorOptions, owns: boolean): GuestIntrospector | undefined {
  try {
    return WindowsIntrospector.open(memory, {
      ownMemory: owns,
      ...(options.profile !== undefined ? { profile: options.profile } : {}),
      ...(options.dtb !== undefined ? { dtb: options.dtb } : {}),
      ...(options.kdbg !== undefined ? { kdbg: options.kdbg } : {}),
    });
  } catch (e) {
    // NOT_FOUND = no XP/2003 kernel in this memory: the next opener may know the guest.
    if (e instanceof ParasightError && e.code === 'NOT_FOUND' && options.os !== 'windows') return undefined;
    throw e;
  }
}

// Linux with a profile generated from the guest's kernel (`parasight profile`); with a profile of another OS, this
// opener passes. The table below runs it only when a profile was given (the check narrows the type).
function openLinux(memory: Memory, options: IntrospectorOptions, owns: boolean): GuestIntrospector | undefined {
  if (options.profile === undefined) return undefined;
  const profile = Profile.load(options.profile);
  if (profile.os !== 'linux') return undefined;
  try {
    return LinuxIntrospector.open(memory, { profile, ownMemory: owns });
  } catch (e) {
    if (e instanceof ParasightError && e.code === 'NOT_FOUND' && options.os !== 'linux') return undefined;
    throw e;
  }
}

// No profile at all: a Linux kernel with BTF carries what a profile holds (types and kallsyms) in its own image.
// Tried last, after the cheaper recognisers, because it scans the resident RAM; the table below runs it only when no
// profile was given.
function openLinuxFromMemory(memory: Memory, options: IntrospectorOptions, owns: boolean): GuestIntrospector | undefined {
  let doc;
  try {
    doc = linuxProfileFromMemory(memory).doc;
  } catch (e) {
    if (e instanceof ParasightError && e.code === 'NOT_FOUND' && options.os !== 'linux') return undefined;
    throw e;
  }
  const release = (doc.metadata.linux as { release?: string } | undefined)?.release ?? 'unknown';
  return LinuxIntrospector.open(memory, { profile: new Profile(`linux-${release} (from guest memory)`, doc), ownMemory: owns });
}

// `name` is what an error's "tried" list says: which recogniser looked at the guest and passed. `profile`: runs only
// with (true) or only without (false) a profile file; the others never looked at the guest.
const builtin: Array<{ os: GuestOs; name: string; profile?: boolean; open: BuiltinOpener }> = [
  { os: 'linux', name: 'linux (with the profile given)', profile: true, open: openLinux },
  { os: 'windows', name: 'windows xp/2003 x86', open: openWindows },
  { os: 'linux', name: 'linux (BTF and kallsyms in guest memory)', profile: false, open: openLinuxFromMemory },
];

/** The first registered opener (of this thread) that recognises the guest; `tried` collects the others' names. */
export function openRegistered(spec: IntrospectorSpec, tried: string[] = []): GuestIntrospector | undefined {
  for (const open of openers) {
    const intro = open(spec);
    if (intro) return intro;
    tried.push(open.name || 'anonymous');
  }
  return undefined;
}

/**
 * Opens an introspector for a memory source: a spec (`{memory: path, profile?, os?}`), a path, or an already open
 * Memory (then `options` carries profile/os).
 */
export function openIntrospector(source: IntrospectorSpec | Memory | string, options: IntrospectorOptions = {}): GuestIntrospector {
  const spec: IntrospectorSpec =
    source instanceof Memory ? { memory: source.origin, ...options } : typeof source === 'string' ? { memory: source, ...options } : { ...source, ...options };
  const tried: string[] = [];
  const registered = openRegistered(spec, tried);
  if (registered) return registered;
  const mem = source instanceof Memory ? source : openMemory(spec.memory);
  for (const b of builtin) {
    if (spec.os !== undefined && b.os !== spec.os) continue;
    if (b.profile !== undefined && b.profile !== (spec.profile !== undefined)) continue;
    const intro = b.open(mem, spec, !(source instanceof Memory));
    if (intro) return intro;
    tried.push(b.name);
  }
  if (!(source instanceof Memory)) mem.close();
  throw new ParasightError(`no introspector for this guest: ${spec.memory} (tried: ${tried.join(', ') || 'none'})`, {
    code: 'UNSUPPORTED',
    source: spec.memory,
  });
}

/**
 * Opens guest memory written as a source string (`--memory`: an image path, `live:PATH`, `qemu:PID,...`,
 * `libvmi:DOMAIN`; see parseMemorySpec) or a source spec, then its introspector. A plain image path goes to the
 * opener registry as is (registered openers see the path); other sources are opened first (QEMU's is asynchronous).
 */
export async function openGuest(memory: string | MemorySourceSpec, options: IntrospectorOptions = {}): Promise<GuestIntrospector> {
  const spec = typeof memory === 'string' ? parseMemorySpec(memory) : memory;
  if (typeof memory === 'string' && spec.kind === 'file' && spec.format === undefined) return openIntrospector({ memory, ...options });
  const mem = await openMemory(spec);
  try {
    return openIntrospector(mem, options);
  } catch (e) {
    mem.close();
    throw e;
  }
}
