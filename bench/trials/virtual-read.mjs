// Virtual reads: a sequential 16 MiB read through 4 KiB page tables vs memcpy of the same bytes (frames laid out
// contiguously, and shuffled like a real process's frames: then the reference copies the same pages in the same
// order), and random 4 KiB page reads vs the same random page copies in C.
import { emit, interleaved, measure, parasight, quick, reference, consume } from '../lib/harness.mjs';
import { guestImage, randomIndices } from '../lib/guest-image.mjs';

const trial = 'virtual-read';
const { openMemory } = await parasight();
const PAGES = quick ? 16384 : 65536;
const SEQ = 16 << 20;
const RANDOM = 1024;
const img = guestImage(PAGES);
const mem = openMemory(img.path);
const space = mem.addressSpace({ dtb: img.dtb, mode: 'ia32e' });
const shuffled = guestImage(SEQ / 4096, { shuffle: true });
const memShuffled = openMemory(shuffled.path);
const spaceShuffled = memShuffled.addressSpace({ dtb: shuffled.dtb, mode: 'ia32e' });
const dst = new Uint8Array(SEQ);
const pages = randomIndices(RANDOM, PAGES, 5);
const vas = Array.from(pages, (p) => img.vaBase + BigInt(p) * 4096n);
const page = new Uint8Array(4096);

const seqRef = 'C memcpy 16 MiB (same bytes)';
const scatterRef = 'C memcpy of the same 4096 scattered pages';
const randomRef = 'C random 4 KiB page copies';
const rows = await interleaved([
  () => reference(trial, seqRef, ['memcpy', img.path, img.dataOffset, SEQ], { bytes: SEQ }),
  () => measure(trial, 'readInto 16 MiB sequential (4 KiB pages)', () => space.readInto(img.vaBase, dst), { bytes: SEQ, vs: seqRef }),
  () => reference(trial, scatterRef, ['pagelist', shuffled.path, shuffled.pageList, SEQ / 4096], { bytes: SEQ }),
  () =>
    measure(trial, 'readInto 16 MiB sequential, scattered frames', () => spaceShuffled.readInto(shuffled.vaBase, dst), {
      bytes: SEQ,
      vs: scatterRef,
    }),
  () => reference(trial, randomRef, ['randpage', img.path, PAGES, RANDOM, 5], { items: RANDOM, bytes: RANDOM * 4096 }),
  () =>
    measure(
      trial,
      'readInto random 4 KiB pages, one call each',
      () => {
        for (let i = 0; i < RANDOM; i++) space.readInto(vas[i], page);
      },
      { items: RANDOM, bytes: RANDOM * 4096, vs: randomRef },
    ),
  () =>
    measure(
      trial,
      'read() random 4 KiB pages, one call each (zero-copy views)',
      () => {
        for (let i = 0; i < RANDOM; i++) consume(space.read(vas[i], 4096)[7]);
      },
      { items: RANDOM, bytes: RANDOM * 4096, vs: randomRef },
    ),
]);
emit(rows);
spaceShuffled.close();
memShuffled.close();
space.close();
mem.close();
