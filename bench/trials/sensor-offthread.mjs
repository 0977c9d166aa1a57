// Guest introspection on the main thread vs on a worker thread, for the Sensor (generated XP SP3 PAE image with
// 140 processes, 2,000 connections and 500 sockets, plus a same-size image of noise where discovery scans every byte):
//   - event-loop stall while a guest is opened: the longest gap between ticks of a 1 ms timer (the reference is
//     the same open on the main thread, where no timer can fire until it returns)
//   - event-loop lag during a flood of new flows (unknown to the guest: every one waits for walks; walks coalesced
//     and rate-limited at 20 ms): max and p99 of monitorEventLoopDelay, per mode
//   - one attribution walk (request → index rebuilt), wall time and the main thread's busy time in it
//     (event-loop utilisation), per mode; and the round trip of an empty request to the worker
// Run alone (`node bench/trials/sensor-offthread.mjs [--quick]`, needs the addon and `npm run build:ts`) or through
// the bench runner.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { emit, eventLoopStall as stall, parasight, quick, row, scratchDir } from '../lib/harness.mjs';
import { windowsFixture } from '../lib/windows-fixture.mjs';
import { noiseImage } from '../lib/guest-image.mjs';

const TRIAL = 'sensor-offthread';
const RUNS = quick || process.argv.includes('--quick') ? 2 : 5;
const MIB = quick ? 64 : 256;
const FLOWS = quick ? 1000 : 4000;
const GUEST = '172.16.112.128';

const ps = await parasight();
const { buildImage, cridex } = await windowsFixture();

const work = mkdtempSync(join(scratchDir, 'parasight-bench-offthread-'));
const image = join(work, 'xp.raw');
const noKernel = join(work, 'noise.raw');
const base = cridex();
const extra = Array.from({ length: 120 }, (_, i) => ({ name: `app${i}.exe`, pid: 2000 + 4 * i, ppid: 1484, created: '2012-07-22T02:44:50Z' }));
buildImage(
  cridex({
    memoryMiB: MIB,
    noise: 1,
    processes: [...base.processes, ...extra],
    connections: [
      ...base.connections,
      ...Array.from({ length: 2000 }, (_, i) => ({ localAddress: GUEST, localPort: 2000 + i, remoteAddress: `10.${i >> 8}.${i & 255}.7`, remotePort: 443, pid: 2000 + 4 * (i % 120) })),
    ],
    sockets: [...base.sockets, ...Array.from({ length: 500 }, (_, i) => ({ pid: 2000 + 4 * (i % 120), port: 5000 + i, proto: 6, address: '0.0.0.0', created: '2012-07-22T02:44:51Z' }))],
  }),
  image,
);
noiseImage(noKernel, MIB);

const log = (s) => process.stderr.write(s + '\n');
const ms = (ns) => (ns / 1e6).toFixed(2);

const rows = [];
const add = (name, samplesNs, opts = {}) => {
  const r = row({ trial: TRIAL, name, samplesNs, ...opts });
  rows.push(r);
  log(`${name}: p50 ${ms(r.p50Ns)} ms, p99 ${ms(r.p99Ns)} ms`);
};

function synFrame(sport, dst, dport) {
  const b = Buffer.alloc(54);
  Buffer.from([0x52, 0x54, 0, 0, 0, 0x20, 0x52, 0x54, 0, 0, 0, 0x10, 0x08, 0x00]).copy(b, 0);
  b[14] = 0x45;
  b.writeUInt16BE(40, 16);
  b[22] = 64;
  b[23] = 6;
  GUEST.split('.').forEach((x, i) => (b[26 + i] = Number(x)));
  dst.split('.').forEach((x, i) => (b[30 + i] = Number(x)));
  b.writeUInt16BE(sport, 34);
  b.writeUInt16BE(dport, 36);
  b[46] = 0x50;
  b[47] = 0x02;
  return b;
}

