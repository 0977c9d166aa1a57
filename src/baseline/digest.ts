/**
 * The one place the baseline detector gets its hashes from. Hash strings carry their algorithm ("xxh3:…"), so a
 * baseline recorded with another algorithm is never compared bit-for-bit with this one (it is reported as
 * unverified instead).
 *
 * Fast hashes are the project's native XXH3-64: files are read into a reused buffer in C++, strings (the feature
 * value) go through the same native hash as bytes. SHA-256 (evidence for analysts) comes from node:crypto.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { hashBytes, hashFileSync } from '../hash/hash.js';

export interface FileDigest {
  hash: string;
  size: number;
}

export interface Digest {
  /** Algorithm name used as the hash string prefix. */
  readonly algo: string;
  /** Hash of a string (UTF-8), "algo:hex". */
  text(s: string): string;
  /** Hash of a regular file's content; undefined when it cannot be read or is not a regular file. */
  file(path: string): FileDigest | undefined;
}

const CHUNK = 1 << 20;
const ALGO = 'xxh3';

function hex64(v: bigint | string): string {
  return typeof v === 'string' ? v : v.toString(16).padStart(16, '0');
}

const xxh3: Digest = {
  algo: ALGO,
  text: (s) => `${ALGO}:${hex64(hashBytes(Buffer.from(s, 'utf8'), { algorithm: 'xxh3-64' }))}`,
  file(path) {
    try {
      // Mapped device files (GPU nodes, /dev/zero) would be read without end: hash regular files only.
      if (!statSync(path).isFile()) return undefined;
      const r = hashFileSync(path, { algorithm: 'xxh3-64' });
      return { hash: `${ALGO}:${hex64(r.hash)}`, size: r.bytes };
    } catch {
      return undefined;
    }
  },
};

/** The digest used by the baseline detector. */
export function loadDigest(): Promise<Digest> {
  return Promise.resolve(xxh3);
}

/**
 * File hashes remembered across checks, keyed by the file's identity: device, inode, size, mtime and ctime (all in
 * ns). Rewriting a file changes mtime and ctime; resetting mtime with utimes() still moves ctime, which no
 * unprivileged writer can set. Bounded: the oldest entries go first.
 */
export class HashCache {
  private readonly map = new Map<string, FileDigest>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly digest: Digest,
    private readonly max = 4096,
  ) {}

  file(path: string): FileDigest | undefined {
    let key: string;
    try {
      const st = statSync(path, { bigint: true });
      if (!st.isFile()) return undefined;
      key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return undefined;
    }
    const hit = this.map.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const d = this.digest.file(path);
    if (d) {
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
      this.map.set(key, d);
    }
    return d;
  }
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
