import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { createSensor, type Sensor } from '../../../src/sensor/sensor.js';
import { register as globalRegistry, Registry } from 'prom-client';
import type { SensorEvent } from '../../../src/events/event.js';
import type { PolicySpec } from '../../../src/rules/policy.js';
import { buildFrame, type FrameSpec } from '../../fixtures/packets/frames.js';
import { MemoryIntrospector } from '../../fixtures/introspect/memory-introspector.js';

const GUEST = '10.0.0.2';
const GUEST_MAC = '52:54:00:00:00:10';
const PEER_MAC = '52:54:00:00:00:20';

const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../../schema/event.schema.json', import.meta.url)), 'utf8'));
const validateEvent = new Ajv({ allErrors: true, strict: false }).compile(schema);

const policy: PolicySpec = {
  version: 1,
  default: { mode: 'default-allow', rules: [{ direction: 'outbound', proto: 'tcp', rport: 25 }] },
  processes: [
    { name: 'curl', mode: 'default-deny', rules: [{ direction: 'outbound', proto: 'tcp', remote: '10.0.0.9', rport: 443 }] },
    { name: 'sshd', mode: 'default-deny', rules: [{ direction: 'inbound', proto: 'tcp', lport: 22 }] },
  ],
};

function out(spec: Partial<FrameSpec>): Uint8Array {
  return buildFrame({ srcMac: GUEST_MAC, dstMac: PEER_MAC, src: GUEST, dst: '10.0.0.9', proto: 'tcp', ...spec });
}
function inb(spec: Partial<FrameSpec>): Uint8Array {
  return buildFrame({ srcMac: PEER_MAC, dstMac: GUEST_MAC, src: '10.0.0.9', dst: GUEST, proto: 'tcp', ...spec });
}

let sensor: Sensor | undefined;
afterEach(() => sensor?.close());

function setup(opts: { introspector?: MemoryIntrospector; emitAllowed?: boolean; policy?: PolicySpec } = {}) {
  const intro = opts.introspector ?? new MemoryIntrospector();
  const events: SensorEvent[] = [];
  sensor = createSensor({
    policy: opts.policy ?? policy,
    emitAllowed: opts.emitAllowed,
    vms: [{ name: 'vm1', guest: { macs: [GUEST_MAC] }, introspector: intro, attribution: { minRefreshIntervalMs: 20, maxAttempts: 2, batchDelayMs: 1 } }],
  });
  sensor.on('event', (e) => events.push(e));
  let ts = 1_700_000_000_000;
  const send = (f: Uint8Array): void => sensor!.ingest(f, (ts += 1));
  return { intro, events, send, s: sensor };
}

function connect(send: (f: Uint8Array) => void, sport: number, remote: string, rport: number): void {
  send(out({ dst: remote, sport, dport: rport, flags: 'S' }));
  send(inb({ src: remote, sport: rport, dport: sport, flags: 'SA' }));
  send(out({ dst: remote, sport, dport: rport, flags: 'A' }));
}

