// Attribution through an asynchronous introspector whose answers the test releases by hand: flows stay pending
// while the guest opens and while a walk is in flight, one request (a walk or a batch of per-flow lookups) at a
// time, a flow the lookup finds needs no walk, answers that come after close() are ignored, and failed walks end as
// explicit outcomes.
import { afterEach, describe, expect, it } from 'vitest';
import { createSensor, type Sensor } from '../../../src/sensor/sensor.js';
import { asyncIntrospector, type AsyncGuestIntrospector, type GuestSnapshot } from '../../../src/introspect/async.js';
import type { ConnectionOwner, GuestInfo, GuestSocketTuple } from '../../../src/introspect/types.js';
import type { SensorEvent } from '../../../src/events/event.js';
import { buildFrame } from '../../fixtures/packets/frames.js';
import { MemoryIntrospector } from '../../fixtures/introspect/memory-introspector.js';
import { NOT_A_SOCKET_FLOW } from '../../../src/sensor/attributor.js';

const GUEST = '10.0.0.2';

interface Gate<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}
function gate<T>(): Gate<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** The guest's answers arrive when the test says so. */
class GatedIntrospector implements AsyncGuestIntrospector {
  readonly runsOn = 'worker' as const;
  readonly guest = new MemoryIntrospector();
  private readonly inner = asyncIntrospector(this.guest);
  readonly openGate = gate<GuestInfo>();
  readonly opened = this.openGate.promise;
  readonly walks: Array<Gate<void>> = [];
  readonly lookups: Array<Gate<void>> = [];
  closed = false;
  info = () => this.inner.info();
  lookupConnection: AsyncGuestIntrospector['lookupConnection'] = (t) => this.inner.lookupConnection(t);
  memoryMap: AsyncGuestIntrospector['memoryMap'] = (pid) => this.inner.memoryMap(pid);
  async lookupMany(tuples: GuestSocketTuple[]): Promise<Array<ConnectionOwner | null>> {
    const g = gate<void>();
    this.lookups.push(g);
    await g.promise;
    return this.inner.lookupMany(tuples);
  }
  async snapshot(refresh: boolean): Promise<GuestSnapshot> {
    const g = gate<void>();
    this.walks.push(g);
    await g.promise;
    return this.inner.snapshot(refresh);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const frame = (sport: number, dst: string, dport = 443): Uint8Array => buildFrame({ src: GUEST, dst, proto: 'tcp', sport, dport, flags: 'S' });
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits until `cond` holds (a slow machine only makes it take longer). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await tick(2);
  }
}

let sensor: Sensor | undefined;
afterEach(async () => {
  await sensor?.close();
  sensor = undefined;
});

/** Opens the guest and lets its first walk answer. */
async function firstWalkDone(intro: GatedIntrospector): Promise<void> {
  intro.openGate.resolve(await intro.info());
  await until(() => intro.walks.length === 1, 'the first walk starts');
  intro.walks[0]!.resolve();
  await tick(5);
}

function setup(intro: GatedIntrospector): { events: SensorEvent[]; s: Sensor } {
  const events: SensorEvent[] = [];
  sensor = createSensor({
    policy: { version: 1 },
    emitAllowed: true,
    vms: [{ name: 'vm', guest: { ips: [GUEST] }, introspector: intro, attribution: { minRefreshIntervalMs: 10, batchDelayMs: 1, maxAttempts: 2 } }],
  });
  sensor.on('event', (e) => events.push(e));
  return { events, s: sensor };
}

