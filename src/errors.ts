/**
 * The one error class parasight throws. The native addon receives this class at load time and throws it too, so
 * callers catch the same type with the same stable `code` whether a failure came from TypeScript or C++.
 */
export type ErrorCode =
  | 'HOLE'
  | 'OUT_OF_RANGE'
  | 'IO'
  | 'SOURCE_GONE'
  | 'FORMAT'
  | 'PAGE_NOT_PRESENT'
  | 'PAGE_TRANSITION'
  | 'BAD_ARGUMENT'
  | 'UNSUPPORTED'
  | 'PERMISSION'
  | 'NOT_FOUND'
  | 'CLOSED'
  | 'CANCELLED'
  | 'LIMIT'
  | 'NATIVE_LOAD';

export interface ErrorDetails {
  code: ErrorCode;
  /** Where the bytes came from: an image path, "pid 1234", a VM name. */
  source?: string;
  /** Physical or virtual address the failure is about. */
  address?: bigint;
  /** Paging level that stopped a translation (5..1: PML5/PML4, PDPT, PD, PT). */
  level?: number;
  /** Raw paging entry that stopped the translation. */
  entry?: bigint;
  /** Physical address the failing entry was read from. */
  entryAddress?: bigint;
  /** For file formats: offset in the file the problem was found at. */
  offset?: number;
  cause?: unknown;
}

export class ParasightError extends Error {
  readonly code: ErrorCode;
  readonly source: string | undefined;
  readonly address: bigint | undefined;
  readonly level: number | undefined;
  readonly entry: bigint | undefined;
  readonly entryAddress: bigint | undefined;
  readonly offset: number | undefined;

  constructor(message: string, details: ErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ParasightError';
    this.code = details.code;
    this.source = details.source;
    this.address = details.address;
    this.level = details.level;
    this.entry = details.entry;
    this.entryAddress = details.entryAddress;
    this.offset = details.offset;
  }
}

export function badArgument(message: string): ParasightError {
  return new ParasightError(message, { code: 'BAD_ARGUMENT' });
}
