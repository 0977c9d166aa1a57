// Linux guest introspection on a live lab guest (KASLR, TCG; the guest keeps running, never paused), through the
// shared RAM file and through the QEMU process (process_vm_readv):
//   new connection → attributed: the first lookupConnection of a connection opened after the snapshot (a miss,
//     then one bounded walk), one connection at a time: (a) a known, running process opens it (the walk looks at
//     changed fd tables it knew), (b) a new process opens it (tasks created since the sweep), p50/p99
//   snapshot hit: lookupConnection of a connection already in the snapshot
//   full sweep: refresh() = task list + every fd table + every TCP/UDP socket, decoded into JS objects
//   the same new-connection lookups through a worker thread (openIntrospectorInWorker on the live RAM file): the
//     answer's latency, and the event loop's longest stall while the guest is opened without a profile (BTF and
//     kallsyms found in guest memory) on the main thread vs on a worker
// References measured in the same run: one 8-byte guest-virtual read through the address space (the smallest
// introspection step), and one 4 KiB guest-physical read.
// Needs root, QEMU and the prepared lab (`node test/lab/prepare.mjs`), and `npm run build`.
// Run alone (`node bench/trials/linux-guest.mjs [--quick]`) or through the bench runner.
import { join } from 'node:path';
import { eventLoopStall, packageRoot, timeNs } from '../lib/harness.mjs';
import { labTrial } from '../lib/lab-trial.mjs';

const TRIAL = 'linux-guest';
const quick = process.env.PARASIGHT_BENCH_QUICK === '1' || process.argv.includes('--quick');
const CONNECTIONS = quick ? 20 : 60;
const SWEEPS = quick ? 30 : 100;
const HITS = quick ? 2000 : 20000;

const { cacheDir, prepareLab, startLab, addRow, printTable } = await labTrial(TRIAL);
const ps = await import(join(packageRoot, 'dist', 'index.js'));
const { existsSync, readFileSync, writeFileSync } = await import('node:fs');

const inputs = prepareLab({ download: false });
const profilePath = join(cacheDir, `profile-${inputs.version}.json`);
if (!existsSync(profilePath)) {
  writeFileSync(profilePath, ps.serializeIsf(ps.generateLinuxProfile(readFileSync(inputs.vmlinuz), { origin: `vmlinuz-${inputs.version}` })));
}
const profile = ps.Profile.load(profilePath);

