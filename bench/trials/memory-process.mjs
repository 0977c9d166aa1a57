// Reading a running process's RAM (the qemu-process source) on the stand-in process the tests use: 64 MiB of
// "guest RAM", all touched. Batched random reads (one process_vm_readv carrying 1,024 iovecs) against one syscall
// per read, and the /proc/PID/mem path; a sequential 1 MiB read against a plain in-process copy of 1 MiB. The
// stand-in's RAM uses 4 KiB pages (no transparent huge pages, so the tests' resident ranges stay exact): QEMU's
// huge-page-backed RAM copies faster.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { emit, measure, packageRoot, parasight, consume } from '../lib/harness.mjs';
import { randomIndices } from '../lib/guest-image.mjs';

const trial = 'memory-process';
const { openMemory } = await parasight();
const RAM = 64 << 20;
const COUNT = 1024;

const dir = mkdtempSync(join(tmpdir(), 'parasight-bench-standin-'));
const bin = join(dir, 'ram-standin');
const cc = spawnSync('gcc', ['-O1', '-o', bin, join(packageRoot, 'test', 'fixtures', 'ram-standin.c')], { encoding: 'utf8' });
if (cc.status !== 0) throw new Error(cc.stderr);
const pages = Array.from({ length: RAM / 4096 }, (_, i) => i).join(',');
const child = spawn(bin, ['-m', '64M', '1', pages], { stdio: ['pipe', 'pipe', 'inherit'] });
await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();

const addrs = BigUint64Array.from(randomIndices(COUNT, RAM / 8, 7), (i) => BigInt(i) * 8n);
const rows = [];
const byVm = await openMemory({ kind: 'qemu-process', pid: child.pid, access: 'process_vm_readv' });
const byMem = await openMemory({ kind: 'qemu-process', pid: child.pid, access: 'proc-mem' });
const item = new Uint8Array(8);
const single = 'readPhysicalInto 8 B random, one process_vm_readv each';
rows.push({
  ...(await measure(trial, single, () => {
    for (let i = 0; i < COUNT; i++) byVm.readPhysicalInto(addrs[i], item);
  }, { items: COUNT })),
  reference: true,
});
rows.push(
  await measure(trial, 'readMany 1,024 × 8 B random (batched process_vm_readv)', () => consume(byVm.readMany(addrs, 8).ok[3]), {
    items: COUNT,
    vs: single,
  }),
);
rows.push(
  await measure(trial, 'readMany 1,024 × 8 B random (/proc/PID/mem pread each)', () => consume(byMem.readMany(addrs, 8).ok[3]), {
    items: COUNT,
    vs: single,
  }),
);

const MiB = 1 << 20;
const src = new Uint8Array(MiB).fill(1);
const dst = new Uint8Array(MiB);
const copy = 'copy of 1 MiB inside this process (memcpy)';
rows.push({ ...(await measure(trial, copy, () => dst.set(src), { bytes: MiB })), reference: true });
let off = 0n;
rows.push(
  await measure(trial, 'readPhysicalInto 1 MiB sequential (process_vm_readv)', () => {
    byVm.readPhysicalInto(off, dst);
    off = (off + BigInt(MiB)) % BigInt(RAM);
  }, { bytes: MiB, vs: copy }),
);
rows.push(
  await measure(trial, 'readPhysicalInto 1 MiB sequential (/proc/PID/mem)', () => {
    byMem.readPhysicalInto(off, dst);
    off = (off + BigInt(MiB)) % BigInt(RAM);
  }, { bytes: MiB, vs: copy }),
);
emit(rows);
byVm.close();
byMem.close();
child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