try {
  // ---- opening (discovery): main thread vs worker
  for (const [what, file] of [['noise, discovery scans every byte', noKernel], ['XP guest, open + first walk', image]]) {
    const mainStall = [];
    const mainWall = [];
    const workerStall = [];
    const workerWall = [];
    for (let r = 0; r < RUNS; r++) {
      const a = await stall(() => {
        try {
          const i = ps.openIntrospector(file);
          i.processes();
          i.close();
        } catch (e) {
          if (e.code !== 'UNSUPPORTED') throw e;
        }
      });
      mainStall.push(a.stallNs);
      mainWall.push(a.wallNs);
      const b = await stall(async () => {
        try {
          const w = await ps.openIntrospectorInWorker(file);
          await w.snapshot(false);
          await w.close();
        } catch (e) {
          if (e.code !== 'UNSUPPORTED') throw e;
        }
      });
      workerStall.push(b.stallNs);
      workerWall.push(b.wallNs);
    }
    add(`${MIB} MiB ${what}: time to answer, main thread`, mainWall, { reference: true });
    add(`${MIB} MiB ${what}: time to answer, worker thread (incl. thread start)`, workerWall);
    add(`${MIB} MiB ${what}: longest event-loop stall, main thread`, mainStall, { reference: true });
    add(`${MIB} MiB ${what}: longest event-loop stall, worker thread`, workerStall);
  }

  // ---- one walk through the attributor, and a flood of unknown new flows, per mode
  const sync = ps.openIntrospector(image);
  const worker = await ps.openIntrospectorInWorker(image);
  const modes = [
    ['main thread', () => sync],
    ['worker thread', () => worker],
  ];
  {
    const rt = [];
    for (let i = 0; i < (quick ? 200 : 1000); i++) {
      const t = process.hrtime.bigint();
      await worker.info();
      rt.push(Number(process.hrtime.bigint() - t));
    }
    add('worker request round trip (info(), tiny answer)', rt);
  }
  // Both modes side by side, alternating run by run: the machine's load drifts, and each mode gets its share of it.
  const sensors = new Map();
  for (const [mode, intro] of modes) {
    const sensor = ps.createSensor({
      policy: { version: 1 },
      vms: [{ name: 'xp', guest: { ips: [GUEST] }, introspector: intro(), closeIntrospector: false, attribution: { minRefreshIntervalMs: 20, batchDelayMs: 5, maxAttempts: 3, maxPending: 1 << 20 } }],
    });
    await sensor.ready();
    sensors.set(mode, { sensor, wall: [], busy: [], maxLag: [], p99Lag: [], latency: [] });
  }
  for (let i = 0; i < (quick ? 20 : 100); i++) {
    for (const s of sensors.values()) {
      const e0 = performance.eventLoopUtilization();
      const t = process.hrtime.bigint();
      await s.sensor.pipeline().attributor.refresh();
      s.wall.push(Number(process.hrtime.bigint() - t));
      s.busy.push(performance.eventLoopUtilization(e0).active * 1e6);
    }
  }
  let port = 10000;
  for (let r = 0; r < RUNS; r++) {
    for (const s of sensors.values()) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      // FLOWS new flows in bursts of 50 per ms, none of them known to the guest: each waits for coalesced walks.
      for (let sent = 0; sent < FLOWS; sent += 50) {
        for (let k = 0; k < 50; k++, port++) s.sensor.ingest(synFrame(port & 0xffff, `198.51.${(port >> 8) & 255}.${port & 255}`, 443), Date.now());
        await new Promise((res) => setTimeout(res, 1));
      }
      await s.sensor.settle(60_000);
      h.disable();
      s.maxLag.push(h.max);
      s.p99Lag.push(h.percentile(99));
      s.latency.push(s.sensor.metrics().vms[0].attribution.latencyP99Ms * 1e6);
    }
  }
  for (const [mode, s] of sensors) {
    const reference = mode === 'main thread';
    add(`one walk (2,640 objects), request → index rebuilt, ${mode}`, s.wall, { reference });
    add(`one walk, main thread busy (event-loop active time), ${mode}`, s.busy, { reference });
    add(`flood of ${FLOWS} unknown flows: event-loop lag max, walks on the ${mode}`, s.maxLag, { reference });
    add(`flood of ${FLOWS} unknown flows: event-loop lag p99, walks on the ${mode}`, s.p99Lag, { reference });
    add(`flood: attribution outcome latency p99 (3 walks, then unattributed), ${mode}`, s.latency, { reference });
    await s.sensor.close();
  }
  sync.close();
  await worker.close();
  emit(rows);
} finally {
  rmSync(work, { recursive: true, force: true });
}
