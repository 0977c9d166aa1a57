// Translation cost per address: batched translateMany with TLB hits and with misses (full 4-level walks), and one
// translate() call, beside C references over the same tables (a bare direct-mapped lookup, a bare 4-level walk).
import { emit, interleaved, measure, parasight, quick, reference, consume } from '../lib/harness.mjs';
import { guestImage, randomIndices } from '../lib/guest-image.mjs';

const trial = 'translate';
const { openMemory } = await parasight();
const PAGES = quick ? 16384 : 65536; // 256 MiB of mapped guest memory
const BATCH = 4096;
const img = guestImage(PAGES);
const mem = openMemory(img.path);

function addresses(pageCount, seed) {
  const idx = randomIndices(BATCH * 2, pageCount, seed);
  const vas = new BigUint64Array(BATCH);
  for (let i = 0; i < BATCH; i++) vas[i] = img.vaBase + BigInt(idx[2 * i]) * 4096n + BigInt(idx[2 * i + 1] & 0xfff);
  return vas;
}

// Hits: 1024 distinct pages, all resident in a 4096-entry TLB after the warm-up.
const hitVas = addresses(1024, 7);
const missVas = addresses(PAGES, 11);
const out = new BigUint64Array(BATCH);
const tlbSpace = mem.addressSpace({ dtb: img.dtb, mode: 'ia32e' });
const noTlbSpace = mem.addressSpace({ dtb: img.dtb, mode: 'ia32e', tlbEntries: 0 });
tlbSpace.translateMany(hitVas, { out });
if (out.some((pa) => pa === 0xffff_ffff_ffff_ffffn)) throw new Error('fixture: some hit addresses do not translate');

const cases = [];
cases.push(() => reference(trial, 'C direct-mapped lookup (TLB-hit floor)', ['tlb', 1024, BATCH, 7], { items: BATCH }));
cases.push(() => reference(trial, 'C 4-level walk, no TLB', ['walk', img.path, img.dtb, img.vaBase, PAGES, BATCH, 11], { items: BATCH }));
cases.push(() => measure(trial, 'translateMany, TLB hit', () => tlbSpace.translateMany(hitVas, { out }), {
    items: BATCH,
    vs: 'C direct-mapped lookup (TLB-hit floor)',
  }),
);
cases.push(() => measure(trial, 'translateMany, no TLB (walk every address)', () => noTlbSpace.translateMany(missVas, { out }), {
    items: BATCH,
    vs: 'C 4-level walk, no TLB',
  }),
);
cases.push(() => measure(trial, 'translateMany, 4096-entry TLB, random over 64 Ki pages (mostly misses)', () => tlbSpace.translateMany(missVas, { out }), {
    items: BATCH,
    vs: 'C 4-level walk, no TLB',
  }),
);
let k = 0;
cases.push(() => measure(trial, 'translate() one address per call, TLB hit', () => consume(tlbSpace.translate(hitVas[k++ & (BATCH - 1)]).pa), {
    items: 1,
    vs: 'C direct-mapped lookup (TLB-hit floor)',
  }),
);
const rows = await interleaved(cases);
emit(rows);
tlbSpace.close();
noTlbSpace.close();
mem.close();
