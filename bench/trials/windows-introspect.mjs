// Windows XP guest introspection on a generated 512 MiB XP SP3 PAE image (cridex-shaped, plus 40 processes, 400
// connections and 200 sockets), each figure beside a plain read() of the same image measured in the same run:
//   - read(): the whole image through a reused 1 MiB buffer (the I/O-speed reference)
//   - full physical scan: the dispatcher-header scan over a 512 MiB image holding no kernel (worst case)
//   - cold open: new memory mapping + kernel discovery + profile + modules + tcpip.sys location + first walk
//   - full walk: processes + every connection and socket (what a lookup miss costs)
//   - warm lookupConnection p50/p99, hits answered from the snapshot
// Run alone (`node bench/trials/windows-introspect.mjs`, needs `npm run build:ts` and the addon) or through the
// bench runner. The fixture builder (TypeScript, under test/) is transpiled into build/bench first.
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { emit, parasight, quick as quickRunner, row, scratchDir, timeNs } from '../lib/harness.mjs';
import { windowsFixture } from '../lib/windows-fixture.mjs';
import { noiseImage } from '../lib/guest-image.mjs';

const TRIAL = 'windows-introspect';
const quick = quickRunner || process.argv.includes('--quick');
const RUNS = quick ? 3 : 7;
const MIB = quick ? 128 : 512;

const ps = await parasight();

function addRow(name, samplesNs, { reference = false, bytes, items, vs, note } = {}) {
  const r = row({ trial: TRIAL, name, samplesNs, bytes, items, reference, vs, note });
  emit(r);
  process.stderr.write(`${name}: p50 ${(r.p50Ns / 1e6).toFixed(3)} ms, p99 ${(r.p99Ns / 1e6).toFixed(3)} ms${items ? `, ${(r.p50Ns / items).toFixed(0)} ns/item` : ''}\n`);
}

const { buildImage, cridex } = await windowsFixture();

const workDir = mkdtempSync(join(scratchDir, 'parasight-bench-win-'));
const image = join(workDir, 'xp-sp3-pae.raw');
const noKernel = join(workDir, 'no-kernel.raw');
const extraProcs = Array.from({ length: 40 }, (_, i) => ({ name: `app${i}.exe`, pid: 2000 + 4 * i, ppid: 1484, created: '2012-07-22T02:44:50Z' }));
const base = cridex();
const truth = buildImage(
  cridex({
    memoryMiB: MIB,
    noise: 1,
    processes: [...base.processes, ...extraProcs],
    connections: [
      ...base.connections,
      ...Array.from({ length: 400 }, (_, i) => ({ localAddress: '172.16.112.128', localPort: 1100 + i, remoteAddress: `10.${i >> 8}.${i & 255}.7`, remotePort: 443, pid: 2000 + 4 * (i % 40) })),
    ],
    sockets: [
      ...base.sockets,
      ...Array.from({ length: 200 }, (_, i) => ({ pid: 2000 + 4 * (i % 40), port: 1100 + i, proto: 6, address: '0.0.0.0', created: '2012-07-22T02:44:51Z' })),
    ],
  }),
  image,
);
// Same size, noise only: no dispatcher header survives the filter, so discovery scans every byte.
noiseImage(noKernel, MIB);
const bytes = MIB << 20;

try {
  // ---- reference: read() the whole image into a reused buffer
  {
    const buf = Buffer.alloc(1 << 20);
    const samples = [];
    for (let r = 0; r < RUNS; r++) {
      samples.push(
        timeNs(() => {
          const fd = openSync(image, 'r');
          let sum = 0;
          for (let off = 0; off < bytes; off += buf.length) sum += readSync(fd, buf, 0, buf.length, off);
          closeSync(fd);
          if (sum !== bytes) throw new Error('short read');
        }),
      );
    }
    addRow(`read() ${MIB} MiB image, 1 MiB reused buffer`, samples, { reference: true, bytes });
  }

  // ---- worst case: a full scan that finds nothing
  {
    const samples = [];
    for (let r = 0; r < RUNS; r++) {
      samples.push(
        timeNs(() => {
          const mem = ps.openMemory(noKernel);
          try {
            ps.WindowsIntrospector.open(mem);
            throw new Error('found a kernel in noise');
          } catch (e) {
            if (e.code !== 'NOT_FOUND') throw e;
          } finally {
            mem.close();
          }
        }),
      );
    }
    addRow(`discovery scanning all ${MIB} MiB (no kernel; open + scan + give up)`, samples, { bytes, note: 'worst case: every byte scanned' });
  }

  // ---- cold open on the XP image
  let w;
  let mem;
  {
    const samples = [];
    for (let r = 0; r < RUNS; r++) {
      samples.push(
        timeNs(() => {
          const m = ps.openMemory(image);
          const x = ps.WindowsIntrospector.open(m);
          if (x.info().dtb !== truth.dtb || x.connections().items.length !== truth.connections.length) throw new Error(`wrong result: dtb ${x.info().dtb} vs ${truth.dtb}, ${x.connections().items.length} vs ${truth.connections.length} connections; ${JSON.stringify(x.connections().problems)} ${JSON.stringify(x.tcpip, (k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
          x.close();
          m.close();
        }),
      );
    }
    addRow(`cold open: map + discover + modules + tcpip + first walk (${MIB} MiB XP SP3 PAE)`, samples, { bytes });
    mem = ps.openMemory(image);
    w = ps.WindowsIntrospector.open(mem);
  }

  // ---- full walk (refresh)
  {
    const samples = [];
    for (let r = 0; r < RUNS * 5; r++) samples.push(timeNs(() => w.refresh()));
    const items = truth.processes.length + truth.connections.length + truth.sockets.length;
    addRow(`full walk: ${truth.processes.length} processes + ${truth.connections.length} connections + ${truth.sockets.length} sockets`, samples, { items });
  }

  // ---- warm lookups
  {
    const tuples = truth.connections.map((c) => ({ proto: 'tcp', family: 4, localAddress: c.localAddress, localPort: c.localPort, remoteAddress: c.remoteAddress, remotePort: c.remotePort }));
    for (const t of tuples) if (!w.lookupConnection(t)) throw new Error('lookup miss');
    const samples = [];
    const n = quick ? 20_000 : 200_000;
    for (let i = 0; i < n; i++) {
      const t = tuples[i % tuples.length];
      const t0 = process.hrtime.bigint();
      const o = w.lookupConnection(t);
      samples.push(Number(process.hrtime.bigint() - t0));
      if (o === undefined || o.answeredFrom !== 'snapshot') throw new Error('lookup miss');
    }
    addRow('warm lookupConnection (hit, from snapshot)', samples, { items: 1, note: 'includes ~50 ns of hrtime overhead' });
  }
  w.close();
  mem.close();
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
