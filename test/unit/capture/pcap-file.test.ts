import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapFile } from '../../../src/capture/pcap-file.js';
import { ParasightError } from '../../../src/errors.js';
import { buildFrame } from '../../fixtures/packets/frames.js';
import { writePcap, writePcapng, type TimedFrame } from '../../fixtures/packets/pcap-writer.js';

let dir: string;
beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'parasight-pcap-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function frames(n: number): TimedFrame[] {
  const out: TimedFrame[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      ts: 1_700_000_000_000 + i * 1.5,
      frame: buildFrame({ src: '10.0.0.2', dst: `10.0.${i % 7}.9`, proto: i % 3 ? 'tcp' : 'udp', sport: 1000 + i, dport: 80, flags: 'A', payload: (i * 37) % 300 }),
    });
  }
  return out;
}

interface Seen {
  dport: number[];
  lens: number[];
  ts: number[];
  link: Set<number>;
}
function collector(): { seen: Seen; sink: (b: Uint8Array, s: number, c: number, o: number, t: number, l: number) => void } {
  const seen: Seen = { dport: [], lens: [], ts: [], link: new Set() };
  return {
    seen,
    sink: (b, s, c, _o, t, l) => {
      seen.lens.push(c);
      seen.ts.push(t);
      seen.link.add(l);
      // sport of the frame (Ethernet + IPv4 20 bytes) proves the offsets are right
      seen.dport.push((b[s + 34]! << 8) | b[s + 35]!);
    },
  };
}

describe('readPcapFile', () => {
  const input = frames(500);

  it('reads classic pcap across chunk boundaries (tiny chunks force straddling and growth)', async () => {
    const path = join(dir, 'a.pcap');
    writePcap(path, input);
    for (const chunkSize of [64, 1000, 1 << 20]) {
      const { seen, sink } = collector();
      const s = await readPcapFile(path, sink, { chunkSize });
      expect(s).toMatchObject({ format: 'pcap', frames: 500, linkType: 1, truncatedTail: 0 });
      expect(seen.dport).toEqual(input.map((_, i) => 1000 + i));
      expect(seen.lens).toEqual(input.map((f) => f.frame.length));
      expect(seen.ts[3]).toBeCloseTo(input[3]!.ts, 3);
    }
  });

  it('reads pcapng in both byte orders with nanosecond timestamps', async () => {
    for (const be of [false, true]) {
      const path = join(dir, `b${be}.pcapng`);
      writePcapng(path, input, 1, be);
      const { seen, sink } = collector();
      const s = await readPcapFile(path, sink, { chunkSize: 333 });
      expect(s).toMatchObject({ format: 'pcapng', frames: 500, linkType: 1 });
      expect(seen.dport).toEqual(input.map((_, i) => 1000 + i));
      expect(seen.ts[499]).toBeCloseTo(input[499]!.ts, 3);
    }
  });

  it('agrees with libpcap (node-pcap offline) on the same file', async () => {
    let pcap: { createOfflineSession(p: string, o: object): { on(e: string, f: (x: { header: Buffer }) => void): void } };
    try {
      pcap = createRequire(import.meta.url)('pcap');
    } catch {
      return expect.fail('the pcap package is an optional dependency installed here; it must load');
    }
    const path = join(dir, 'c.pcap');
    writePcap(path, input);
    const lib: number[] = [];
    await new Promise<void>((resolve) => {
      const s = pcap.createOfflineSession(path, {});
      s.on('packet', (p) => lib.push(p.header.readUInt32LE(8)));
      s.on('complete', () => resolve());
    });
    const { seen, sink } = collector();
    await readPcapFile(path, sink);
    expect(seen.lens).toEqual(lib);
  });

  it('reports a cut-short file as a truncated tail, not an error', async () => {
    const path = join(dir, 'd.pcap');
    writePcap(path, input.slice(0, 10));
    const whole = readFileSync(path);
    writeFileSync(path, whole.subarray(0, whole.length - 5));
    const { seen, sink } = collector();
    const s = await readPcapFile(path, sink);
    expect(s.frames).toBe(9);
    expect(s.truncatedTail).toBeGreaterThan(0);
    expect(seen.dport.length).toBe(9);
  });

  it('rejects non-capture files with FORMAT and missing files with NOT_FOUND', async () => {
    const path = join(dir, 'e.txt');
    writeFileSync(path, 'hello world, not a capture');
    await expect(readPcapFile(path, () => {})).rejects.toMatchObject({ code: 'FORMAT' });
    await expect(readPcapFile(join(dir, 'missing.pcap'), () => {})).rejects.toBeInstanceOf(ParasightError);
    await expect(readPcapFile(join(dir, 'missing.pcap'), () => {})).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('lets the event loop run between chunks', async () => {
    const path = join(dir, 'f.pcap');
    writePcap(path, frames(3000));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let framesAtFirstTick = -1;
    let n = 0;
    await readPcapFile(path, () => {
      n++;
      if (ticks > 0 && framesAtFirstTick < 0) framesAtFirstTick = n;
    }, { chunkSize: 4096 });
    clearInterval(timer);
    expect(n).toBe(3000);
    // Timers fired while frames were still being delivered: the reader did not hold the loop for the whole file.
    expect(framesAtFirstTick).toBeGreaterThan(0);
    expect(framesAtFirstTick).toBeLessThan(3000);
  });
});