describe('attribution through an asynchronous introspector', () => {
  it('flows wait while the guest opens and while a walk is in flight; one walk at a time', async () => {
    const intro = new GatedIntrospector();
    intro.guest.addProcess(100, 'curl');
    intro.guest.connectionList.push(intro.guest.connection(100, 'tcp', GUEST, 40000, '192.0.2.1', 443));
    const { events, s } = setup(intro);
    s.ingest(frame(40000, '192.0.2.1'), 1);
    await tick(20);
    expect(s.metrics().vms[0]!.attribution).toMatchObject({ introspector: 'opening', pending: 1, refreshes: 0 });
    expect(intro.walks).toHaveLength(0);

    intro.openGate.resolve(await intro.info());
    await until(() => intro.walks.length === 1, 'the first walk starts');
    // Packets keep flowing during the walk: a new flow waits, no second walk starts.
    s.ingest(frame(40001, '192.0.2.2'), 2);
    await tick(30);
    expect(intro.walks).toHaveLength(1);
    expect(s.metrics().vms[0]!.attribution).toMatchObject({ introspector: 'ready', pending: 2 });

    intro.walks[0]!.resolve();
    // The first walk (the snapshot the guest was opened with) answered the first flow; the second one, opened after
    // it, is looked up on its own first, once the walk has answered.
    await until(() => intro.lookups.length === 1, 'the lookup starts');
    expect(events.map((e) => [e.flow?.lport, e.process?.pid, e.attribution.outcome])).toEqual([[40000, 100, 'attributed']]);
    expect(s.metrics().vms[0]!.attribution.pending).toBe(1);
    await tick(30);
    expect(intro.walks).toHaveLength(1);
    // The guest shows the connection only after the lookup's own walk: the lookup misses, and the next walk finds it.
    const refreshes = intro.guest.refreshes;
    intro.lookups[0]!.resolve();
    await until(() => intro.guest.refreshes === refreshes + 1, 'the lookup walks the guest');
    intro.guest.pendingConnections.push(intro.guest.connection(100, 'tcp', GUEST, 40001, '192.0.2.2', 443));
    await until(() => intro.walks.length === 2, 'the next walk starts');
    intro.walks[1]!.resolve();
    await until(() => events.length === 2, 'the second flow is attributed');
    expect(events.map((e) => [e.flow?.lport, e.process?.pid, e.attribution.outcome])).toEqual([
      [40000, 100, 'attributed'],
      [40001, 100, 'attributed'],
    ]);
    expect(s.metrics().vms[0]!.attribution).toMatchObject({ pending: 0, refreshes: 2, lookups: 1 });
  });

  it('a flow its own lookup finds is settled without a walk, with the process the lookup names', async () => {
    const intro = new GatedIntrospector();
    const { events, s } = setup(intro);
    await firstWalkDone(intro);
    // A process and connection that appeared after the walk: the index cannot know them, the guest search can.
    intro.guest.addProcess(300, 'wget', '/usr/bin/wget');
    intro.guest.connectionList.push(intro.guest.connection(300, 'tcp', GUEST, 40100, '203.0.113.7', 8080));
    s.ingest(frame(40100, '203.0.113.7', 8080), 1);
    await until(() => intro.lookups.length === 1, 'the lookup starts');
    intro.lookups[0]!.resolve();
    await until(() => events.length === 1, 'the flow is attributed');
    expect(events[0]).toMatchObject({ process: { pid: 300, name: 'wget', path: '/usr/bin/wget' }, attribution: { outcome: 'attributed' } });
    await tick(30);
    expect(intro.walks).toHaveLength(1);
    expect(s.metrics().vms[0]!.attribution).toMatchObject({ pending: 0, refreshes: 1, lookups: 1 });
  });

  it('a flood of unknown flows: one lookup batch misses, and the rest are left to rate-limited walks', async () => {
    const intro = new GatedIntrospector();
    const { events, s } = setup(intro);
    await firstWalkDone(intro);
    for (let i = 0; i < 200; i++) s.ingest(frame(41000 + i, '198.51.100.9'), 1);
    await until(() => intro.lookups.length === 1, 'the lookup starts');
    intro.lookups[0]!.resolve();
    // Each walk is released as it starts; with maxAttempts 2 every flow ends after two walks.
    for (let w = 1; w <= 2; w++) {
      await until(() => intro.walks.length === w + 1, `walk ${w + 1} starts`);
      intro.walks[w]!.resolve();
    }
    await until(() => events.length === 200, 'every flow has its outcome');
    expect(new Set(events.map((e) => e.attribution.outcome))).toEqual(new Set(['unattributed']));
    // Only the first batch was looked up flow by flow: its miss walked the guest, so nobody else got a lookup.
    expect(intro.lookups).toHaveLength(1);
    // That batch of 64 walked the guest once (its first miss), not once per flow; then the two walks.
    expect(intro.guest.refreshes).toBe(3);
    expect(s.metrics().vms[0]!.attribution).toMatchObject({ pending: 0, lookups: 1, refreshes: 3 });
  });

  it('a flow behind an unknown one in the same batch is answered by the walk that miss made, not by the next one', async () => {
    const intro = new GatedIntrospector();
    const { events, s } = setup(intro);
    await firstWalkDone(intro);
    intro.guest.addProcess(400, 'apt');
    // Visible from the next walk on: the first lookup's miss is that walk.
    intro.guest.pendingConnections.push(intro.guest.connection(400, 'tcp', GUEST, 40201, '192.0.2.80', 443));
    s.ingest(frame(40200, '198.51.100.66'), 1); // nothing in the guest owns this one
    s.ingest(frame(40201, '192.0.2.80'), 1);
    await until(() => intro.lookups.length === 1, 'the lookup starts');
    intro.lookups[0]!.resolve();
    await until(() => events.length === 1, 'the known flow is attributed');
    expect(events[0]).toMatchObject({ flow: { lport: 40201 }, process: { pid: 400, name: 'apt' }, attribution: { outcome: 'attributed' } });
    expect(intro.walks).toHaveLength(1);
    expect(intro.guest.refreshes).toBe(1);
  });

  it('ICMP and other non-socket flows get their outcome at once, with no lookup and no walk', async () => {
    const intro = new GatedIntrospector();
    const { events, s } = setup(intro);
    await firstWalkDone(intro);
    s.ingest(buildFrame({ src: GUEST, dst: '192.0.2.9', proto: 'icmp' }), 1);
    s.ingest(buildFrame({ src: GUEST, dst: '192.0.2.9', proto: 47 }), 1);
    await until(() => events.length === 2, 'both flows have their outcome');
    for (const e of events) expect(e.attribution).toMatchObject({ outcome: 'unattributed', reason: NOT_A_SOCKET_FLOW });
    await tick(30);
    expect(intro.lookups).toHaveLength(0);
    expect(intro.walks).toHaveLength(1);
  });

  it('close() while a walk is in flight: pending flows end as "sensor closed"; the late answer is ignored', async () => {
    const intro = new GatedIntrospector();
    const { events, s } = setup(intro);
    await firstWalkDone(intro);
    s.ingest(frame(40010, '198.51.100.1'), 1);
    await until(() => intro.lookups.length === 1, 'a lookup for the new flow starts');
    const closed = s.close();
    expect(events.map((e) => e.attribution)).toEqual([expect.objectContaining({ outcome: 'unattributed', reason: 'sensor closed' })]);
    intro.lookups[0]!.resolve();
    await closed;
    await tick(20);
    expect(events).toHaveLength(1);
    expect(intro.closed).toBe(true);
    expect(intro.walks).toHaveLength(1);
  });

  it('a failed walk and a guest that cannot be opened are explicit outcomes', async () => {
    const a = new GatedIntrospector();
    const first = setup(a);
    await firstWalkDone(a);
    first.s.ingest(frame(40020, '198.51.100.2'), 1);
    await until(() => a.lookups.length === 1, 'the lookup starts');
    a.lookups[0]!.resolve();
    for (let i = 1; i <= 2; i++) {
      await until(() => a.walks.length === i + 1, `walk ${i + 1} starts`);
      a.walks[i]!.reject(new Error('guest memory unreadable'));
    }
    await until(() => first.events.length === 1, 'the flow has its outcome');
    expect(first.events[0]!.attribution).toMatchObject({ outcome: 'unattributed', reason: 'introspector-error: guest memory unreadable' });
    expect(first.s.metrics().vms[0]!.attribution).toMatchObject({ refreshErrors: 2, pending: 0 });
    await first.s.close();

    const b = new GatedIntrospector();
    const second = setup(b);
    const errors: Error[] = [];
    second.s.on('error', (e) => errors.push(e));
    second.s.ingest(frame(40030, '198.51.100.3'), 1);
    const ready = second.s.ready().catch((e: Error) => e);
    b.openGate.reject(Object.assign(new Error('no kernel here'), { code: 'NOT_FOUND' }));
    expect(await ready).toMatchObject({ message: 'no kernel here' });
    expect(second.events[0]!.attribution).toMatchObject({ outcome: 'unattributed', reason: 'introspector-error: open failed: no kernel here' });
    expect(errors.map((e) => e.message)).toEqual(['VM vm: guest memory could not be opened: no kernel here']);
    expect(b.walks).toHaveLength(0);
  });
});
