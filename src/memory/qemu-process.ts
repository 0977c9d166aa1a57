/**
 * Locating a running QEMU's guest RAM from the host, without changing QEMU:
 *  1. memfd backend (`memory-backend-memfd`): the RAM is a file open in QEMU as /proc/PID/fd/N → map it;
 *     file backend (`memory-backend-file,share=on`): a shared mapping of that file → map the file;
 *  2. with a QMP socket: HMP `gpa2hva 0` gives the host address of guest-physical 0, `info mtree -f` where RAM
 *     above 4 GiB starts inside the block, `query-memory-size-summary` the RAM size;
 *  3. without QMP: /proc/PID/maps — guest RAM is the anonymous `rw-p` mapping of exactly the RAM size, 2 MiB
 *     aligned, directly followed by a `---p` guard page. The size comes from `ramSize` or QEMU's `-m` argument.
 * Every layout is the same one block: [0, lowRamSize) at guest-physical 0, the rest at guest-physical 4 GiB.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { ParasightError, badArgument } from '../errors.js';
import { QmpClient } from './qmp.js';

const MiB = 1n << 20n;
const FOUR_GIB = 1n << 32n;

export interface MapsEntry {
  start: bigint;
  end: bigint;
  perms: string;
  inode: number;
  path: string;
}

/** Where a QEMU process keeps its guest RAM. */
export interface QemuRamLayout {
  pid: number;
  /** Size of the RAM block (the `-m` size). */
  ramSize: bigint;
  /** Bytes of the block mapped at guest-physical 0; the rest starts at guest-physical 4 GiB. */
  lowRamSize: bigint;
  /** Host virtual address of the block in QEMU (guest-physical 0). */
  hva: bigint;
  /** How it was found. */
  how: 'gpa2hva' | 'maps';
  /** The memfd holding the RAM (`/proc/PID/fd/N`), when QEMU uses the memfd backend. */
  memfdPath?: string;
  /** The shared file holding the RAM, when QEMU uses `memory-backend-file,share=on`. */
  filePath?: string;
  /** QEMU's name for the RAM block (from gpa2hva), e.g. "pc.ram". */
  blockName?: string;
  /** Other RAM blocks in the guest-physical map (pc-dimm, NUMA backends), found through QMP only. */
  extraBlocks?: Array<{ name: string; start: bigint; length: bigint; hva: bigint }>;
}

export interface LocateOptions {
  /** QMP unix socket of this QEMU. */
  qmp?: string;
  /** RAM size (the `-m` size) when neither QMP nor the command line tells it. */
  ramSize?: bigint;
  /** Bytes of RAM below 4 GiB; default from `info mtree -f` (QMP) or QEMU's q35 rule. */
  lowRamSize?: bigint;
  timeoutMs?: number;
}

/** QEMU q35: 2.75 GiB of RAM or more keeps 2 GiB below 4 GiB; less fits entirely below (pc_q35_init). */
export function q35LowRamSize(ramSize: bigint): bigint {
  return ramSize >= 0xb000_0000n ? 0x8000_0000n : ramSize;
}

export function parseMaps(text: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3]!, inode: Number(m[4]), path: m[5]! });
  }
  return out;
}

/** Parses a QEMU size (`64M`, `4G`, `512`: MiB when no suffix, like `-m`). */
export function parseQemuSize(text: string, defaultUnit: bigint = MiB): bigint | undefined {
  const m = /^(\d+)([kmgtKMGT]?)[bB]?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { '': defaultUnit, k: 1n << 10n, m: MiB, g: 1n << 30n, t: 1n << 40n }[m[2]!.toLowerCase()]!;
  return BigInt(m[1]!) * unit;
}

/** The RAM size from a QEMU command line: `-m 4G`, `-m size=4G,slots=…`, or QEMU's default 128 MiB. */
export function ramSizeFromCmdline(args: readonly string[]): bigint {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let value: string | undefined;
    if (a === '-m' || a === '--m') value = args[i + 1];
    else if (a.startsWith('-m=') || a.startsWith('--m=')) value = a.slice(a.indexOf('=') + 1);
    if (value === undefined) continue;
    const size = value.split(',').find((p) => !p.includes('=') || p.startsWith('size='));
    const parsed = size === undefined ? undefined : parseQemuSize(size.replace(/^size=/, ''));
    if (parsed !== undefined) return parsed;
  }
  return 128n * MiB;
}

