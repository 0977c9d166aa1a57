// Guest introspection off the main thread: a Sensor given guest *memory* opens and walks it on a worker thread.
// The event loop keeps turning while a large image is scanned, flows stay pending until the first walk answers,
// failures arrive as explicit outcomes, and close() settles everything (pending flows, in-flight walks, the thread).
// The worker runs the built package (dist/), rebuilt here when the sources are newer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSensor, type Sensor } from '../../src/sensor/sensor.js';
import { openIntrospector } from '../../src/introspect/open.js';
import { WorkerIntrospector, openIntrospectorInWorker } from '../../src/introspect/worker-client.js';
import type { ParasightError } from '../../src/errors.js';
import type { SensorEvent } from '../../src/events/event.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import { buildFrame } from '../fixtures/packets/frames.js';
import { pattern } from '../fixtures/memory-images.js';
import { ensureBuilt } from '../lab/sensor-helpers.js';

const GUEST = '172.16.112.128';
let dir: string;
let image: string;
let noKernel: string;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'parasight-offthread-'));
  image = join(dir, 'cridex.raw');
  buildImage(cridex({ memoryMiB: 48 }), image);
  // 128 MiB without any kernel in it: every built-in opener scans all of it before giving up.
  noKernel = join(dir, 'no-kernel.raw');
  const fd = openSync(noKernel, 'w');
  for (let i = 0; i < 128; i++) writeSync(fd, pattern(0x5eed + i, 1 << 20));
  closeSync(fd);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Largest gap between ticks of a 5 ms interval while `work` runs. */
async function loopGaps<T>(work: () => Promise<T>): Promise<{ value: T | undefined; error: unknown; maxGapMs: number; ticks: number; ms: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 5);
  const started = performance.now();
  let value: T | undefined;
  let error: unknown;
  try {
    value = await work();
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - started;
  clearInterval(timer);
  maxGapMs = Math.max(maxGapMs, performance.now() - last);
  return { value, error, maxGapMs, ticks, ms };
}

const frame = (sport: number, dst: string, dport: number, flags = 'S'): Uint8Array => buildFrame({ src: GUEST, dst, proto: 'tcp', sport, dport, flags });

