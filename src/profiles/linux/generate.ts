/**
 * A Linux profile (ISF JSON) from a kernel image alone: unpack the bzImage, take struct layouts from its BTF and
 * symbols from its embedded kallsyms tables (or a System.map when one is given). The guest's running kernel has
 * the same layout, so the profile works on live memory, ELF cores and raw images of that build.
 */
import { gunzipSync } from 'node:zlib';
import { ParasightError } from '../../errors.js';
import type { IsfDocument, IsfSymbol } from '../isf.js';
import { codecAt, decompress } from '../compressed.js';
import { Btf, btfToIsf } from './btf.js';
import { Elf64, cString } from './elf.js';
import { readKallsyms, type KernelSymbol } from './kallsyms.js';

/** Structs the Linux walkers read, plus neighbours that later walkers (VMAs, paths, namespaces) will want. */
export const LINUX_PROFILE_TYPES = [
  'task_struct', 'mm_struct', 'vm_area_struct', 'files_struct', 'fdtable', 'file', 'path', 'dentry', 'qstr',
  'inode', 'super_block', 'vfsmount', 'mount', 'socket', 'sock', 'sock_common', 'inet_sock', 'ipv6_pinfo',
  'inet_connection_sock', 'tcp_sock', 'udp_sock', 'unix_sock', 'list_head', 'hlist_node', 'cred', 'signal_struct',
  'pid', 'upid', 'nsproxy', 'net', 'in6_addr', 'maple_tree', 'uts_namespace', 'new_utsname', 'module',
  'file_operations', 'timens_offsets', 'maple_node', 'maple_range_64', 'maple_arange_64', 'vm_special_mapping',
];

export interface LinuxProfileOptions {
  /** Name recorded in the profile (usually the kernel image's file name). */
  origin: string;
  /** System.map text; symbols come from it instead of kallsyms when given. */
  systemMap?: string;
  producerVersion?: string;
}

const ELF_MAGIC = 0x7f454c46;

/** The vmlinux ELF inside a bzImage (XZ, zstd, LZ4 or gzip payload), or the input itself when it already is an ELF. */
export function unpackKernel(image: Uint8Array, origin: string): Uint8Array {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length >= 4 && dv.getUint32(0, false) === ELF_MAGIC) return image;
  if (image.length < 0x250 || dv.getUint32(0x202, true) !== 0x53726448 /* "HdrS" */) {
    throw new ParasightError(`${origin}: neither a vmlinux ELF nor a bzImage (no "HdrS" setup header)`, { code: 'FORMAT', source: origin });
  }
  // The setup header says where the compressed payload starts (boot protocol 2.08+); scan when it does not.
  const setupSects = image[0x1f1] || 4;
  const payloadAt = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
  const starts = [payloadAt];
  for (let i = 0; i + 6 <= image.length && starts.length < 8; i++) {
    if (codecAt(image, i) !== undefined || (image[i] === 0x1f && image[i + 1] === 0x8b && image[i + 2] === 0x08)) starts.push(i);
  }
  for (const at of starts) {
    if (at <= 0 || at >= image.length) continue;
    try {
      const codec = codecAt(image, at);
      let out: Uint8Array | undefined;
      if (codec !== undefined) out = decompress(codec, image.subarray(at), 1 << 30);
      else if (image[at] === 0x1f && image[at + 1] === 0x8b) out = gunzipSync(image.subarray(at));
      if (out && out.length >= 4 && new DataView(out.buffer, out.byteOffset).getUint32(0, false) === ELF_MAGIC) return out;
    } catch {
      // Not this one: a match of the magic inside other data. Try the next.
    }
  }
  throw new ParasightError(`${origin}: no XZ, zstd, LZ4 or gzip payload holding an ELF kernel (other compressions are not supported)`, {
    code: 'UNSUPPORTED',
    source: origin,
  });
}

/** Symbols from System.map text ("ffffffff81000000 T _text"); rejects Debian's stub. */
export function parseSystemMap(text: string, origin: string): KernelSymbol[] {
  const out: KernelSymbol[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{8,16})\s+(\S)\s+(\S+)/.exec(line);
    if (m) out.push({ address: BigInt(`0x${m[1]}`), type: m[2]!, name: m[3]! });
  }
  if (out.length === 0) {
    throw new ParasightError(`${origin}: no symbols (a stub System.map? use the kallsyms of the kernel image instead)`, {
      code: 'FORMAT',
      source: origin,
    });
  }
  return out;
}

export function generateLinuxProfile(image: Uint8Array, options: LinuxProfileOptions): IsfDocument {
  const { origin } = options;
  const elf = new Elf64(unpackKernel(image, origin), origin);
  const btfBytes = elf.sectionBytes('.BTF');
  if (!btfBytes) {
    throw new ParasightError(`${origin}: the kernel has no .BTF section (built without CONFIG_DEBUG_INFO_BTF)`, {
      code: 'UNSUPPORTED',
      source: origin,
    });
  }
  const btf = new Btf(btfBytes, origin);
  const syms = options.systemMap !== undefined ? parseSystemMap(options.systemMap, `${origin} System.map`) : readKallsyms(elf);
  const bannerOf = (address: bigint): string => {
    const at = elf.fileOffset(address);
    return at !== undefined ? cString(elf.bytes, at, 512) : '';
  };
  return assembleLinuxProfile(btf, syms, bannerOf, {
    origin,
    symbols: options.systemMap !== undefined ? 'System.map' : 'kallsyms',
    ...(options.producerVersion !== undefined ? { producerVersion: options.producerVersion } : {}),
  });
}

/** The ISF document from a kernel's BTF and symbols; `bannerOf` reads the string at a kernel address. */
export function assembleLinuxProfile(
  btf: Btf,
  syms: KernelSymbol[],
  bannerOf: (address: bigint) => string,
  options: { origin: string; symbols: string; producerVersion?: string },
): IsfDocument {
  const { origin } = options;
  const { userTypes, baseTypes, missing } = btfToIsf(btf, LINUX_PROFILE_TYPES);
  for (const required of ['task_struct', 'files_struct', 'fdtable', 'file', 'socket', 'sock', 'sock_common']) {
    if (missing.includes(required)) {
      throw new ParasightError(`${origin}: BTF has no struct ${required}`, { code: 'FORMAT', source: origin });
    }
  }
  // No prototype: kernel symbol names must not collide with Object.prototype members.
  const symbols = Object.create(null) as Record<string, IsfSymbol>;
  for (const s of syms) {
    // Duplicate local names keep the first: ISF symbols are unique by name, and the walkers use unique globals.
    if (!Object.hasOwn(symbols, s.name)) symbols[s.name] = { address: s.address };
  }
  const banner = symbols.linux_banner ? bannerOf(symbols.linux_banner.address).trimEnd() : '';
  const release = /^Linux version (\S+)/.exec(banner)?.[1] ?? '';
  return {
    metadata: {
      format: '6.2.0',
      producer: { name: 'parasight', version: options.producerVersion ?? '0' },
      linux: { banner, release, source: origin, symbols: options.symbols, types: 'btf' },
    },
    base_types: baseTypes,
    user_types: userTypes,
    enums: {},
    symbols,
  };
}
