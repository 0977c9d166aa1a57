/**
 * What the Linux walkers need from a profile: field offsets (from BTF) and unslid symbols (from kallsyms), with
 * one error listing everything a profile lacks.
 */
import { ParasightError } from '../../errors.js';
import type { Profile } from '../../profiles/isf.js';

export interface NativeLinuxLayout {
  tasks: number; pid: number; tgid: number; realParent: number; comm: number; startTime: number; mm: number;
  files: number; mmPgd: number; filesFdt: number;
  /** files_struct.open_fds_init / fd_array; absent in a profile → every fd table is re-read through fdt. */
  filesOpenFdsInit?: number; filesFdArray?: number;
  fdtMaxFds: number; fdtFd: number; fileOp: number;
  filePrivate: number; fileInode: number; inodeMode: number; socketSk: number; skDaddr: number; skRcvSaddr: number;
  skDport: number; skNum: number; skFamily: number; skState: number; skV6Daddr: number; skV6RcvSaddr: number;
  skProtocol: number; skProtocolSize: number; skType: number;
  /** Slid; 0 → sockets recognised by inode mode. */
  socketFileOps: bigint;
  pageOffsetBase: bigint;
}

export interface LinuxSymbols {
  text: bigint;
  linuxBanner: bigint;
  initTopPgt: bigint;
  initTask: bigint;
  pageOffsetBase: bigint | undefined;
  socketFileOps: bigint | undefined;
}

export function linuxSymbols(profile: Profile): LinuxSymbols {
  const need = ['_text', 'linux_banner', 'init_top_pgt', 'init_task'];
  const missing = need.filter((n) => profile.symbol(n) === undefined);
  if (missing.length > 0) {
    throw new ParasightError(`profile ${profile.name} lacks symbols ${missing.join(', ')}`, { code: 'NOT_FOUND', source: profile.name });
  }
  return {
    text: profile.requireSymbol('_text'),
    linuxBanner: profile.requireSymbol('linux_banner'),
    initTopPgt: profile.requireSymbol('init_top_pgt'),
    initTask: profile.requireSymbol('init_task'),
    pageOffsetBase: profile.symbol('page_offset_base'),
    socketFileOps: profile.symbol('socket_file_ops'),
  };
}

/** Offsets for the native walker; `slide` moves socket_file_ops to where the running kernel has it. */
export function linuxLayout(profile: Profile, slide: bigint, pageOffsetBase: bigint): NativeLinuxLayout {
  const sk = profile.offset('sock', '__sk_common');
  const o = profile.offsets({
    tasks: 'task_struct.tasks',
    pid: 'task_struct.pid',
    tgid: 'task_struct.tgid',
    realParent: 'task_struct.real_parent',
    comm: 'task_struct.comm',
    startTime: 'task_struct.start_time',
    mm: 'task_struct.mm',
    files: 'task_struct.files',
    mmPgd: 'mm_struct.pgd',
    filesFdt: 'files_struct.fdt',
    fdtMaxFds: 'fdtable.max_fds',
    fdtFd: 'fdtable.fd',
    fileOp: 'file.f_op',
    filePrivate: 'file.private_data',
    fileInode: 'file.f_inode',
    inodeMode: 'inode.i_mode',
    socketSk: 'socket.sk',
    skDaddr: 'sock_common.skc_daddr',
    skRcvSaddr: 'sock_common.skc_rcv_saddr',
    skDport: 'sock_common.skc_dport',
    skNum: 'sock_common.skc_num',
    skFamily: 'sock_common.skc_family',
    skState: 'sock_common.skc_state',
    skV6Daddr: 'sock_common.skc_v6_daddr',
    skV6RcvSaddr: 'sock_common.skc_v6_rcv_saddr',
    skProtocol: 'sock.sk_protocol',
    skType: 'sock.sk_type',
  });
  const protoField = profile.doc.user_types.sock?.fields.sk_protocol;
  if (protoField?.type.kind === 'bitfield') {
    throw new ParasightError(`profile ${profile.name}: sock.sk_protocol is a bitfield (kernel before 5.6); not supported`, {
      code: 'UNSUPPORTED',
      source: profile.name,
    });
  }
  const protoType = protoField?.type.name ? profile.doc.base_types[protoField.type.name] : undefined;
  const sfo = profile.symbol('socket_file_ops');
  const embedded = profile.hasField('files_struct', 'open_fds_init') && profile.hasField('files_struct', 'fd_array');
  return {
    ...o,
    ...(embedded && {
      filesOpenFdsInit: profile.offset('files_struct', 'open_fds_init'),
      filesFdArray: profile.offset('files_struct', 'fd_array'),
    }),
    skDaddr: sk + o.skDaddr,
    skRcvSaddr: sk + o.skRcvSaddr,
    skDport: sk + o.skDport,
    skNum: sk + o.skNum,
    skFamily: sk + o.skFamily,
    skState: sk + o.skState,
    skV6Daddr: sk + o.skV6Daddr,
    skV6RcvSaddr: sk + o.skV6RcvSaddr,
    skProtocolSize: protoType?.size ?? 2,
    socketFileOps: sfo === undefined ? 0n : sfo + slide,
    pageOffsetBase,
  };
}