describe('guest introspection on a worker thread', () => {
  it('the event loop keeps turning while a large image is scanned; the failure is an explicit outcome', async () => {
    // Reference: the same discovery on this thread blocks it for the whole scan.
    const started = performance.now();
    expect(() => openIntrospector(noKernel)).toThrow(/no introspector/);
    const blockingMs = performance.now() - started;

    const events: SensorEvent[] = [];
    let sensor: Sensor | undefined;
    const errors: Error[] = [];
    const r = await loopGaps(async () => {
      sensor = createSensor({ policy: { version: 1 }, emitAllowed: true, vms: [{ name: 'big', guest: { ips: [GUEST] }, memory: noKernel }] });
      sensor.on('event', (e) => events.push(e));
      sensor.on('error', (e) => errors.push(e));
      // Packets keep flowing while the guest is being opened: the flow waits for it.
      sensor.ingest(frame(1038, '41.168.5.140', 8080), Date.now());
      expect(sensor.metrics().vms[0]!.attribution).toMatchObject({ introspector: 'opening', pending: 1 });
      await sensor.ready();
    });
    try {
      expect((r.error as ParasightError).code).toBe('UNSUPPORTED');
      // Timers kept firing all along: no gap near the length of the blocking scan (a generous bound: this machine's
      // other work also delays timers).
      expect(r.ms).toBeGreaterThan(blockingMs / 2);
      expect(r.ticks).toBeGreaterThanOrEqual(10);
      expect(r.maxGapMs).toBeLessThan(blockingMs / 2);
      expect(events).toHaveLength(1);
      expect(events[0]!.attribution).toMatchObject({ outcome: 'unattributed', reason: expect.stringMatching(/^introspector-error: open failed: no introspector/) });
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^VM big: guest memory could not be opened/)]);
      // Later flows are judged at once with the same reason.
      sensor!.ingest(frame(1039, '41.168.5.140', 8080), Date.now());
      expect(events[1]!.attribution.reason).toBe(events[0]!.attribution.reason);
      expect(sensor!.metrics().vms[0]!.attribution.introspector).toBe('failed');
    } finally {
      await sensor?.close();
    }
  });

  it('attributes through the worker: flows seen before the guest is open wait for its first walk', async () => {
    const events: SensorEvent[] = [];
    const sensor = createSensor({
      emitAllowed: true,
      policy: { version: 1, processes: [{ name: 'explorer.exe', mode: 'default-deny', rules: [{ direction: 'outbound', proto: 'tcp', rport: [80, 443] }] }] },
      vms: [{ name: 'xp', guest: { ips: [GUEST] }, memory: image, attribution: { minRefreshIntervalMs: 20, maxAttempts: 2, batchDelayMs: 1 } }],
    });
    try {
      sensor.on('event', (e) => events.push(e));
      sensor.ingest(frame(1038, '41.168.5.140', 8080), Date.now());
      sensor.ingest(frame(1200, '10.9.9.9', 80), Date.now());
      await sensor.ready();
      await sensor.settle();
      const c2 = events.find((e) => e.type === 'process.parasitized')!;
      expect(c2).toMatchObject({ process: { pid: 1484, name: 'explorer.exe' }, flow: { rport: 8080 }, attribution: { outcome: 'attributed' } });
      const other = events.find((e) => e.flow?.remote === '10.9.9.9')!;
      expect(other.attribution).toMatchObject({ outcome: 'unattributed', reason: 'not-found-in-guest' });
      const a = sensor.metrics().vms[0]!.attribution;
      expect(a).toMatchObject({ introspector: 'ready', pending: 0 });
      expect(a.refreshes).toBeGreaterThanOrEqual(2);
      expect(a.refreshErrors).toBe(0);
    } finally {
      await sensor.close();
    }
  });

  it('close() during an opening and during an in-flight walk settles every flow, request and the thread', async () => {
    // 1. Closed while the guest is still being opened.
    const w1 = WorkerIntrospector.start(image);
    const events: SensorEvent[] = [];
    const s1 = createSensor({ policy: { version: 1 }, emitAllowed: true, vms: [{ name: 'a', guest: { ips: [GUEST] }, introspector: w1 }] });
    s1.on('event', (e) => events.push(e));
    s1.ingest(frame(1038, '41.168.5.140', 8080), Date.now());
    const ready = s1.ready().catch((e: unknown) => e);
    await s1.close();
    expect(w1.ended).toBe(true);
    expect(events.map((e) => e.attribution)).toEqual([expect.objectContaining({ outcome: 'unattributed', reason: 'sensor closed' })]);
    expect(await ready).toMatchObject({ code: 'CLOSED' });

    // 2. Closed while a walk is in flight on the worker.
    const w2 = await openIntrospectorInWorker(image);
    const s2 = createSensor({ policy: { version: 1 }, emitAllowed: true, vms: [{ name: 'b', guest: { ips: [GUEST] }, introspector: w2 }] });
    const events2: SensorEvent[] = [];
    s2.on('event', (e) => events2.push(e));
    await s2.ready();
    s2.ingest(frame(1300, '10.9.9.9', 80), Date.now());
    const walk = s2.pipeline().attributor.refresh();
    const snapshot = w2.snapshot(true);
    const closed = s2.close();
    await expect(snapshot).rejects.toMatchObject({ code: 'CLOSED' });
    await walk; // the walk's promise settles (its answer is ignored)
    await closed;
    expect(w2.ended).toBe(true);
    expect(events2.map((e) => e.attribution)).toEqual([expect.objectContaining({ outcome: 'unattributed', reason: 'sensor closed' })]);
    await expect(w2.info()).rejects.toMatchObject({ code: 'CLOSED' });
    // Closing again is harmless.
    await s2.close();
    await w2.close();
  });

  it('a worker thread that dies mid-walk: the walk fails, flows end unattributed with the reason, close() still settles', async () => {
    const events: SensorEvent[] = [];
    const sensor = createSensor({
      policy: { version: 1 },
      emitAllowed: true,
      vms: [
        {
          name: 'dying',
          guest: { ips: [GUEST] },
          memory: 'dying:1',
          introspection: { modules: [new URL('../fixtures/introspect/dying-opener.mjs', import.meta.url).href] },
          attribution: { minRefreshIntervalMs: 5, batchDelayMs: 1, maxAttempts: 2 },
        },
      ],
    });
    try {
      sensor.on('event', (e) => events.push(e));
      await sensor.ready(); // the first walk (no refresh) answers; the next one ends the thread
      sensor.ingest(frame(1400, '10.9.9.9', 80), Date.now());
      await sensor.settle();
      expect(events.map((e) => e.attribution)).toEqual([
        expect.objectContaining({ outcome: 'unattributed', reason: 'introspector-error: introspection worker ended (exit code 3)' }),
      ]);
      expect(sensor.metrics().vms[0]!.attribution.refreshErrors).toBeGreaterThanOrEqual(1);
    } finally {
      await sensor.close();
    }
  });

  it('the asynchronous introspector answers what the synchronous one does', async () => {
    const sync = openIntrospector(image);
    const w = await openIntrospectorInWorker(image);
    try {
      const snap = await w.snapshot(false);
      expect(snap.processes.items).toEqual(sync.processes().items);
      expect(snap.connections.items).toEqual(sync.connections().items);
      expect(snap.sockets.items).toEqual(sync.sockets().items);
      expect(await w.info()).toEqual(sync.info());
      const c = sync.connections().items[0]!;
      expect(await w.lookupConnection(c)).toEqual(sync.lookupConnection(c));
      expect(await w.memoryMap(1484)).toEqual(sync.memoryMap(1484));
      await expect(openIntrospectorInWorker(join(dir, 'missing.raw'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      sync.close();
      await w.close();
    }
  });
});

describe('a Sensor that cannot be set up', () => {
  it('refuses before starting any thread, and releases what it started when a later VM fails', async () => {
    expect(() => createSensor({ policy: { version: 1 }, vms: [{ name: 'a', guest: { ips: [GUEST] }, memory: image }, { name: 'a', guest: { ips: [GUEST] } }] })).toThrow(/two VMs are named/);
    const w = WorkerIntrospector.start(image);
    // The second VM's introspector is not one: the pipeline refuses it after the first VM's worker started.
    expect(() =>
      createSensor({
        policy: { version: 1 },
        vms: [
          { name: 'a', guest: { ips: [GUEST] }, introspector: w },
          { name: 'b', guest: { ips: ['not an address'] } },
        ],
      }),
    ).toThrow(/not an address/);
    // The first VM's introspector was the sensor's to close: the close already began (close() returns it), the
    // opening was answered with CLOSED, and the thread ends.
    await expect(w.opened).rejects.toMatchObject({ code: 'CLOSED' });
    await w.close();
    expect(w.ended).toBe(true);
  });
});