describe('Sensor end to end (in-memory guest)', () => {
  it('allowed connection: no alert; injected behaviour: one process.parasitized with pid, name, evidence', async () => {
    const intro = new MemoryIntrospector();
    intro.addProcess(100, 'curl', '/usr/bin/curl');
    intro.connectionList.push(intro.connection(100, 'tcp', GUEST, 40000, '10.0.0.9', 443));
    const { events, send, s } = setup({ introspector: intro });
    connect(send, 40000, '10.0.0.9', 443);
    await s.settle();
    expect(events).toEqual([]);

    // The same process later connects elsewhere (twice): found only after a walk (opened after the last snapshot).
    intro.pendingConnections.push(intro.connection(100, 'tcp', GUEST, 40001, '203.0.113.66', 4444), intro.connection(100, 'tcp', GUEST, 40002, '203.0.113.67', 4444));
    connect(send, 40001, '203.0.113.66', 4444);
    connect(send, 40002, '203.0.113.67', 4444);
    await s.settle();
    const parasitized = events.filter((e) => e.type === 'process.parasitized');
    expect(parasitized).toHaveLength(1);
    expect(parasitized[0]).toMatchObject({
      vm: 'vm1',
      process: { pid: 100, name: 'curl', path: '/usr/bin/curl', create_time: 1100 },
      flow: { local: GUEST, lport: 40001, remote: '203.0.113.66', rport: 4444, direction: 'outbound', proto: 'tcp' },
      verdict: 'deny',
      risk: 'high',
      rule: 'curl#mode',
      attribution: { outcome: 'attributed' },
    });
    expect(parasitized[0]!.evidence.map((e) => e.kind)).toEqual(['connection', 'policy', 'process']);
    // connection.abnormal: the first in full, the second rate-limited into a summary with a count.
    expect(events.filter((e) => e.type === 'connection.abnormal' && e.count === 1)).toHaveLength(1);
    s.flushEvents();
    const summary = events.filter((e) => e.type === 'connection.abnormal' && e.count > 1 || (e.type === 'connection.abnormal' && /rate-limited/.test(e.reason)));
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ count: 1, flow: { remote: '203.0.113.67' } });
    for (const e of events) expect(validateEvent(e), JSON.stringify(validateEvent.errors)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    // The schema is strict where it matters: a sensor event needs its attribution and an allow/deny verdict.
    const { attribution: _a, ...noAttribution } = parasitized[0]!;
    expect(validateEvent(noAttribution)).toBe(false);
    expect(validateEvent({ ...parasitized[0]!, verdict: 'clean' })).toBe(false);
    expect(validateEvent({ ...parasitized[0]!, extra: 1 })).toBe(false);
  });

  it('events are dated by capture time, and rate-limit windows run on the capture clock', async () => {
    const intro = new MemoryIntrospector();
    intro.addProcess(100, 'curl', '/usr/bin/curl');
    const t0 = Date.UTC(2021, 4, 1, 12, 0, 0);
    const conns: Array<[number, number]> = [[40010, t0], [40011, t0 + 5_000], [40012, t0 + 120_000]];
    for (const [sport] of conns) intro.connectionList.push(intro.connection(100, 'tcp', GUEST, sport, '203.0.113.66', 4444));
    sensor = createSensor({ policy, vms: [{ name: 'vm1', guest: { macs: [GUEST_MAC] }, introspector: intro, attribution: { minRefreshIntervalMs: 20, batchDelayMs: 1 } }] });
    const events: SensorEvent[] = [];
    sensor.on('event', (e) => events.push(e));
    for (const [sport, t] of conns) {
      sensor.ingest(out({ dst: '203.0.113.66', sport, dport: 4444, flags: 'S' }), t);
      await sensor.settle();
    }
    const abnormal = events.filter((e) => e.type === 'connection.abnormal');
    // 40010 opens a window, 40011 falls in it (5 s later by the capture), 40012 (2 min later) closes it and opens
    // the next: a summary of one, then 40012 in full — whatever the wall clock did meanwhile.
    expect(abnormal.map((e) => [e.flow?.lport, e.count, e.ts])).toEqual([
      [40010, 1, new Date(t0).toISOString()],
      [40011, 1, new Date(t0 + 120_000).toISOString()],
      [40012, 1, new Date(t0 + 120_000).toISOString()],
    ]);
    expect(abnormal[1]!.reason).toMatch(/rate-limited/);
    expect(events.find((e) => e.type === 'process.parasitized')?.ts).toBe(new Date(t0).toISOString());
  });

  it('later packets reuse the cached verdict (no further attribution)', async () => {
    const intro = new MemoryIntrospector();
    intro.addProcess(100, 'curl');
    intro.connectionList.push(intro.connection(100, 'tcp', GUEST, 40010, '198.51.100.1', 80));
    const { send, s } = setup({ introspector: intro });
    connect(send, 40010, '198.51.100.1', 80);
    await s.settle();
    const before = s.metrics().vms[0]!;
    for (let i = 0; i < 100; i++) send(out({ dst: '198.51.100.1', sport: 40010, dport: 80, flags: 'PA', payload: 100 }));
    const after = s.metrics().vms[0]!;
    expect(after.flows.created).toBe(before.flows.created);
    expect(after.attribution.outcomes).toEqual(before.attribution.outcomes);
    expect(after.deniedPackets - before.deniedPackets).toBe(100);
  });

  it('inbound to a listener, unattributed and closed-before-attribution are explicit outcomes', async () => {
    const intro = new MemoryIntrospector();
    intro.addProcess(22, 'sshd', '/usr/sbin/sshd');
    intro.listen(22, 'tcp', '0.0.0.0', 22);
    const { events, send, s } = setup({ introspector: intro, emitAllowed: true });
    send(inb({ sport: 50000, dport: 22, flags: 'S' }));
    send(out({ sport: 9999, dport: 25, flags: 'S' })); // nobody in the guest owns it; fallback denies port 25
    send(out({ sport: 9998, dport: 8080, flags: 'S' }));
    send(inb({ sport: 8080, dport: 9998, flags: 'RA' })); // refused at once
    await s.settle();
    const m = s.metrics().vms[0]!.attribution;
    expect(m.outcomes).toEqual({ attributed: 0, 'inbound-to-listener': 1, 'closed-before-attribution': 1, unattributed: 1 });
    const byPort = (p: number) => events.find((e) => e.flow?.lport === p);
    expect(byPort(22)).toMatchObject({ type: 'connection.allowed', process: { pid: 22, name: 'sshd' }, attribution: { outcome: 'inbound-to-listener' } });
    expect(byPort(9999)).toMatchObject({ type: 'connection.abnormal', process: null, rule: 'default#0', attribution: { outcome: 'unattributed', reason: 'not-found-in-guest' } });
    expect(byPort(9998)).toMatchObject({ type: 'connection.allowed', attribution: { outcome: 'closed-before-attribution' } });
    for (const e of events) expect(validateEvent(e), JSON.stringify(validateEvent.errors)).toBe(true);
  });

  it('a flood of unknown flows is served by a few coalesced walks, not one per flow', async () => {
    const intro = new MemoryIntrospector();
    const { send, s } = setup({ introspector: intro });
    for (let i = 0; i < 500; i++) send(out({ proto: 'udp', dst: `198.51.100.${i % 250}`, sport: 10000 + i, dport: 53 }));
    await s.settle();
    const a = s.metrics().vms[0]!.attribution;
    expect(a.outcomes.unattributed).toBe(500);
    // 1 initial walk + maxAttempts (2) rounds for the whole batch.
    expect(intro.refreshes).toBeLessThanOrEqual(3);
  });

  it('introspector failures end as unattributed with the error as reason', async () => {
    const intro = new MemoryIntrospector();
    intro.failRefresh = 'guest memory unreadable';
    const { events, send, s } = setup({ introspector: intro });
    send(out({ sport: 1, dport: 25, flags: 'S' }));
    await s.settle();
    expect(events[0]).toMatchObject({ attribution: { outcome: 'unattributed', reason: 'introspector-error: guest memory unreadable' } });
  });

  it('policy reload keeps flows and re-decides them', async () => {
    const intro = new MemoryIntrospector();
    intro.addProcess(100, 'curl');
    intro.connectionList.push(intro.connection(100, 'tcp', GUEST, 40020, '10.0.0.9', 443));
    const { events, send, s } = setup({ introspector: intro });
    connect(send, 40020, '10.0.0.9', 443);
    await s.settle();
    expect(events).toEqual([]);
    s.policyStore.replace({ version: 1, processes: [{ name: 'curl', mode: 'default-deny', rules: [] }] });
    expect(events.map((e) => e.type)).toEqual(['process.parasitized', 'connection.abnormal']);
    // Dated by the capture clock at the reload (the capture's time plus the little wall time since), not the wall clock.
    for (const e of events) expect(Date.parse(e.ts) - 1_700_000_000_001).toSatisfy((d: number) => d >= 0 && d < 60_000);
    expect(s.metrics().vms[0]!.flows.flows).toBe(1);
    expect(s.metrics().policyGeneration).toBe(2);
  });

  it('async iterator receives events and ends on close', async () => {
    const intro = new MemoryIntrospector();
    intro.addProcess(7, 'curl');
    intro.connectionList.push(intro.connection(7, 'tcp', GUEST, 1234, '192.0.2.1', 80));
    const { send, s } = setup({ introspector: intro });
    const it = s.events();
    connect(send, 1234, '192.0.2.1', 80);
    const first = await it.next();
    expect(first.value).toMatchObject({ type: 'process.parasitized', process: { pid: 7 } });
    s.close();
    const rest: SensorEvent[] = [];
    for await (const e of it) rest.push(e);
    expect(rest.map((e) => e.type)).toEqual(['connection.abnormal']);
    expect(intro.closed).toBe(true);
  });
});

