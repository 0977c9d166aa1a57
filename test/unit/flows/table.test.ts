import { describe, expect, it } from 'vitest';
import { PacketDecoder } from '../../../src/decode/decoder.js';
import { LINKTYPE_ETHERNET } from '../../../src/decode/packet.js';
import { FlowTable, type RemoveReason } from '../../../src/flows/table.js';
import { GuestMatcher, SIDE_GUEST_DST, SIDE_GUEST_SRC, SIDE_NONE } from '../../../src/flows/guest.js';
import { buildFrame, type FrameSpec } from '../../fixtures/packets/frames.js';

const GUEST_MAC = '52:54:00:00:00:10';
const PEER_MAC = '52:54:00:00:00:20';
const guest = new GuestMatcher({ macs: [GUEST_MAC] });
const dec = new PacketDecoder();

function out(spec: Partial<FrameSpec>): Uint8Array {
  return buildFrame({ srcMac: GUEST_MAC, dstMac: PEER_MAC, src: '10.0.0.2', dst: '10.0.0.9', proto: 'tcp', ...spec });
}
function inb(spec: Partial<FrameSpec>): Uint8Array {
  return buildFrame({ srcMac: PEER_MAC, dstMac: GUEST_MAC, src: '10.0.0.9', dst: '10.0.0.2', proto: 'tcp', ...spec });
}
function feed(t: FlowTable, frame: Uint8Array, now: number): number {
  dec.decode(frame, frame.length, LINKTYPE_ETHERNET);
  return t.track(dec.packet, guest.side(dec.packet), now);
}

describe('guest side', () => {
  it('uses MACs, then IPs', () => {
    dec.decode(out({}), 54, LINKTYPE_ETHERNET);
    expect(guest.side(dec.packet)).toBe(SIDE_GUEST_SRC);
    dec.decode(inb({}), 54, LINKTYPE_ETHERNET);
    expect(guest.side(dec.packet)).toBe(SIDE_GUEST_DST);
    const other = buildFrame({ srcMac: '02:00:00:00:00:01', dstMac: PEER_MAC, src: '10.0.0.2', dst: '10.0.0.9', proto: 'udp' });
    dec.decode(other, other.length, LINKTYPE_ETHERNET);
    expect(guest.side(dec.packet)).toBe(SIDE_NONE);
    const byIp = new GuestMatcher({ ips: ['2001:db8::5'] });
    const v6 = buildFrame({ src: '2001:db8::9', dst: '2001:db8::5', proto: 'udp', sport: 1, dport: 2 });
    dec.decode(v6, v6.length, LINKTYPE_ETHERNET);
    expect(byIp.side(dec.packet)).toBe(SIDE_GUEST_DST);
    expect(byIp.bpfFilter()).toContain('ip6 host 2001:db8::5');
  });
});

