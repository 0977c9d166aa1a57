/**
 * Memory sources written as one string (for `--memory` and config files):
 *
 *   PATH                        image file, format detected (raw, ELF core, LiME)
 *   raw:PATH  elf:PATH  lime:PATH   image file, format forced
 *   live:PATH[,low=SIZE]        guest RAM file a running QEMU shares
 *   qemu:PID[,qmp=SOCKET][,ram=SIZE][,low=SIZE][,access=auto|process_vm_readv|proc-mem][,memfd=off]
 *   libvmi:DOMAIN[,mode=kvm|xen|file][,library=PATH]
 *
 * SIZE is bytes, hex (0x…) or with a K/M/G/T suffix. A file whose name starts with one of these prefixes is
 * written with a directory (`./qemu:1`).
 */
import { badArgument } from '../errors.js';
import type { MemorySourceSpec } from './open.js';
import { parseQemuSize } from './qemu-process.js';

const OPTIONS: Record<string, readonly string[]> = {
  live: ['low'],
  qemu: ['qmp', 'ram', 'low', 'access', 'memfd'],
  libvmi: ['mode', 'library'],
};

export function parseMemorySpec(text: string): MemorySourceSpec {
  if (typeof text !== 'string' || text.length === 0) throw badArgument('memory source must be a non-empty string');
  const m = /^(raw|elf|lime|live|qemu|libvmi):(.*)$/s.exec(text);
  if (!m) return { kind: 'file', path: text };
  const prefix = m[1]!;
  const rest = m[2]!;
  if (prefix === 'raw' || prefix === 'elf' || prefix === 'lime') {
    if (rest.length === 0) throw badArgument(`${prefix}: needs a path`);
    return { kind: 'file', path: rest, format: prefix };
  }
  // Options are trailing ",key=value" parts with known keys: a path may contain other commas.
  const allowed = OPTIONS[prefix]!;
  const opts = new Map<string, string>();
  let head = rest;
  for (;;) {
    const o = /,([a-z]+)=([^,]*)$/.exec(head);
    if (!o || !allowed.includes(o[1]!)) break;
    if (opts.has(o[1]!)) throw badArgument(`${prefix}: option ${o[1]} given twice`);
    opts.set(o[1]!, o[2]!);
    head = head.slice(0, o.index);
  }
  const unknown = /,([a-z]+)=/.exec(head);
  if (unknown && prefix !== 'live') {
    throw badArgument(`${prefix}: unknown option ${unknown[1]} (known: ${allowed.join(', ')})`);
  }
  if (head.length === 0) throw badArgument(`${prefix}: needs ${prefix === 'qemu' ? 'a pid' : prefix === 'live' ? 'a path' : 'a domain'}`);
  const size = (key: string): bigint | undefined => {
    const v = opts.get(key);
    if (v === undefined) return undefined;
    const n = /^0x[0-9a-f]+$/i.test(v) ? BigInt(v) : parseQemuSize(v, 1n);
    if (n === undefined) throw badArgument(`${prefix}: ${key}=${v} is not a size (bytes, 0x…, or K/M/G/T suffix)`);
    return n;
  };
  switch (prefix) {
    case 'live': {
      const low = size('low');
      return { kind: 'live-file', path: head, ...(low === undefined ? {} : { lowRamSize: low }) };
    }
    case 'qemu': {
      if (!/^[1-9]\d*$/.test(head)) throw badArgument(`qemu: pid must be a positive integer, got ${JSON.stringify(head)}`);
      const ram = size('ram');
      const low = size('low');
      const access = opts.get('access');
      const memfd = opts.get('memfd');
      if (memfd !== undefined && memfd !== 'on' && memfd !== 'off') throw badArgument(`qemu: memfd must be on or off, got ${memfd}`);
      return {
        kind: 'qemu-process',
        pid: Number(head),
        ...(opts.has('qmp') ? { qmp: opts.get('qmp')! } : {}),
        ...(ram === undefined ? {} : { ramSize: ram }),
        ...(low === undefined ? {} : { lowRamSize: low }),
        ...(access === undefined ? {} : { access: access as 'auto' }), // openMemory validates the value
        ...(memfd === undefined ? {} : { memfd: memfd === 'on' }),
      };
    }
    default: {
      const mode = opts.get('mode');
      return {
        kind: 'libvmi',
        domain: head,
        ...(mode === undefined ? {} : { mode: mode as 'kvm' }), // openMemory validates the value
        ...(opts.has('library') ? { library: opts.get('library')! } : {}),
      };
    }
  }
}