/** Anonymous rw-p mappings of `ramSize` bytes, 2 MiB aligned, followed by a ---p guard page. */
export function ramMappingCandidates(maps: readonly MapsEntry[], ramSize: bigint): MapsEntry[] {
  return maps.filter((m, i) => {
    const next = maps[i + 1];
    return (
      m.perms === 'rw-p' &&
      m.inode === 0 &&
      m.path === '' &&
      m.end - m.start === ramSize &&
      m.start % (2n * MiB) === 0n &&
      next !== undefined &&
      next.start === m.end &&
      next.perms === '---p'
    );
  });
}

/** The memfd that holds guest RAM: a `/memfd:` fd of exactly `ramSize` bytes. */
export function findRamMemfd(pid: number, ramSize: bigint): string | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined; // no permission to list: the other paths report the real error
  }
  for (const fd of fds) {
    const path = `/proc/${pid}/fd/${fd}`;
    try {
      if (!readlinkSync(path).startsWith('/memfd:')) continue;
      if (BigInt(statSync(path).size) === ramSize) return path;
    } catch {
      // fd closed meanwhile
    }
  }
  return undefined;
}

/** A shared (`rw-s`) mapping of a regular file of exactly `ramSize` bytes: `memory-backend-file,share=on`. */
export function ramFileMapping(maps: readonly MapsEntry[], ramSize: bigint): MapsEntry | undefined {
  return maps.find(
    (m) =>
      m.perms === 'rw-s' &&
      m.path.startsWith('/') &&
      !m.path.startsWith('/memfd:') &&
      !m.path.endsWith(' (deleted)') &&
      m.end - m.start === ramSize,
  );
}

export interface MtreeRam {
  start: bigint;
  length: bigint;
  name: string;
  /** Offset of `start` inside the RAM block. */
  offset: bigint;
}

