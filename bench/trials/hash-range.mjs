// Guest range hashing from the mapped image (physical and virtual) vs a plain sequential read (sum of u64) of the
// same bytes in C.
import { emit, interleaved, measure, parasight, quick, reference } from '../lib/harness.mjs';
import { guestImage } from '../lib/guest-image.mjs';

const trial = 'hash-range';
const { openMemory, hashRange, hashRangeSync } = await parasight();
const PAGES = quick ? 16384 : 65536;
const img = guestImage(PAGES);
const LEN = PAGES * 4096;
const mem = openMemory(img.path);
const space = mem.addressSpace({ dtb: img.dtb, mode: 'ia32e' });

const cases = [];
cases.push(() => reference(trial, 'C sequential read (sum of u64)', ['sum', img.path, img.dataOffset, LEN], { bytes: LEN }));
cases.push(() => reference(trial, 'C memcpy', ['memcpy', img.path, img.dataOffset, LEN], { bytes: LEN }));
const opts = { minSamples: quick ? 3 : 15 };
cases.push(() => measure(trial, 'hashRangeSync physical xxh3-64', () => hashRangeSync(mem, img.dataOffset, LEN), { bytes: LEN, ...opts }));
cases.push(() => measure(trial, 'hashRange physical xxh3-64 (async)', () => hashRange(mem, img.dataOffset, LEN), { bytes: LEN, defer: true, ...opts }));
cases.push(() => measure(trial, 'hashRangeSync virtual xxh3-64 (4 KiB pages)', () => hashRangeSync(space, img.vaBase, LEN), { bytes: LEN, ...opts }));
cases.push(() => measure(trial, 'hashRangeSync physical xxh3-128', () => hashRangeSync(mem, img.dataOffset, LEN, { algorithm: 'xxh3-128' }), { bytes: LEN, ...opts }),
);
const rows = await interleaved(cases);
emit(rows);
space.close();
mem.close();
