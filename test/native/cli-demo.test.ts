// `parasight demo`: the bundled inputs equal what their generator makes today, and the demo finds the injected
// explorer.exe by its C2 connection while the legitimate services pass.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demo, demoInputs } from '../../src/cli/commands/demo.js';
import { decompress } from '../../src/profiles/compressed.js';
import { writeDemoImage, writeDemoPcap } from '../fixtures/demo/inputs.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-demo-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const update = process.env.PARASIGHT_UPDATE_DEMO === '1';

describe('bundled demo inputs', () => {
  it('the image is what the generator builds', () => {
    const fresh = join(dir, 'image.raw');
    writeDemoImage(fresh);
    if (update) {
      execFileSync('sh', ['-c', `xz -9e -T1 -c "${fresh}" > "${demoInputs.image}"`]);
    }
    const bundled = decompress('xz', readFileSync(demoInputs.image), 1 << 30);
    expect(Buffer.compare(bundled, readFileSync(fresh))).toBe(0);
  });

  it('the capture is what the generator builds', () => {
    const fresh = join(dir, 'capture.pcap');
    writeDemoPcap(fresh);
    if (update) writeFileSync(demoInputs.pcap, readFileSync(fresh));
    expect(Buffer.compare(readFileSync(demoInputs.pcap), readFileSync(fresh))).toBe(0);
  });
});

describe('parasight demo', () => {
  it('flags explorer.exe as parasitized by its C2 connection and lets the services pass', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    expect(await demo.run(['--offline', '--json'])).toBe(0);
    vi.restoreAllMocks();
    const doc = JSON.parse(out.join('')) as { events: Array<Record<string, any>>; guest: { os: string } };
    expect(doc.guest.os).toBe('windows');
    const abnormal = doc.events.filter((e) => e.type === 'connection.abnormal');
    expect(abnormal).toHaveLength(1);
    expect(abnormal[0]).toMatchObject({
      process: expect.objectContaining({ pid: 1484, name: 'explorer.exe' }),
      flow: expect.objectContaining({ remote: '41.168.5.140', rport: 8080, lport: 1038, direction: 'outbound' }),
      verdict: 'deny',
    });
    expect(doc.events.some((e) => e.type === 'process.parasitized' && e.process?.pid === 1484)).toBe(true);
    const allowed = doc.events.filter((e) => e.type === 'connection.allowed' && e.process != null);
    expect(allowed.map((e) => `${e.process?.name}:${e.flow.lport}`).sort()).toEqual(['svchost.exe:123', 'svchost.exe:1900']);
    // The closed C2 connection has no owner left in the guest: reported, never silently dropped.
    expect(doc.events.some((e) => e.flow?.lport === 1037 && e.process == null && e.attribution?.outcome === 'unattributed')).toBe(true);
  });

  it('prints a readable report', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    expect(await demo.run(['--offline'])).toBe(0);
    vi.restoreAllMocks();
    expect(out.join('')).toMatch(/explorer\.exe\[1484\].*41\.168\.5\.140:8080 deny/);
  });
});
