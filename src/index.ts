/**
 * parasight public API. Everything an embedder imports comes from here; the CLI is a thin layer over it.
 */
export { ParasightError, type ErrorCode, type ErrorDetails } from './errors.js';
export { Memory, type PhysicalRange } from './memory/memory.js';
export { openMemory, type MemorySourceSpec, type FileSourceSpec } from './memory/open.js';
