import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watch } from '../../../src/cli/commands/watch.js';
import { learn } from '../../../src/cli/commands/learn.js';
import { registerIntrospector } from '../../../src/introspect/open.js';
import { parsePolicy } from '../../../src/rules/load.js';
import { factsFor } from '../../../src/rules/policy.js';
import { UsageError } from '../../../src/cli/command.js';
import { buildFrame } from '../../fixtures/packets/frames.js';
import { writePcap, type TimedFrame } from '../../fixtures/packets/pcap-writer.js';
import { MemoryIntrospector } from '../../fixtures/introspect/memory-introspector.js';
import { ensureBuilt } from '../../lab/sensor-helpers.js';

const GUEST_MAC = '52:54:00:00:00:10';
let dir: string;
let pcap: string;

function tcp(sport: number, dst: string, dport: number, flags: string, outbound = true): Uint8Array {
  return outbound
    ? buildFrame({ srcMac: GUEST_MAC, dstMac: '52:54:00:00:00:20', src: '10.0.0.2', dst, proto: 'tcp', sport, dport, flags })
    : buildFrame({ srcMac: '52:54:00:00:00:20', dstMac: GUEST_MAC, src: dst, dst: '10.0.0.2', proto: 'tcp', sport: dport, dport: sport, flags });
}

beforeAll(() => {
  // `--memory` images are opened on the sensor's worker thread, which runs the built package.
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'parasight-cli-'));
  pcap = join(dir, 'traffic.pcap');
  const frames: TimedFrame[] = [];
  let ts = 1_700_000_000_000;
  for (const [sport, dst, dport] of [[40000, '10.0.0.9', 443], [40001, '10.0.0.9', 443], [40002, '203.0.113.5', 25]] as const) {
    for (const [f, out] of [['S', true], ['SA', false], ['A', true]] as const) frames.push({ ts: (ts += 1), frame: tcp(sport, dst, dport, f, out) });
  }
  writePcap(pcap, frames);
  // A "guest" for --memory: the updater owns the two 443 connections.
  registerIntrospector(function testGuest(spec) {
    if (spec.memory !== 'test:guest') return undefined;
    const g = new MemoryIntrospector();
    g.addProcess(300, 'updater', '/usr/bin/updater');
    g.connectionList.push(g.connection(300, 'tcp', '10.0.0.2', 40000, '10.0.0.9', 443), g.connection(300, 'tcp', '10.0.0.2', 40001, '10.0.0.9', 443));
    return g;
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function capture(): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  return { out, err };
}

describe('parasight watch', () => {
  it('reads a capture, prints NDJSON events and exits 1 on findings', async () => {
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'version: 1\ndefault:\n  mode: default-allow\n  rules:\n    - rport: 25\n');
    const { out, err } = capture();
    const code = await watch.run(['--pcap', pcap, '--rules', rules, '--guest-mac', GUEST_MAC, '--json']);
    vi.restoreAllMocks();
    expect(code).toBe(1);
    const events = out.join('').trim().split('\n').map((l) => JSON.parse(l));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ schema: 'parasight.event/1', type: 'connection.abnormal', vm: 'traffic.pcap', flow: { rport: 25 }, process: null, attribution: { outcome: 'unattributed', reason: 'no-introspector' } });
    expect(err.join('')).toMatch(/9 packets \(0 malformed\), 3 flows/);
  });

  it('exits 0 when nothing is abnormal', async () => {
    const rules = join(dir, 'allow.json');
    writeFileSync(rules, JSON.stringify({ version: 1 }));
    capture();
    expect(await watch.run(['--pcap', pcap, '--rules', rules, '--guest-ip', '10.0.0.2', '--json'])).toBe(0);
  });

  it('usage errors', async () => {
    await expect(watch.run(['--pcap', pcap, '--guest-mac', GUEST_MAC])).rejects.toThrow(UsageError);
    await expect(watch.run(['--pcap', pcap, '--rules', 'x'])).rejects.toThrow(/--guest-mac/);
    await expect(watch.run(['--pcap', pcap, '--iface', 'eth0', '--rules', 'x', '--guest-ip', '10.0.0.2'])).rejects.toThrow(/exactly one/);
    await expect(watch.run(['--bogus'])).rejects.toThrow(UsageError);
    await expect(watch.run(['--pcap', pcap, '--rules', 'x', '--guest-ip', '10.0.0.2', '--enforce'])).rejects.toThrow(/--enforce needs live capture/);
  });

  it('an unknown guest is a clear error', async () => {
    const rules = join(dir, 'allow.json');
    // A memory image no built-in OS opener recognises (all zeros).
    writeFileSync(join(dir, 'nothing.raw'), new Uint8Array(1 << 20));
    await expect(watch.run(['--pcap', pcap, '--rules', rules, '--guest-ip', '10.0.0.2', '--memory', join(dir, 'nothing.raw')])).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringMatching(/no introspector for this guest/),
    });
  });
});

describe('parasight learn', () => {
  it('writes learned rules for the single-purpose program', async () => {
    const outFile = join(dir, 'learned.yaml');
    const { err } = capture();
    const code = await learn.run(['--pcap', pcap, '--memory', 'test:guest', '--guest-mac', GUEST_MAC, '--out', outFile]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    expect(err.join('')).toMatch(/rules for 1 program/);
    const p = parsePolicy(readFileSync(outFile, 'utf8'), outFile);
    expect(p.spec.processes).toHaveLength(1);
    expect(p.decide('updater', '/usr/bin/updater', factsFor('outbound', 6, '10.0.0.9', 443, 40100))).toMatchObject({ action: 'allow', learned: true });
    expect(p.decide('updater', '/usr/bin/updater', factsFor('outbound', 6, '203.0.113.5', 25, 40100)).action).toBe('deny');
  });
});