/** The RAM ranges of the system address space ("memory") in `info mtree -f`. */
export function mtreeRam(mtree: string): MtreeRam[] {
  const system = mtree.split(/\n(?=FlatView #)/).find((v) => /AS "memory"/.test(v)) ?? mtree;
  const out: MtreeRam[] = [];
  for (const line of system.split('\n')) {
    const m = /^\s*([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, ram\): (\S+)(?: @([0-9a-f]+))?/.exec(line);
    if (!m) continue;
    const start = BigInt(`0x${m[1]}`);
    out.push({ start, length: BigInt(`0x${m[2]}`) - start + 1n, name: m[3]!, offset: m[4] === undefined ? 0n : BigInt(`0x${m[4]}`) });
  }
  return out;
}

/** Bytes of `blockName` below 4 GiB: the `@offset` of its range at 4 GiB in `info mtree -f`. */
export function lowRamFromMtree(mtree: string, blockName: string, ramSize: bigint): bigint {
  const high = mtreeRam(mtree).find((r) => r.name === blockName && r.start === FOUR_GIB);
  return high === undefined ? ramSize : high.offset; // nothing above 4 GiB: the whole block is low RAM
}

function procRead(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ParasightError(
      code === 'ENOENT'
        ? `no process with pid ${pid}`
        : `cannot read /proc/${pid}/${file}: ${(e as Error).message}${code === 'EACCES' ? ' (needs root or CAP_SYS_PTRACE)' : ''}`,
      { code: code === 'ENOENT' ? 'NOT_FOUND' : code === 'EACCES' ? 'PERMISSION' : 'IO', source: `pid ${pid}`, cause: e },
    );
  }
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** Finds the guest RAM block of QEMU process `pid` (see the file comment for the three ways). */
export async function locateQemuRam(pid: number, options: LocateOptions = {}): Promise<QemuRamLayout> {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw badArgument(`pid must be a positive integer, got ${String(pid)}`);
  const source = `pid ${pid}`;
  if (options.qmp !== undefined) {
    const qmp = await QmpClient.connect(options.qmp, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    try {
      const answer = await qmp.hmp('gpa2hva 0');
      const m = /Host virtual address for 0x0 \((.+)\) is (0x[0-9a-f]+)/.exec(answer);
      if (!m) {
        throw new ParasightError(`QMP ${options.qmp}: unexpected gpa2hva answer ${JSON.stringify(answer.trim())}`, {
          code: 'UNSUPPORTED',
          source,
        });
      }
      const mtree = await qmp.hmp('info mtree -f');
      const ram = mtreeRam(mtree);
      const others = ram.filter((x) => x.name !== m[1]);
      // With several blocks (NUMA nodes) the RAM size counts them all: the main block ends where its map ends.
      const mainEnd = ram.filter((x) => x.name === m[1]).reduce((e, r) => (r.offset + r.length > e ? r.offset + r.length : e), 0n);
      const ramSize =
        options.ramSize ??
        (others.length > 0 && mainEnd > 0n
          ? mainEnd
          : BigInt((await qmp.execute<{ 'base-memory': number }>('query-memory-size-summary'))['base-memory']));
      const lowRamSize = options.lowRamSize ?? lowRamFromMtree(mtree, m[1]!, ramSize);
      // DIMMs and NUMA backends are blocks of their own, each at its own host address.
      const extraBlocks: NonNullable<QemuRamLayout['extraBlocks']> = [];
      for (const r of others) {
        const at = /is (0x[0-9a-f]+)/.exec(await qmp.hmp(`gpa2hva 0x${r.start.toString(16)}`));
        if (at) extraBlocks.push({ name: r.name, start: r.start, length: r.length, hva: BigInt(at[1]!) });
      }
      const hva = BigInt(m[2]!);
      const memfd = findRamMemfd(pid, ramSize);
      const file = parseMaps(procRead(pid, 'maps')).find((e) => e.start === hva && ramFileMapping([e], ramSize));
      return {
        pid,
        ramSize,
        lowRamSize,
        hva,
        how: 'gpa2hva',
        blockName: m[1]!,
        ...(memfd === undefined ? {} : { memfdPath: memfd }),
        ...(file === undefined ? {} : { filePath: file.path }),
        ...(extraBlocks.length === 0 ? {} : { extraBlocks }),
      };
    } finally {
      qmp.close();
    }
  }
  const ramSize = options.ramSize ?? ramSizeFromCmdline(procRead(pid, 'cmdline').split('\0'));
  const lowRamSize = options.lowRamSize ?? q35LowRamSize(ramSize);
  const memfd = findRamMemfd(pid, ramSize);
  const maps = parseMaps(procRead(pid, 'maps'));
  if (memfd !== undefined) {
    const mapped = maps.find((e) => e.path.startsWith('/memfd:') && e.end - e.start === ramSize);
    return { pid, ramSize, lowRamSize, hva: mapped?.start ?? 0n, how: 'maps', memfdPath: memfd };
  }
  const file = ramFileMapping(maps, ramSize);
  if (file !== undefined) return { pid, ramSize, lowRamSize, hva: file.start, how: 'maps', filePath: file.path };
  const candidates = ramMappingCandidates(maps, ramSize);
  const what = `anonymous rw-p mapping of ${ramSize} bytes (2 MiB aligned, followed by a ---p guard page)`;
  if (candidates.length === 0) {
    throw new ParasightError(
      `pid ${pid}: no ${what} in /proc/${pid}/maps: is it QEMU, and is the RAM size right (pass ramSize, or a QMP socket)?`,
      { code: 'NOT_FOUND', source },
    );
  }
  if (candidates.length > 1) {
    throw new ParasightError(
      `pid ${pid}: ${candidates.length} mappings could be guest RAM, each an ${what}: ` +
        `${candidates.map((c) => `${hex(c.start)}-${hex(c.end)}`).join(', ')}; pass a QMP socket (qmp) so that ` +
        'gpa2hva tells which one (e.g. -m 16M has the size of vga.vram)',
      { code: 'NOT_FOUND', source },
    );
  }
  return { pid, ramSize, lowRamSize, hva: candidates[0]!.start, how: 'maps' };
}

/** The guest-physical blocks of a layout: [start, length, hva] triples for the native source. */
export function layoutBlocks(layout: QemuRamLayout): BigUint64Array {
  const low = layout.lowRamSize < layout.ramSize ? layout.lowRamSize : layout.ramSize;
  const triples = [0n, low, layout.hva];
  if (layout.ramSize > low) triples.push(FOUR_GIB, layout.ramSize - low, layout.hva + low);
  for (const b of layout.extraBlocks ?? []) triples.push(b.start, b.length, b.hva);
  return BigUint64Array.from(triples.filter((_, i) => triples[i - (i % 3) + 1]! > 0n));
}
