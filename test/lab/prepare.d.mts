export interface LabInputs {
  version: string;
  vmlinuz: string;
  initrd: string;
  bins: Record<string, string>;
  kernelDir: string;
}
export declare const cacheDir: string;
export declare function prepareLab(options?: { download?: boolean }): LabInputs;
