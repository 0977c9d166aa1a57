import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { EventStream, NdjsonWriter } from '../../../src/events/stream.js';
import { newEvent, type SensorEvent } from '../../../src/events/event.js';

function ev(n: number): SensorEvent {
  return newEvent({ type: 'connection.abnormal', vm: 'v', flow: null, process: null, verdict: 'deny', risk: 'medium', rule: 'r', reason: String(n), evidence: [], count: 1, attribution: { outcome: 'unattributed', reason: null, ms: null } });
}

describe('EventStream', () => {
  it('a slow iterator keeps the newest events up to its bound and counts what it lost', async () => {
    const s = new EventStream(5);
    const it = s.subscribe();
    for (let i = 0; i < 12; i++) s.publish(ev(i));
    expect(s.dropped).toBe(7);
    s.end();
    const got: string[] = [];
    for await (const e of it) got.push(e.reason);
    expect(got).toEqual(['7', '8', '9', '10', '11']);
  });

  it('a waiting iterator gets events as they come; emitter listeners see all', async () => {
    const s = new EventStream();
    const seen: string[] = [];
    s.on('event', (e) => seen.push(e.reason));
    const it = s.subscribe();
    const p = it.next();
    s.publish(ev(1));
    expect((await p).value.reason).toBe('1');
    await it.return!();
    s.publish(ev(2));
    expect(seen).toEqual(['1', '2']);
  });
});

describe('NdjsonWriter', () => {
  it('writes one JSON object per line and queues while the stream is saturated', async () => {
    const out = new PassThrough({ highWaterMark: 64 });
    const w = new NdjsonWriter(out, 3);
    for (let i = 0; i < 10; i++) w.write(ev(i));
    // The first write saturated the 64-byte buffer: later lines queued (bounded at 3), the oldest dropped.
    expect(w.dropped).toBe(6);
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    await new Promise((r) => setTimeout(r, 20));
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as SensorEvent);
    expect(lines.map((l) => l.reason)).toEqual(['0', '7', '8', '9']);
  });
});