describe('metrics', () => {
  /** Prometheus text → { 'name{labels}': value }. */
  function samples(text: string): Map<string, number> {
    const m = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const at = line.lastIndexOf(' ');
      m.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return m;
  }

  it('counts packets, flows and outcomes, and renders Prometheus text through its own registry', async () => {
    const { send, s } = setup();
    send(out({ sport: 5, dport: 80, flags: 'S' }));
    send(out({ sport: 5, dport: 80, flags: 'A' }));
    send(Uint8Array.from([1, 2, 3])); // truncated
    await s.settle();
    const m = s.metrics();
    expect(m.vms[0]).toMatchObject({ vm: 'vm1', decode: { frames: 3, malformed: 1 }, flows: { created: 1, flows: 1 } });
    expect(m.vms[0]!.attribution.outcomes.unattributed).toBe(1);
    const text = await s.prometheusText();
    expect(text).toContain('# TYPE parasight_packets_total counter');
    expect(text).toContain('# TYPE parasight_attribution_latency_seconds histogram');
    const v = samples(text);
    expect(v.get('parasight_packets_total{vm="vm1"}')).toBe(3);
    expect(v.get('parasight_packets_malformed_total{vm="vm1"}')).toBe(1);
    expect(v.get('parasight_flows{vm="vm1"}')).toBe(1);
    expect(v.get('parasight_attribution_total{vm="vm1",outcome="unattributed"}')).toBe(1);
    expect(v.get('parasight_attribution_total{vm="vm1",outcome="attributed"}')).toBe(0);
    // One observation, in the histogram's +Inf bucket and its count.
    expect(v.get('parasight_attribution_latency_seconds_count{vm="vm1",outcome="unattributed"}')).toBe(1);
    expect(v.get('parasight_attribution_latency_seconds_bucket{le="+Inf",vm="vm1",outcome="unattributed"}')).toBe(1);
    expect(v.get('parasight_events_total')).toBe(m.events.emitted);
    expect(v.has('parasight_event_loop_lag_seconds{quantile="0.99"}')).toBe(true);
    expect(v.get('parasight_introspector_state{vm="vm1",state="ready"}')).toBe(1);
    expect(v.get('parasight_introspector_state{vm="vm1",state="opening"}')).toBe(0);
    expect(v.get('parasight_guest_walk_last_seconds{vm="vm1"}')).toBeGreaterThanOrEqual(0);
    // Every sample line is `name{labels} value` or `name value`.
    for (const line of text.trim().split('\n')) if (line) expect(line).toMatch(/^(# (HELP|TYPE) .+|[a-z_][a-z0-9_]*(\{[^}]*\})? [-+\w.]+)$/);
    // The embedder's global registry is left alone.
    expect(await globalRegistry.metrics()).not.toContain('parasight_');
  });

  it('two sensors in one process keep their own figures; a shared registry needs a prefix and is cleaned on close', async () => {
    const a = setup();
    const sensorA = a.s;
    const b = createSensor({ policy, vms: [{ name: 'vm2', guest: { macs: [GUEST_MAC] } }] });
    try {
      a.send(out({ sport: 5, dport: 80, flags: 'S' }));
      for (let i = 0; i < 4; i++) b.ingest(out({ sport: 6, dport: 80, flags: 'S' }), 1_700_000_000_000 + i);
      expect(samples(await sensorA.prometheusText()).get('parasight_packets_total{vm="vm1"}')).toBe(1);
      expect(samples(await b.prometheusText()).get('parasight_packets_total{vm="vm2"}')).toBe(4);
      expect(await b.prometheusText()).not.toContain('vm1');

      const shared = new Registry();
      const c = createSensor({ policy, vms: [{ name: 'c' , guest: { macs: [GUEST_MAC] } }], prometheus: { registry: shared, prefix: 'c_' } });
      const d = createSensor({ policy, vms: [{ name: 'd', guest: { macs: [GUEST_MAC] } }], prometheus: { registry: shared, prefix: 'd_' } });
      expect(() => createSensor({ policy, vms: [{ name: 'e', guest: { macs: [GUEST_MAC] } }], prometheus: { registry: shared, prefix: 'd_' } })).toThrow(/already been registered/);
      c.ingest(out({ sport: 7, dport: 80, flags: 'S' }), 1_700_000_000_000);
      const both = samples(await shared.metrics());
      expect(both.get('c_packets_total{vm="c"}')).toBe(1);
      expect(both.get('d_packets_total{vm="d"}')).toBe(0);
      c.close();
      const after = await shared.metrics();
      expect(after).not.toContain('c_packets_total');
      expect(after).toContain('d_packets_total');
      d.close();
      expect(shared.getMetricsAsArray()).toHaveLength(0);
    } finally {
      b.close();
    }
  });

  it('serves /metrics over HTTP until closed', async () => {
    const { send, s } = setup();
    send(out({ sport: 5, dport: 80, flags: 'S' }));
    const addr = await s.serveMetrics(0);
    const res = await fetch(`http://127.0.0.1:${addr.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(samples(await res.text()).get('parasight_packets_total{vm="vm1"}')).toBe(1);
    expect((await fetch(`http://127.0.0.1:${addr.port}/other`)).status).toBe(404);
    s.close();
    await expect(fetch(`http://127.0.0.1:${addr.port}/metrics`)).rejects.toThrow();
  });
});
