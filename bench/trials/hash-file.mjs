// File hashing (read() into a reused buffer, off the main thread) vs read() alone of the same file in C.
import { emit, interleaved, measure, parasight, quick, reference } from '../lib/harness.mjs';
import { dataFile } from '../lib/guest-image.mjs';

const trial = 'hash-file';
const { hashFile, hashFileSync } = await parasight();
const SIZE = quick ? 64 << 20 : 256 << 20;
const path = dataFile(SIZE);

const cases = [];
cases.push(() => reference(trial, 'C read() alone, 1 MiB buffer', ['read', path], { bytes: SIZE }));
for (const algorithm of ['xxh3-64', 'xxh3-128', 'xxh64']) {
  cases.push(() => measure(trial, `hashFile ${algorithm} (async)`, () => hashFile(path, { algorithm }), { bytes: SIZE, defer: true, minSamples: quick ? 3 : 15 }),
  );
}
cases.push(() => measure(trial, 'hashFileSync xxh3-64', () => hashFileSync(path), { bytes: SIZE, minSamples: quick ? 3 : 15 }));
const rows = await interleaved(cases);
emit(rows);
