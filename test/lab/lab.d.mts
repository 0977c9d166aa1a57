// Types for lab.mjs (plain JS so that `npm run lab` runs it without a build step).
export declare const HOST_V4: string;
export declare const HOST_V6: string;
export declare const GUEST_V4: string;
export declare const GUEST_V6: string;
export declare const PEER_PORT: number;

export interface TruthProcess {
  pid: number;
  ppid: number;
  comm: string;
}
export interface TruthSocket {
  pid: number;
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  local: string;
  lport: number;
  remote: string;
  rport: number;
  /** Kernel socket state number (TCP_ESTABLISHED = 1, TCP_LISTEN = 10, UDP bound = 7). */
  state: number;
  inode: number;
}
export interface Truth {
  processes: TruthProcess[];
  sockets: TruthSocket[];
}
export interface StartOptions {
  memory?: 'shm' | 'anon';
  kaslr?: boolean;
  /** Guest RAM (default 256 MiB; at most 2048: file offset = guest-physical only below the PCI hole). */
  ramMiB?: number;
  bootTimeoutMs?: number;
  /** Which lab kernel to boot (a KERNELS name from prepare.mjs: '6.1', the default, or '6.12'). */
  kernel?: string;
  download?: boolean;
}
export interface Spawned {
  pid: number;
  output: string;
  localPort: number | undefined;
  /** The guest file collecting the program's output. */
  outputPath: string;
}
export interface Lab {
  readonly id: string;
  readonly memory: 'shm' | 'anon';
  readonly kaslr: boolean;
  /** The lab kernel's short name ('6.1', '6.12'). */
  readonly kernel: string;
  readonly kernelVersion: string;
  readonly vmlinuz: string;
  readonly initrd: string;
  /** Guest RAM file (memory 'shm'), else undefined. */
  readonly ramPath: string | undefined;
  readonly ramBytes: number;
  readonly qmpPath: string;
  readonly consolePath: string;
  readonly netns: string;
  readonly accel: 'kvm' | 'tcg';
  readonly hostV4: string;
  readonly hostV6: string;
  readonly guestV4: string;
  readonly guestV6: string;
  readonly peerPort: number;
  /** QEMU's process id. */
  readonly pid: number | undefined;
  run(command: string, timeoutMs?: number): Promise<string>;
  truth(): Promise<Truth>;
  spawn(argv: string[], options?: { as?: string; waitOutput?: boolean }): Promise<Spawned>;
  kill(pid: number): Promise<void>;
  console(): string;
  stop(): Promise<void>;
}
/** Why the lab cannot run here (for that lab kernel, default the first), or undefined when it can. */
export declare function labUnavailable(kernel?: string): string | undefined;
export declare function startLab(options?: StartOptions): Promise<Lab>;
