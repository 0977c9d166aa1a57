// Linux guest introspection at scale: a live lab guest (KASLR, TCG, 1 GiB, never paused) running ~2,000 sleeper
// processes that each hold a UDP socket, read through the shared RAM file:
//   full sweep: refresh() = task list + every fd table + every TCP/UDP socket, decoded into JS objects
//   new connection → attributed, p50/p99, each series starting from a fresh sweep: a running process's connection
//     (a) on a new descriptor, (b) on a descriptor number it closed and reopened (one process each: after its first,
//     its table is one that changed lately), (c) of a running process not active since the sweep (one connection
//     from each of many processes: all known tables are read), and (d) a new process's (tasks created since the
//     sweep); the note says which stage answered how often
//   snapshot hit, and memoryMap(pid) of a process with ~100 mappings (maple tree + paths)
//   executable paths (mm->exe_file): one process's first read and cached, every task's, and a sensor walk's share
//   profile from guest memory alone (the running kernel's BTF + kallsyms found and read)
// References measured in the same run: one 8-byte guest-virtual read through the address space, and the profile
// generated from the kernel image file (decompress + BTF + kallsyms).
// Needs root, QEMU and the prepared lab (`node test/lab/prepare.mjs`), and `npm run build`.
// Run alone (`node bench/trials/linux-scale.mjs [--quick]`) or through the bench runner.
import { join } from 'node:path';
import { packageRoot, timeNs } from '../lib/harness.mjs';
import { labTrial } from '../lib/lab-trial.mjs';

const TRIAL = 'linux-scale';
const SLEEPERS = 2000;
const quick = process.env.PARASIGHT_BENCH_QUICK === '1' || process.argv.includes('--quick');
const CONNECTIONS = quick ? 10 : 40;
const SWEEPS = quick ? 10 : 40;
const HITS = quick ? 2000 : 20000;
const PROFILES = quick ? 2 : 5;

const { prepareLab, startLab, addRow, printTable } = await labTrial(TRIAL);
const ps = await import(join(packageRoot, 'dist', 'index.js'));
const { takeSnapshot } = await import(join(packageRoot, 'dist', 'introspect', 'async.js'));
const { readFileSync } = await import('node:fs');

const inputs = prepareLab({ download: false });
// Generated in memory (~2 s): a cached file could predate structs the walkers now read.
const profile = new ps.Profile(`vmlinuz-${inputs.version}`, ps.generateLinuxProfile(readFileSync(inputs.vmlinuz), { origin: `vmlinuz-${inputs.version}` }));

