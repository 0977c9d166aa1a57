// Windows in-depth walkers on a generated XP SP3 PAE image (cridex-shaped, with a hidden process and a process
// holding ~200 VADs), each beside a reference measured in the same run:
//   - psscan (the 'Proc' pool-tag scan over all physical memory + matching the active list) beside read() of the
//     whole image through a reused 256 KiB buffer (the scan's chunk size): the goal is <= 2x
//   - memoryMap(pid) of the ~200-VAD process beside 200 virtual reads of 0x34 bytes (one _MMVAD_LONG each) spread
//     over the mapped pool pages, through a kernel address space of the same paging code
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { emit, interleaved, measure, parasight, quick, scratchDir, consume } from '../lib/harness.mjs';
import { windowsFixture } from '../lib/windows-fixture.mjs';

const trial = 'windows-depth';
const MIB = quick ? 64 : 256;
const VADS = 200;
const ps = await parasight();
const { buildImage, cridex } = await windowsFixture();

const workDir = mkdtempSync(join(scratchDir, 'parasight-bench-windepth-'));
try {
  const image = join(workDir, 'xp-sp3-pae.raw');
  const base = cridex();
  const manyVads = Array.from({ length: VADS - 6 }, (_, i) =>
    i % 4 === 0
      ? { start: 0x20000000 + i * 0x100000, size: 0x20000, protection: 7, file: `\\WINDOWS\\system32\\lib${i}.dll` }
      : { start: 0x20000000 + i * 0x100000, size: 0x10000, protection: 4 },
  );
  const truth = buildImage(
    cridex({
      memoryMiB: MIB,
      noise: 1,
      processes: [
        ...base.processes.map((p) => (p.pid === 1484 ? { ...p, extraVads: [...(p.extraVads ?? []), ...manyVads] } : p)),
        { name: 'svch0st.exe', pid: 1996, ppid: 1484, created: '2012-07-22T02:44:50Z', hidden: true },
      ],
    }),
    image,
  );
  const bytes = MIB << 20;
  const mem = ps.openMemory(image);
  const w = ps.WindowsIntrospector.open(mem);
  const first = w.psscan();
  if (first.items.length !== truth.processes.length + 1 || !first.items.some((p) => p.hidden)) throw new Error('psscan: wrong result');
  const vadCount = w.memoryMap(1484).items.length;
  if (vadCount !== truth.vads.get(1484).length) throw new Error(`memoryMap: ${vadCount} VADs, expected ${truth.vads.get(1484).length}`);
  const kernel = mem.addressSpace({ mode: 'pae', dtb: truth.dtb });
  // Mapped pool pages (the fixture maps pool page by page), spread over the pool, one read per VAD.
  const mapped = [];
  for (let va = 0x81000000n; va < 0x83000000n; va += 0x1000n) {
    try {
      kernel.translate(va);
      mapped.push(va);
    } catch {
      // unmapped pool page
    }
  }
  if (mapped.length === 0) throw new Error('no mapped pool page');
  // As VAD nodes are: packed several to a pool page, the pages spread over the pool.
  const poolVas = Array.from({ length: vadCount }, (_, i) => mapped[i % mapped.length] + BigInt((Math.floor(i / mapped.length) * 0x38) % 0xfc8));

  const buf = Buffer.alloc(256 << 10);
  const readRef = 'read() whole image, 256 KiB reused buffer';
  const vaRef = `${vadCount} virtual reads of 0x34 bytes (kernel space)`;
  const rows = await interleaved([
    () =>
      measure(trial, readRef, () => {
        const fd = openSync(image, 'r');
        let sum = 0;
        for (let off = 0; off < bytes; off += buf.length) sum += readSync(fd, buf, 0, buf.length, off);
        closeSync(fd);
        if (sum !== bytes) throw new Error('short read');
      }, { bytes, minSamples: 5, maxTime: 0.5 }).then((r) => ({ ...r, reference: true })),
    () => measure(trial, `psscan over ${MIB} MiB (Proc pool tags + list match)`, () => consume(w.psscan().items.length), { bytes, vs: readRef, minSamples: 5, maxTime: 0.5 }),
    () =>
      measure(trial, vaRef, () => {
        for (const va of poolVas) consume(kernel.read(va, 0x34)[0]);
      }, { items: vadCount }).then((r) => ({ ...r, reference: true })),
    () => measure(trial, `memoryMap(pid) with ${vadCount} VADs`, () => consume(w.memoryMap(1484).items.length), { items: vadCount, vs: vaRef }),
  ]);
  emit(rows);
  kernel.close();
  w.close();
  mem.close();
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
