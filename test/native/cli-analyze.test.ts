// `parasight analyze` on generated Windows images: tables and the JSON document name each connection's owner;
// bad input is a clear error.
import { describe, expect, it, beforeAll, afterAll, vi, afterEach } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../src/cli/commands/analyze.js';
import { UsageError } from '../../src/cli/command.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import type { ImageTruth } from '../fixtures/windows/scenario.js';
import { buildFrame } from '../fixtures/packets/frames.js';
import { writePcap, type TimedFrame } from '../fixtures/packets/pcap-writer.js';
import { captureStdout } from '../fixtures/stdout.js';

let dir: string;
let truth: ImageTruth;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-analyze-'));
  truth = buildImage(cridex({ memoryMiB: 32 }), join(dir, 'cridex.raw'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

describe('parasight analyze', () => {
  it('--json: one document with processes, connections and sockets joined to their owners', async () => {
    const out = captureStdout();
    expect(await analyze.run(['--memory', truth.path, '--json'])).toBe(0);
    vi.restoreAllMocks();
    const doc = JSON.parse(out.join(''));
    expect(doc.guest.os).toBe('windows');
    expect(doc.guest.paging).toBe('pae');
    expect(doc.guest.dtb).toBe('0x2fe000');
    expect(doc.discovery.kdbg).toBe('0x80545ae0');
    expect(doc.processes).toHaveLength(17);
    expect(doc.connections).toEqual([
      expect.objectContaining({ localAddress: '172.16.112.128', localPort: 1038, remoteAddress: '41.168.5.140', remotePort: 8080, pid: 1484, owner: 'explorer.exe', address: '0x81e87620' }),
    ]);
    expect(doc.sockets).toHaveLength(15);
    const rpc = doc.sockets.find((s: { localPort: number }) => s.localPort === 135);
    expect(rpc).toMatchObject({ proto: 'tcp', pid: 908, owner: 'svchost.exe', createTime: '2012-07-22T02:42:33Z', address: '0x81ec23b0' });
    expect(doc.sockets.find((s: { proto: unknown }) => s.proto === 255)).toMatchObject({ pid: 664, owner: 'lsass.exe' });
  });

  it('prints tables with the owner beside each connection', async () => {
    const out = captureStdout();
    expect(await analyze.run(['--memory', truth.path])).toBe(0);
    vi.restoreAllMocks();
    const text = out.join('');
    expect(text).toMatch(/Processes \(17\)/);
    expect(text).toMatch(/172\.16\.112\.128:1038\s+41\.168\.5\.140:8080\s+1484\s+explorer\.exe/);
    expect(text).toMatch(/Sockets \(15\)/);
  });

  it('accepts the DTB and KDBG from the user', async () => {
    const out = captureStdout();
    expect(await analyze.run(['--memory', truth.path, '--dtb', '0x2fe000', '--kdbg', '0x80545ae0', '--json'])).toBe(0);
    vi.restoreAllMocks();
    const doc = JSON.parse(out.join(''));
    expect(doc.discovery).toMatchObject({ dtbFoundBy: 'user', kdbgFoundBy: 'user' });
    expect(doc.connections[0].owner).toBe('explorer.exe');
  });

  it('--pcap: the capture of the C&C connection is attributed to explorer.exe through the image', async () => {
    const pcap = join(dir, 'cridex.pcap');
    const guest = { mac: '00:0c:29:aa:bb:cc', ip: '172.16.112.128' };
    const peer = { mac: '00:50:56:c0:00:08', ip: '41.168.5.140' };
    const frames: TimedFrame[] = [];
    let ts = Date.parse('2012-07-22T02:45:00Z');
    for (const [flags, out] of [['S', true], ['SA', false], ['A', true], ['PA', true]] as const) {
      const [a, b] = out ? [guest, peer] : [peer, guest];
      frames.push({ ts: (ts += 5), frame: buildFrame({ srcMac: a.mac, dstMac: b.mac, src: a.ip, dst: b.ip, proto: 'tcp', sport: out ? 1038 : 8080, dport: out ? 8080 : 1038, flags }) });
    }
    writePcap(pcap, frames);
    const out = captureStdout();
    // On a terminal, reading the capture shows progress on stderr; stdout stays one JSON document.
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
    const wasTty = process.stderr.isTTY;
    process.stderr.isTTY = true;
    try {
      expect(await analyze.run(['--memory', truth.path, '--pcap', pcap, '--json'])).toBe(0);
    } finally {
      process.stderr.isTTY = wasTty;
      vi.restoreAllMocks();
    }
    expect(err.join('')).toMatch(new RegExp(`finding the guest kernel in ${truth.path} \\.\\.\\.[^]*reading ${pcap}: 100%`));
    const doc = JSON.parse(out.join(''));
    const e = doc.events.find((x: { flow?: { rport: number } }) => x.flow?.rport === 8080);
    expect(e).toMatchObject({ process: { pid: 1484, name: 'explorer.exe' }, flow: { local: '172.16.112.128', lport: 1038, remote: '41.168.5.140', direction: 'outbound' } });
    // Dated by the capture (its SYN), not by when the replay ran.
    expect(e.ts).toBe('2012-07-22T02:45:00.005Z');
  });

  it('input errors: missing flag, bad address, missing file, memory without a known kernel', async () => {
    await expect(analyze.run([])).rejects.toBeInstanceOf(UsageError);
    await expect(analyze.run(['--memory', truth.path, '--dtb', 'zz'])).rejects.toBeInstanceOf(UsageError);
    await expect(analyze.run(['--memory', join(dir, 'missing.raw')])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const zeros = join(dir, 'zeros.raw');
    writeFileSync(zeros, new Uint8Array(4 << 20));
    await expect(analyze.run(['--memory', zeros])).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/no introspector/) });
  });
});
