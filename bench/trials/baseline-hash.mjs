// Content hashing of every file a ~100-mapping process maps (what a check without a warm cache does) beside read()
// alone of the same files: into a reused 1 MiB buffer in JS, and in C for the largest file.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { consume, emit, interleaved, measure, parasight, reference } from '../lib/harness.mjs';
import { baselineTarget } from '../lib/baseline-target.mjs';

const trial = 'baseline-hash';
await parasight();
const { loadDigest, HashCache } = await import(join(process.cwd(), 'dist', 'baseline', 'digest.js'));
const { parseMaps } = await parasight();
const target = await baselineTarget(100);
try {
  const files = [...new Set(parseMaps(readFileSync(`/proc/${target.pid}/maps`, 'utf8')).entries.filter((e) => e.kind === 'file').map((e) => e.path))];
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const largest = files.reduce((a, f) => (statSync(f).size > statSync(a).size ? f : a));
  const largestBytes = statSync(largest).size;
  const digest = await loadDigest();
  const buf = Buffer.allocUnsafe(1 << 20);
  const readAll = () => {
    let n = 0;
    for (const f of files) {
      const fd = openSync(f, 'r');
      let got;
      while ((got = readSync(fd, buf, 0, buf.length, null)) > 0) n += got;
      closeSync(fd);
    }
    return n;
  };
  const note = `${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const refName = 'JS read() alone of every mapped file (reference)';
  const cache = new HashCache(digest);
  for (const f of files) cache.file(f);
  const crefName = `C read() of the largest file (${largest.split('/').pop()})`;
  const rows = await interleaved([
    async () => ({ ...(await measure(trial, refName, () => consume(readAll()), { bytes, items: files.length, note })), reference: true }),
    () => measure(trial, 'xxh3 of every mapped file (baseline digest)', () => { for (const f of files) consume(digest.file(f).size); }, { bytes, items: files.length, vs: refName, note }),
    () => measure(trial, 'same through the identity cache (unchanged files)', () => { for (const f of files) consume(cache.file(f).size); }, { bytes, items: files.length, vs: refName, note }),
    () => reference(trial, crefName, ['read', largest], { bytes: largestBytes }),
    () => measure(trial, 'xxh3 of the largest file (baseline digest)', () => consume(digest.file(largest).size), { bytes: largestBytes, vs: crefName }),
  ]);
  emit(rows);
} finally {
  target.stop();
}