describe('FlowTable', () => {
  it('keys guest endpoint first: both directions of a connection are one flow', () => {
    const t = new FlowTable({ maxFlows: 16 });
    const a = feed(t, out({ sport: 40000, dport: 443, flags: 'S' }), 1);
    expect(t.lastCreated).toBe(true);
    const b = feed(t, inb({ sport: 443, dport: 40000, flags: 'SA' }), 2);
    expect(t.lastCreated).toBe(false);
    expect(b).toBe(a);
    feed(t, out({ sport: 40000, dport: 443, flags: 'A' }), 3);
    const info = t.describe(a);
    expect(info).toMatchObject({ local: '10.0.0.2', lport: 40000, remote: '10.0.0.9', rport: 443, direction: 'outbound', tcpState: 'established', packetsOut: 2, packetsIn: 1, midstream: false });
    expect(t.stats()).toMatchObject({ flows: 1, created: 1 });
  });

  it('direction: inbound when the peer opens; joined at SYN-ACK or mid-stream are handled', () => {
    const t = new FlowTable({ maxFlows: 16 });
    const a = feed(t, inb({ sport: 5555, dport: 22, flags: 'S' }), 1);
    expect(t.describe(a)).toMatchObject({ direction: 'inbound', lport: 22, rport: 5555, tcpState: 'syn-sent' });
    const b = feed(t, out({ sport: 22, dport: 6666, flags: 'SA' }), 1);
    expect(t.describe(b)).toMatchObject({ direction: 'inbound', tcpState: 'syn-received' });
    const c = feed(t, out({ sport: 41000, dport: 80, flags: 'PA' }), 1);
    expect(t.describe(c)).toMatchObject({ direction: 'outbound', tcpState: 'established', midstream: true });
  });

  it('TCP close: FIN both ways or RST closes', () => {
    const t = new FlowTable({ maxFlows: 16 });
    const f = feed(t, out({ sport: 1, dport: 2, flags: 'S' }), 0);
    feed(t, inb({ sport: 2, dport: 1, flags: 'SA' }), 0);
    feed(t, out({ sport: 1, dport: 2, flags: 'A' }), 0);
    feed(t, out({ sport: 1, dport: 2, flags: 'FA' }), 0);
    expect(t.describe(f).tcpState).toBe('fin-wait');
    feed(t, inb({ sport: 2, dport: 1, flags: 'FA' }), 0);
    expect(t.describe(f).tcpState).toBe('closed');
    const g = feed(t, out({ sport: 3, dport: 2, flags: 'S' }), 0);
    feed(t, inb({ sport: 2, dport: 3, flags: 'RA' }), 0);
    expect(t.describe(g).tcpState).toBe('closed');
  });

  it('expires idle flows per protocol class', () => {
    const removed: Array<[number, RemoveReason]> = [];
    const t = new FlowTable({ maxFlows: 16, timeouts: { udp: 100, tcpEstablished: 1000, tcpOpening: 50 }, onRemove: (f, r) => removed.push([t.id[f]!, r]) });
    const u = feed(t, out({ proto: 'udp', sport: 1, dport: 53 }), 0);
    const e = feed(t, out({ sport: 2, dport: 80, flags: 'PA' }), 0);
    const s = feed(t, out({ sport: 3, dport: 80, flags: 'S' }), 0);
    const ids = [t.id[u]!, t.id[e]!, t.id[s]!];
    expect(t.expire(40)).toBe(0);
    expect(t.expire(60)).toBe(1);
    expect(removed).toEqual([[ids[2], 'idle']]);
    feed(t, out({ proto: 'udp', sport: 1, dport: 53 }), 90); // refreshes the UDP flow
    expect(t.expire(150)).toBe(0);
    expect(t.expire(191)).toBe(1);
    expect(t.expire(1001)).toBe(1);
    expect(removed.map((r) => r[0])).toEqual([ids[2], ids[0], ids[1]]);
    expect(t.stats()).toMatchObject({ flows: 0, expired: 3 });
  });

  it('at the hard cap evicts the least recently seen flow and counts it', () => {
    const removed: number[] = [];
    const t = new FlowTable({ maxFlows: 4, onRemove: (f, r) => r === 'evicted' && removed.push(t.describe(f).lport) });
    for (let i = 0; i < 4; i++) feed(t, out({ proto: i % 2 ? 'udp' : 'tcp', sport: 100 + i, dport: 7, flags: 'A' }), i);
    feed(t, out({ proto: 'tcp', sport: 100, dport: 7, flags: 'A' }), 10); // 100 becomes recent
    feed(t, out({ proto: 'udp', sport: 200, dport: 7 }), 11);
    expect(removed).toEqual([101]);
    feed(t, out({ proto: 'udp', sport: 201, dport: 7 }), 12);
    expect(removed).toEqual([101, 102]);
    expect(t.stats()).toMatchObject({ flows: 4, evicted: 2 });
    // Every remaining flow is still found (deletion kept probe chains intact).
    for (const [p, sport] of [['tcp', 100], ['udp', 103], ['udp', 200], ['udp', 201]] as const) {
      feed(t, out({ proto: p, sport, dport: 7, flags: 'A' }), 13);
      expect(t.lastCreated).toBe(false);
    }
  });

  it('stays consistent under heavy churn (probe chains survive backward-shift deletion)', () => {
    const t = new FlowTable({ maxFlows: 64, timeouts: { udp: 5 } });
    const live = new Map<number, number>();
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    for (let now = 0; now < 3000; now++) {
      const port = rnd(200);
      const f = feed(t, out({ proto: 'udp', sport: port, dport: 9 }), now);
      const prev = live.get(port);
      if (prev !== undefined && now - prev <= 5) expect(t.lastCreated).toBe(false);
      live.set(port, now);
      expect(t.describe(f).lport).toBe(port);
      if (now % 3 === 0) t.expire(now);
    }
    expect(t.size).toBeLessThanOrEqual(64);
    expect(t.created - t.expired - t.evicted).toBe(t.size);
  });

  it('flow ids detect reuse of a flow number', () => {
    const t = new FlowTable({ maxFlows: 1 });
    const a = feed(t, out({ proto: 'udp', sport: 1, dport: 2 }), 0);
    const id = t.id[a]!;
    const b = feed(t, out({ proto: 'udp', sport: 3, dport: 2 }), 1);
    expect(b).toBe(a);
    expect(t.isLive(a, id)).toBe(false);
    expect(t.isLive(b, t.id[b]!)).toBe(true);
  });
});
