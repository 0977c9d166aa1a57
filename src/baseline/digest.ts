/**
 * The one place the baseline detector gets its hashes from. Hash strings carry their algorithm ("xxh3:…",
 * "xxh64:…"), so a baseline recorded with one algorithm is never compared bit-for-bit with another.
 *
 * Fast hashes come from the project's hashing module once it provides XXH3 (native file hashing and an XXH3 for
 * in-JS input); until then this uses XXH64 from xxhash-wasm. SHA-256 (evidence for analysts) comes from node:crypto.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import xxhash from 'xxhash-wasm';

export interface FileDigest {
  hash: string;
  size: number;
}

export interface Digest {
  /** Algorithm name used as the hash string prefix. */
  readonly algo: string;
  /** Hash of a string (UTF-8), "algo:hex". */
  text(s: string): string;
  /** Hash of a file's content; undefined when it cannot be read. */
  file(path: string): FileDigest | undefined;
}

const CHUNK = 1 << 20;
let shared: Promise<Digest> | undefined;

function hex64(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

async function makeDigest(): Promise<Digest> {
  const api = await xxhash();
  // One reused read buffer: hashing many files must not allocate per file (see facts: read() into a reused buffer).
  const buf = Buffer.allocUnsafe(CHUNK);
  return {
    algo: 'xxh64',
    text: (s) => `xxh64:${hex64(api.h64(s))}`,
    file(path) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch {
        return undefined;
      }
      try {
        if (!fstatSync(fd).isFile()) return undefined;
        const h = api.create64();
        let size = 0;
        for (;;) {
          const n = readSync(fd, buf, 0, CHUNK, null);
          if (n <= 0) break;
          h.update(n === CHUNK ? buf : buf.subarray(0, n));
          size += n;
        }
        return { hash: `xxh64:${hex64(h.digest())}`, size };
      } catch {
        return undefined;
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** The digest used by the baseline detector (created once). */
export function loadDigest(): Promise<Digest> {
  shared ??= makeDigest();
  return shared;
}

/** SHA-256 of a file as hex (evidence for suspicious files); undefined when it cannot be read. */
export function sha256File(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
    return h.digest('hex');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
