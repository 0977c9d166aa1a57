/**
 * `openMemory()`: one entry point for every memory source. Each source kind has one opener in this table.
 */
import { addon } from '../native.js';
import { badArgument } from '../errors.js';
import { Memory } from './memory.js';
import type { NativeMemory } from './native-memory.js';

/** A memory image file. `format` defaults to detection from the file's first bytes. */
export interface FileSourceSpec {
  kind: 'file';
  path: string;
  format?: 'auto' | 'raw';
}

export type MemorySourceSpec = FileSourceSpec;

/** Opens a memory source. A string is a path to an image file (format detected). */
export function openMemory(source: string | MemorySourceSpec): Memory {
  const spec: MemorySourceSpec = typeof source === 'string' ? { kind: 'file', path: source } : source;
  const native = addon<NativeMemory>();
  switch (spec.kind) {
    case 'file': {
      if (typeof spec.path !== 'string' || spec.path.length === 0) throw badArgument('path must be a non-empty string');
      return new Memory(native.memory_open_raw(spec.path));
    }
    default:
      throw badArgument(`unknown memory source kind ${JSON.stringify((spec as { kind?: unknown }).kind)}`);
  }
}
