export interface LabKernel {
  /** Short name used to pick it: '6.1' (the default), '6.12'. */
  name: string;
  /** The Debian meta-package whose dependency names the kernel package. */
  meta: string;
}
export interface LabInputs {
  /** The lab kernel's short name (see KERNELS). */
  kernel: string;
  version: string;
  vmlinuz: string;
  initrd: string;
  bins: Record<string, string>;
  kernelDir: string;
}
export declare const cacheDir: string;
/** Kernels the lab boots; the first is the default. */
export declare const KERNELS: readonly LabKernel[];
export declare function labKernel(name?: string): LabKernel;
/** KERNELS, or those named in PARASIGHT_LAB_KERNELS (comma-separated): the kernels lab suites run on. */
export declare function testedKernels(): readonly LabKernel[];
export declare function prepareLab(options?: { download?: boolean; kernel?: string }): LabInputs;
/** The host side of the lab bridge (IPv6) and its peer's port. */
export declare const HOST_V6: string;
export declare const PEER_PORT: number;
