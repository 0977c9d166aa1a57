// The sensor end to end on a Windows XP guest image: `parasight watch --pcap --memory` attributes the captured
// connections through the real Windows introspector (tcpip.sys tables walked in guest memory) and reports the
// process whose own policy forbids what it does — the classic Cridex case: explorer.exe talking to its C2.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watch } from '../../src/cli/commands/watch.js';
import { analyze } from '../../src/cli/commands/analyze.js';
import type { SensorEvent } from '../../src/events/event.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import type { ImageTruth } from '../fixtures/windows/scenario.js';
import { buildFrame } from '../fixtures/packets/frames.js';
import { writePcap, type TimedFrame } from '../fixtures/packets/pcap-writer.js';
import { ensureBuilt } from '../lab/sensor-helpers.js';

const GUEST = '172.16.112.128';
let dir: string;
let truth: ImageTruth;
let pcap: string;
let rules: string;

beforeAll(() => {
  ensureBuilt(); // watch --memory opens the image on the sensor's worker thread, which runs the built package
  dir = mkdtempSync(join(tmpdir(), 'parasight-sensor-win-'));
  truth = buildImage(cridex({ memoryMiB: 32 }), join(dir, 'cridex.raw'));
  const frames: TimedFrame[] = [];
  let ts = Date.parse('2012-07-22T02:45:00Z');
  const add = (f: Uint8Array): void => void frames.push({ ts: (ts += 3), frame: f });
  // explorer.exe (pid 1484) → 41.168.5.140:8080, the connection the image's TCB table holds.
  add(buildFrame({ src: GUEST, dst: '41.168.5.140', proto: 'tcp', sport: 1038, dport: 8080, flags: 'S' }));
  add(buildFrame({ src: '41.168.5.140', dst: GUEST, proto: 'tcp', sport: 8080, dport: 1038, flags: 'SA' }));
  add(buildFrame({ src: GUEST, dst: '41.168.5.140', proto: 'tcp', sport: 1038, dport: 8080, flags: 'PA', payload: 200 }));
  // NTP to the guest's svchost (pid 1004 holds UDP 123 on the guest address): owned by the bound socket.
  add(buildFrame({ src: '172.16.112.2', dst: GUEST, proto: 'udp', sport: 123, dport: 123, payload: 48 }));
  // A connection the guest does not hold at all.
  add(buildFrame({ src: GUEST, dst: '10.9.9.9', proto: 'tcp', sport: 1200, dport: 80, flags: 'S' }));
  pcap = join(dir, 'cridex.pcap');
  writePcap(pcap, frames);
  rules = join(dir, 'rules.yaml');
  writeFileSync(
    rules,
    ['version: 1', 'processes:', '  - name: explorer.exe', '    mode: default-deny', '    rules:', '      - { direction: outbound, proto: tcp, rport: [80, 443] }', ''].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

describe('sensor on a Windows XP image', () => {
  it('watch --pcap --memory: explorer.exe parasitized, other flows with explicit outcomes', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await watch.run(['--pcap', pcap, '--memory', truth.path, '--rules', rules, '--guest-ip', GUEST, '--allowed', '--json']);
    vi.restoreAllMocks();
    expect(code).toBe(1);
    const events = out.join('').trim().split('\n').map((l) => JSON.parse(l) as SensorEvent);
    const p = events.filter((e) => e.type === 'process.parasitized');
    expect(p).toHaveLength(1);
    const explorer = truth.processes.find((x) => x.pid === 1484)!;
    expect(p[0]).toMatchObject({
      process: { pid: 1484, name: 'explorer.exe', path: explorer.path, create_time: explorer.createTime, create_time_base: 'epoch' },
      flow: { proto: 'tcp', local: GUEST, lport: 1038, remote: '41.168.5.140', rport: 8080, direction: 'outbound' },
      rule: 'explorer.exe#mode',
      attribution: { outcome: 'attributed' },
    });
    const ntp = events.find((e) => e.flow?.proto === 'udp')!;
    expect(ntp).toMatchObject({ type: 'connection.allowed', process: { pid: 1004 }, attribution: { outcome: 'inbound-to-listener' } });
    const unknown = events.find((e) => e.flow?.remote === '10.9.9.9')!;
    expect(unknown).toMatchObject({ process: null, attribution: { outcome: 'unattributed', reason: 'not-found-in-guest' } });
  });

  it('analyze --pcap: the same events beside the image report; guest address taken from the image', async () => {
    const run = async (args: string[]): Promise<{ code: number; doc: { events: SensorEvent[]; connections: unknown[] } }> => {
      const out: string[] = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
      const code = await analyze.run(args);
      vi.restoreAllMocks();
      return { code, doc: JSON.parse(out.join('')) };
    };
    const plain = await run(['--memory', truth.path, '--pcap', pcap, '--json']);
    expect(plain.code).toBe(0);
    expect(plain.doc.connections).toHaveLength(1);
    expect(plain.doc.events.map((e) => [e.type, e.process?.name ?? null, e.attribution.outcome])).toEqual([
      ['connection.allowed', 'explorer.exe', 'attributed'],
      ['connection.allowed', 'svchost.exe', 'inbound-to-listener'],
      ['connection.allowed', null, 'unattributed'],
    ]);
    const judged = await run(['--memory', truth.path, '--pcap', pcap, '--rules', rules, '--json']);
    expect(judged.code).toBe(1);
    expect(judged.doc.events.filter((e) => e.type === 'process.parasitized').map((e) => e.process?.pid)).toEqual([1484]);
  });
});
