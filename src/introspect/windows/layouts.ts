/**
 * Profile → the flat offset records the native walkers take. Field names are Volatility's, so a real Volatility 3
 * ISF file works; what such files lack (the KDBG layout lives in a separate Volatility symbol table) comes from the
 * built-in profile of the same family.
 */
import type { Profile } from '../../profiles/isf.js';
import type { TcpipBuild } from '../../profiles/windows.js';
import type { NativeDiscoveryCandidate, NativeKdbgLayout, NativeModuleLayout, NativeProcessLayout, NativeTcpipLayout, NativeVadLayout } from './native.js';

/** Every KDBG Header.Size an x86 XP/2003 kernel uses (0x290 XP, 0x318 Server 2003). */
export const KDBG_SIZES = [0x290, 0x318];

export function processLayout(p: Profile): NativeProcessLayout {
  const o = p.offsets({
    size: 'sizeof:_EPROCESS',
    kprocess: 'sizeof:_KPROCESS',
    dtb: '_EPROCESS.Pcb.DirectoryTableBase',
    createTime: '_EPROCESS.CreateTime',
    exitTime: '_EPROCESS.ExitTime',
    pid: '_EPROCESS.UniqueProcessId',
    links: '_EPROCESS.ActiveProcessLinks',
    objectTable: '_EPROCESS.ObjectTable',
    ppid: '_EPROCESS.InheritedFromUniqueProcessId',
    name: '_EPROCESS.ImageFileName',
    activeThreads: '_EPROCESS.ActiveThreads',
    peb: '_EPROCESS.Peb',
    pebLdr: '_PEB.Ldr',
    ldrInLoadOrder: '_PEB_LDR_DATA.InLoadOrderModuleList',
    entryFullDllName: '_LDR_DATA_TABLE_ENTRY.FullDllName',
  });
  const { kprocess, ...rest } = o;
  return { ...rest, signature: dispatcherSignature(kprocess) };
}

/** First dword of a process object: Type 3 (ProcessObject), Absolute 0, Size in dwords, Inserted 0. */
export function dispatcherSignature(kprocessSize: number): number {
  return (0x03 | ((kprocessSize / 4) << 16)) >>> 0;
}

export function discoveryCandidate(name: string, p: Profile): NativeDiscoveryCandidate {
  const l = processLayout(p);
  return { profile: name, signature: l.signature, dtb: l.dtb, pid: l.pid, name: l.name, peb: l.peb, links: l.links };
}

export function moduleLayout(p: Profile): NativeModuleLayout {
  return p.offsets({
    size: 'sizeof:_LDR_DATA_TABLE_ENTRY',
    links: '_LDR_DATA_TABLE_ENTRY.InLoadOrderLinks',
    dllBase: '_LDR_DATA_TABLE_ENTRY.DllBase',
    sizeOfImage: '_LDR_DATA_TABLE_ENTRY.SizeOfImage',
    fullDllName: '_LDR_DATA_TABLE_ENTRY.FullDllName',
    baseDllName: '_LDR_DATA_TABLE_ENTRY.BaseDllName',
  });
}

export function kdbgLayout(p: Profile, fallback: Profile): NativeKdbgLayout {
  const src = p.hasType('_KDDEBUGGER_DATA64') ? p : fallback;
  return {
    ...src.offsets({
      ownerTag: '_KDDEBUGGER_DATA64.Header.OwnerTag',
      size: '_KDDEBUGGER_DATA64.Header.Size',
      kernBase: '_KDDEBUGGER_DATA64.KernBase',
      psLoadedModuleList: '_KDDEBUGGER_DATA64.PsLoadedModuleList',
      psActiveProcessHead: '_KDDEBUGGER_DATA64.PsActiveProcessHead',
      ntBuildLab: '_KDDEBUGGER_DATA64.NtBuildLab',
      cmNtCSDVersion: '_KDDEBUGGER_DATA64.CmNtCSDVersion',
    }),
    sizes: KDBG_SIZES,
  };
}

export function tcpipLayout(b: TcpipBuild): NativeTcpipLayout {
  const t = b.types._TCPT_OBJECT;
  const a = b.types._ADDRESS_OBJECT;
  const f = (s: typeof t, name: string): number => {
    const v = s.fields[name];
    if (typeof v !== 'number') throw new Error(`tcpip data file ${b.file} lacks ${name}`);
    return v;
  };
  return {
    tcbSize: Math.max(t.size, f(t, 'Pid') + 4),
    tcbNext: f(t, 'Next'),
    tcbRemoteIp: f(t, 'RemoteIpAddress'),
    tcbLocalIp: f(t, 'LocalIpAddress'),
    tcbRemotePort: f(t, 'RemotePort'),
    tcbLocalPort: f(t, 'LocalPort'),
    tcbPid: f(t, 'Pid'),
    aoSize: Math.max(a.size, f(a, 'CreateTime') + 8),
    aoNext: f(a, 'Next'),
    aoLocalIp: f(a, 'LocalIpAddress'),
    aoLocalPort: f(a, 'LocalPort'),
    aoProtocol: f(a, 'Protocol'),
    aoPid: f(a, 'Pid'),
    aoCreateTime: f(a, 'CreateTime'),
  };
}

/** VAD tree layout: XP's VadRoot is a pointer to the root _MMVAD, 2003's an embedded _MM_AVL_TABLE. */
export function vadLayout(p: Profile): NativeVadLayout {
  const root = p.doc.user_types._EPROCESS?.fields.VadRoot;
  const avlTable = root?.type.kind === 'struct';
  const o = p.offsets({
    vadRoot: '_EPROCESS.VadRoot',
    left: '_MMVAD.LeftChild',
    right: '_MMVAD.RightChild',
    startVpn: '_MMVAD.StartingVpn',
    endVpn: '_MMVAD.EndingVpn',
    flags: '_MMVAD.u',
    controlArea: '_MMVAD.ControlArea',
    caFilePointer: '_CONTROL_AREA.FilePointer',
    foFileName: '_FILE_OBJECT.FileName',
  });
  return { ...o, avlTable, balancedRoot: avlTable ? p.offset('_MM_AVL_TABLE', 'BalancedRoot') : 0 };
}

/** MM protection index (low 3 bits) → "rwx" (write-copy reads as writable). */
export const PROTECTION_PERMS = ['---', 'r--', '--x', 'r-x', 'rw-', 'rw-', 'rwx', 'rwx'];