const lab = await startLab({ memory: 'shm', kaslr: true, ramMiB: 1024 });
try {
  await lab.run('echo 8192 > /proc/sys/kernel/threads-max');
  const s = await lab.spawn(['netprog', 'swarm', String(SLEEPERS)], { as: 'sleeper', waitOutput: false });
  const ok = await lab.run(`i=0; while [ ! -s ${s.outputPath} ] && [ $i -lt 1000 ]; do sleep 0.1; i=$((i+1)); done; cat ${s.outputPath}`, 120_000);
  if (ok.trim() !== `ok ${SLEEPERS}`) throw new Error(`swarm failed: ${ok}`);
  const mem = ps.openMemory({ kind: 'live-file', path: lab.ramPath });
  // Touch the RAM file's mapping once, as a long-running sensor has (first touches cost ~1.4 µs per page).
  const chunk = new Uint8Array(1 << 20);
  for (let at = 0n; at < mem.size; at += BigInt(chunk.length)) mem.readPhysicalInto(at, chunk, { partial: true });
  const intro = ps.LinuxIntrospector.open(mem, { profile });
  intro.refresh();
  const tuple = (port) => ({ proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: port, remoteAddress: lab.hostV4, remotePort: 7000 });
  intro.lookupConnection(tuple(1));
  const sweep = [];
  for (let i = 0; i < SWEEPS; i++) sweep.push(timeNs(() => intro.refresh()));
  const n = intro.processes().items.length;
  const c = intro.connections().items.length + intro.sockets().items.length;
  addRow('full task + socket sweep', sweep, { note: `${n} tasks, ${c} sockets` });
  const attributed = (name, samples, wrong, since) => {
    const now = intro.lookupStats();
    const by = `answered by: ${now.hotTables - since.hotTables} lately changed tables, ${now.knownTables - since.knownTables} all known tables, ` +
      `${now.newTasks - since.newTasks} new tasks, ${now.sweeps - since.sweeps} sweeps`;
    addRow(name, samples, { note: `${by}; ${wrong} wrong of ${samples.length}` });
  };
  for (const how of ['new', 'reuse']) {
    const known = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, '7000', how], { as: `bench${how}` });
    intro.refresh();
    const since = intro.lookupStats();
    const running = [];
    let wrong = 0;
    for (let i = 1; i <= CONNECTIONS; i++) {
      const out = await lab.run(
        `kill -USR1 ${known.pid}; i=0; while [ $(grep -c ok ${known.outputPath}) -le ${i} ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; tail -n1 ${known.outputPath}`,
      );
      let owner;
      running.push(timeNs(() => (owner = intro.lookupConnection(tuple(Number(/ok (\d+)/.exec(out)[1]))))));
      if (owner?.pid !== known.pid) wrong++;
    }
    attributed(`new connection of a running process, ${how === 'new' ? 'new descriptor' : 'descriptor number reopened'} → attributed`, running, wrong, since);
    await lab.kill(known.pid);
  }
  // Each connection from another running process, none active since the sweep: every known table is read.
  const idle = [];
  for (let i = 0; i < CONNECTIONS; i++) idle.push(await lab.spawn(['netprog', 'tcp-more', lab.hostV4, '7000', 'new'], { as: `benchidle${i}` }));
  intro.refresh();
  {
    const since = intro.lookupStats();
    const samples = [];
    let wrong = 0;
    for (const p of idle) {
      const out = await lab.run(
        `kill -USR1 ${p.pid}; i=0; while [ $(grep -c ok ${p.outputPath}) -lt 2 ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; tail -n1 ${p.outputPath}`,
      );
      let owner;
      samples.push(timeNs(() => (owner = intro.lookupConnection(tuple(Number(/ok (\d+)/.exec(out)[1]))))));
      if (owner?.pid !== p.pid) wrong++;
    }
    attributed('new connection of a running process not active since the sweep → attributed', samples, wrong, since);
  }
  for (const p of idle) await lab.kill(p.pid);
  intro.refresh();
  const since = intro.lookupStats();
  let wrong = 0;
  const fresh = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const p = await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, '7000'], { as: `benchnew${i}` });
    let owner;
    fresh.push(timeNs(() => (owner = intro.lookupConnection(tuple(p.localPort)))));
    if (owner?.pid !== p.pid) wrong++;
  }
  attributed('new connection of a new process → attributed', fresh, wrong, since);
  const tuples = intro.sockets().items.map((x) => ({ proto: x.proto, family: x.family, localAddress: lab.guestV4, localPort: x.localPort, remoteAddress: lab.hostV4, remotePort: 40000 }));
  const hit = [];
  for (let i = 0; i < HITS; i++) {
    const t = tuples[i % tuples.length];
    hit.push(timeNs(() => intro.lookupConnection(t)));
  }
  addRow('snapshot hit', hit);
  // ~100 mappings: the program's own (~20) plus 80 one-page file mappings that cannot merge.
  const mapper = await lab.spawn(['netprog', 'maps', 'benchmaps', '80'], { as: 'benchmaps' });
  intro.refresh();
  const maps = [];
  let vmas = 0;
  for (let i = 0; i < SWEEPS; i++) maps.push(timeNs(() => (vmas = intro.memoryMap(mapper.pid).items.length)));
  addRow('memoryMap of one process', maps, { note: `${vmas} VMAs` });
  // Executable paths (mm->exe_file, read on demand): the first read of one process, of every task at once, a cached
  // one, and what a walk of the sensor adds (the paths of every socket owner, all cached after the first walk).
  const pids = intro.processes().items.filter((p) => p.dtb !== undefined).map((p) => p.pid);
  const one = [];
  const cached = [];
  let missing = 0;
  const cold = ps.LinuxIntrospector.open(mem, { profile });
  cold.refresh();
  for (const pid of pids) {
    let path;
    one.push(timeNs(() => (path = cold.processes({ paths: [pid] }).items.find((p) => p.pid === pid)?.path)));
    if (path === undefined) missing++;
    cached.push(timeNs(() => cold.processes({ paths: [pid] })));
  }
  cold.close();
  addRow('executable path of one process, first read', one, { note: `${pids.length} processes, ${missing} without a path` });
  addRow('executable path of one process, cached', cached);
  const all = [];
  for (let i = 0; i < PROFILES; i++) {
    const fresh = ps.LinuxIntrospector.open(mem, { profile });
    fresh.refresh();
    all.push(timeNs(() => fresh.processes({ paths: true })));
    fresh.close();
  }
  addRow('executable paths of every task, first read', all, { note: `${n} tasks` });
  // What the sensor's walk (takeSnapshot) adds to refresh(): the owners' paths, from the cache after the first walk.
  takeSnapshot(intro, false);
  const walkAdds = [];
  const walkRef = [];
  for (let i = 0; i < SWEEPS; i++) {
    intro.refresh();
    walkAdds.push(timeNs(() => takeSnapshot(intro, false)));
    walkRef.push(timeNs(() => ({ processes: intro.processes(), connections: intro.connections(), sockets: intro.sockets() })));
  }
  addRow('per walk: snapshot with every socket owner\'s path, cached', walkAdds, { note: `${c} sockets` });
  addRow('reference: per walk: snapshot without paths', walkRef, { reference: true });
  const fromMemory = [];
  const fromImage = [];
  const image = readFileSync(inputs.vmlinuz);
  for (let i = 0; i < PROFILES; i++) {
    fromMemory.push(timeNs(() => ps.linuxProfileFromMemory(mem)));
    fromImage.push(timeNs(() => ps.generateLinuxProfile(image, { origin: 'bench' })));
  }
  addRow('profile from guest memory alone (BTF + kallsyms found in RAM)', fromMemory);
  addRow('reference: profile from the kernel image file', fromImage, { reference: true });
  const space = mem.addressSpace({ mode: 'ia32e', dtb: intro.info().dtb });
  const eight = new Uint8Array(8);
  const va = intro.info().kernelBase;
  const small = [];
  for (let i = 0; i < HITS; i++) small.push(timeNs(() => space.readInto(va, eight)));
  addRow('reference: one 8-byte virtual read', small, { reference: true });
  space.close();
  intro.close();
  mem.close();
} finally {
  await lab.stop();
}

printTable();