const lab = await startLab({ memory: 'shm', kaslr: true });
try {
  // Some ordinary background: a few connected and listening programs.
  for (const argv of [['tcp-connect', lab.hostV4, '7000'], ['udp-connect', lab.hostV6, '7000'], ['tcp-listen', '8080', '6']]) {
    await lab.spawn(['netprog', ...argv]);
  }
  const sources = [
    ['live RAM file', ps.openMemory({ kind: 'live-file', path: lab.ramPath })],
    ['QEMU process', await ps.openMemory({ kind: 'qemu-process', pid: lab.pid, qmp: lab.qmpPath })],
  ];
  // Touch the RAM file's mapping once, as a long-running sensor has: first touches of a fresh mapping cost
  // ~1.4 µs per page here and would otherwise land on whichever lookup meets a page first.
  const chunk = new Uint8Array(1 << 20);
  for (let at = 0n; at < sources[0][1].size; at += BigInt(chunk.length)) sources[0][1].readPhysicalInto(at, chunk, { partial: true });
  // A second reader of the same file right after the first: its walks meet CPU caches the first one warmed (the
  // first reader runs right after the TCG guest ran, with caches cold).
  sources.splice(1, 0, ['live RAM file, warm', ps.openMemory({ kind: 'live-file', path: lab.ramPath })]);
  sources[0][0] = 'live RAM file, cold';
  const intros = sources.map(([label, mem]) => [label, mem, ps.LinuxIntrospector.open(mem, { profile })]);
  // Opening without a profile scans guest memory for the kernel's BTF and kallsyms: the longest discovery there is.
  // Longest gap between ticks of a 1 ms timer while it runs, on this thread vs on a worker.
  const stall = async (work) => (await eventLoopStall(work)).stallNs;
  const openStall = { main: [], worker: [] };
  for (let r = 0; r < (quick ? 2 : 3); r++) {
    openStall.main.push(
      await stall(() => {
        const m = ps.openMemory({ kind: 'live-file', path: lab.ramPath });
        ps.openIntrospector(m).close();
        m.close();
      }),
    );
    openStall.worker.push(await stall(async () => (await ps.openIntrospectorInWorker(`live:${lab.ramPath}`)).close()));
  }
  const worker = await ps.openIntrospectorInWorker(`live:${lab.ramPath}`, { profile: profilePath });
  const viaWorker = { known: [], fresh: [] };
  let wrongWorker = 0;
  const tuple = (port) => ({ proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: port, remoteAddress: lab.hostV4, remotePort: 7000 });
  const miss = { known: intros.map(() => []), fresh: intros.map(() => []) };
  const wrong = intros.map(() => 0);
  const attribute = async (kind, port, pid) => {
    intros.forEach(([, , intro], k) => {
      let owner;
      miss[kind][k].push(timeNs(() => (owner = intro.lookupConnection(tuple(port)))));
      if (owner?.answeredFrom !== 'refresh' || owner.pid !== pid) wrong[k]++;
    });
    // The worker's introspector has not seen this connection either: its own miss and bounded walk, plus the trip.
    const t = process.hrtime.bigint();
    const owner = await worker.lookupConnection(tuple(port));
    viaWorker[kind].push(Number(process.hrtime.bigint() - t));
    if (owner?.pid !== pid) wrongWorker++;
  };
  for (const [, , intro] of intros) intro.refresh();
  await worker.snapshot(true);
  await worker.lookupConnection(tuple(1));
  // Warm the native paths once (first N-API calls, page-table walks) on a lookup that is not measured.
  for (const [, , intro] of intros) intro.lookupConnection(tuple(1));
  // (a) A running process opens one more connection per SIGUSR1.
  const known = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, '7000'], { as: 'benchmore' });
  for (const [, , intro] of intros) intro.refresh();
  await worker.snapshot(true);
  for (let i = 1; i <= CONNECTIONS; i++) {
    const out = await lab.run(
      `kill -USR1 ${known.pid}; i=0; while [ $(grep -c ok ${known.outputPath}) -le ${i} ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; tail -n1 ${known.outputPath}`,
    );
    await attribute('known', Number(/ok (\d+)/.exec(out)[1]), known.pid);
  }
  // (b) A new process per connection.
  for (let i = 0; i < CONNECTIONS; i++) {
    const p = await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, '7000'], { as: `benchnew${i}` });
    await attribute('fresh', p.localPort, p.pid);
  }
  const tuples = [];
  for (const [, , intro] of intros) intro.refresh();
  for (const c of intros[0][2].connections().items) tuples.push({ proto: c.proto, family: c.family, localAddress: c.localAddress, localPort: c.localPort, remoteAddress: c.remoteAddress, remotePort: c.remotePort });
  for (const [label, mem, intro] of intros) {
    const k = intros.findIndex((x) => x[2] === intro);
    addRow(`${label}: new connection of a running process → attributed`, miss.known[k], { note: `${wrong[k]} wrong of ${2 * CONNECTIONS}` });
    addRow(`${label}: new connection of a new process → attributed`, miss.fresh[k]);
    const hit = [];
    for (let i = 0; i < HITS; i++) {
      const t = tuples[i % tuples.length];
      hit.push(timeNs(() => intro.lookupConnection(t)));
    }
    addRow(`${label}: snapshot hit`, hit);
    const sweep = [];
    for (let i = 0; i < SWEEPS; i++) sweep.push(timeNs(() => intro.refresh()));
    const n = intro.processes().items.length;
    const c = intro.connections().items.length + intro.sockets().items.length;
    addRow(`${label}: full task + socket sweep`, sweep, { note: `${n} tasks, ${c} sockets` });
    // References: the smallest steps an introspection is made of, same source, same run.
    const space = mem.addressSpace({ mode: 'ia32e', dtb: intro.info().dtb });
    const eight = new Uint8Array(8);
    const va = intro.info().kernelBase;
    const small = [];
    for (let i = 0; i < HITS; i++) small.push(timeNs(() => space.readInto(va, eight)));
    addRow(`${label}: reference: one 8-byte virtual read`, small, { reference: true });
    const page = new Uint8Array(4096);
    const pg = [];
    for (let i = 0; i < HITS; i++) pg.push(timeNs(() => mem.readPhysicalInto(BigInt(i % 4096) * 4096n, page)));
    addRow(`${label}: reference: one 4 KiB physical read`, pg, { reference: true });
    space.close();
  }
  addRow('worker thread (live RAM file): new connection of a running process → attributed', viaWorker.known, { note: `${wrongWorker} wrong of ${2 * CONNECTIONS}` });
  addRow('worker thread (live RAM file): new connection of a new process → attributed', viaWorker.fresh);
  addRow('opening without a profile (BTF + kallsyms from guest memory): longest event-loop stall, main thread', openStall.main, { reference: true });
  addRow('opening without a profile: longest event-loop stall, worker thread', openStall.worker);
  await worker.close();
  for (const [, mem, intro] of intros) {
    intro.close();
    mem.close();
  }
} finally {
  await lab.stop();
}

printTable();
