import { describe, expect, it } from 'vitest';
import { PacketDecoder } from '../../../src/decode/decoder.js';
import {
  DECODED_IP,
  DECODED_MALFORMED,
  DECODED_NOT_IP,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  MALFORMED_REASONS,
  type MalformedReason,
} from '../../../src/decode/packet.js';
import { formatAddress } from '../../../src/decode/address.js';
import { buildFrame } from '../../fixtures/packets/frames.js';

function decode(frame: Uint8Array, caplen = frame.length, link = LINKTYPE_ETHERNET) {
  const d = new PacketDecoder();
  const r = d.decode(frame, caplen, link);
  return { r, p: d.packet, d };
}

describe('ethernet + IPv4 + TCP/UDP', () => {
  it('reads addresses, ports, flags and length of a TCP SYN', () => {
    const f = buildFrame({ srcMac: '52:54:00:aa:bb:cc', src: '10.0.0.2', dst: '93.184.216.34', proto: 'tcp', sport: 40000, dport: 443, flags: 'S' });
    const { r, p } = decode(f);
    expect(r).toBe(DECODED_IP);
    expect(p.family).toBe(4);
    expect(formatAddress(4, p.src)).toBe('10.0.0.2');
    expect(formatAddress(4, p.dst)).toBe('93.184.216.34');
    expect([p.proto, p.sport, p.dport, p.tcpFlags, p.hasPorts]).toEqual([6, 40000, 443, 0x02, true]);
    expect(p.srcMacHi.toString(16) + p.srcMacLo.toString(16)).toBe('5254aabbcc');
    expect(p.ipLength).toBe(40);
    expect(p.vlan).toBe(-1);
  });

  it('skips IPv4 options using IHL', () => {
    const f = buildFrame({ src: '10.0.0.2', dst: '10.0.0.3', proto: 'udp', sport: 53, dport: 5353, ipOptions: 8, payload: 4 });
    const { r, p } = decode(f);
    expect(r).toBe(DECODED_IP);
    expect([p.proto, p.sport, p.dport, p.l4Offset]).toEqual([17, 53, 5353, 14 + 28]);
  });

  it('reads 802.1Q and QinQ tags and decodes below them', () => {
    const q = decode(buildFrame({ vlans: [42], src: '10.0.0.2', dst: '10.0.0.3', proto: 'udp', sport: 1, dport: 2 }));
    expect([q.r, q.p.vlan, q.p.vlanDepth, q.p.dport]).toEqual([DECODED_IP, 42, 1, 2]);
    const qq = decode(buildFrame({ vlans: [100, 7], src: '10.0.0.2', dst: '10.0.0.3', proto: 'tcp', sport: 5, dport: 6, flags: 'A' }));
    expect([qq.r, qq.p.vlan, qq.p.vlanDepth, qq.p.sport, qq.p.l3Offset]).toEqual([DECODED_IP, 100, 2, 5, 22]);
  });

  it('marks fragments: first keeps ports, later ones have none', () => {
    const first = decode(buildFrame({ src: '10.0.0.2', dst: '10.0.0.3', proto: 'udp', sport: 9, dport: 10, moreFragments: true, payload: 64 }));
    expect([first.r, first.p.fragment, first.p.hasPorts, first.p.dport]).toEqual([DECODED_IP, 1, true, 10]);
    const later = decode(buildFrame({ src: '10.0.0.2', dst: '10.0.0.3', proto: 'udp', fragOffset: 9 }));
    expect([later.r, later.p.fragment, later.p.hasPorts]).toEqual([DECODED_IP, 2, false]);
    expect(later.d.stats().fragments).toBe(1);
  });

  it('passes non-IP frames and other IP protocols', () => {
    const arp = Uint8Array.from([...new Array(12).fill(0xff), 0x08, 0x06, ...new Array(28).fill(0)]);
    const { r, d } = decode(arp);
    expect(r).toBe(DECODED_NOT_IP);
    expect(d.stats().notIp).toBe(1);
    const icmp = decode(buildFrame({ src: '10.0.0.2', dst: '10.0.0.3', proto: 'icmp' }));
    expect([icmp.r, icmp.p.proto, icmp.p.hasPorts]).toEqual([DECODED_IP, 1, false]);
  });

  it('decodes raw-IP link type', () => {
    const f = buildFrame({ src: '10.0.0.2', dst: '10.0.0.3', proto: 'tcp', sport: 1234, dport: 80, flags: 'S' }).subarray(14);
    const { r, p } = decode(f, f.length, LINKTYPE_RAW);
    expect([r, p.sport, p.dport]).toEqual([DECODED_IP, 1234, 80]);
  });
});

describe('IPv6', () => {
  it('reads addresses and ports', () => {
    const { r, p } = decode(buildFrame({ src: '2001:db8::2', dst: '2606:4700::1111', proto: 'tcp', sport: 5000, dport: 443, flags: 'S' }));
    expect(r).toBe(DECODED_IP);
    expect([p.family, formatAddress(6, p.src), formatAddress(6, p.dst), p.sport, p.dport]).toEqual([6, '2001:db8::2', '2606:4700::1111', 5000, 443]);
  });

  it('walks hop-by-hop, routing, destination-options and fragment headers', () => {
    const { r, p } = decode(buildFrame({ src: 'fe80::1', dst: 'fe80::2', proto: 'udp', sport: 546, dport: 547, ipv6Ext: ['hop', 'routing', 'dest', { fragment: 0, more: true }] }));
    expect([r, p.proto, p.sport, p.dport, p.fragment, p.l4Offset]).toEqual([DECODED_IP, 17, 546, 547, 1, 14 + 40 + 32]);
    const later = decode(buildFrame({ src: 'fe80::1', dst: 'fe80::2', proto: 'udp', fragOffset: 0, ipv6Ext: [{ fragment: 100 }], payload: 20 }));
    expect([later.r, later.p.fragment, later.p.hasPorts]).toEqual([DECODED_IP, 2, false]);
  });
});

describe('malformed frames are counted, never thrown', () => {
  const tcp = buildFrame({ src: '10.0.0.2', dst: '10.0.0.3', proto: 'tcp', sport: 1, dport: 2, flags: 'S' });
  const cases: Array<[MalformedReason, Uint8Array, number]> = [
    ['truncated-ethernet', tcp, 10],
    ['truncated-vlan', buildFrame({ vlans: [5], src: '10.0.0.2', dst: '10.0.0.3', proto: 'udp' }), 16],
    ['truncated-ipv4', tcp, 30],
    ['truncated-tcp', tcp, 14 + 20 + 10],
    ['truncated-ipv6', buildFrame({ src: '::1', dst: '::2', proto: 'udp' }), 14 + 30],
  ];
  for (const [reason, frame, caplen] of cases) {
    it(`${reason}`, () => {
      const { r, p, d } = decode(frame, caplen);
      expect(r).toBe(DECODED_MALFORMED);
      expect(MALFORMED_REASONS[p.malformed]).toBe(reason);
      expect(d.stats().malformedBy[reason]).toBe(1);
      expect(d.stats().malformed).toBe(1);
    });
  }

  it('bad IHL, bad TCP data offset, too many VLAN tags, endless IPv6 extension chain', () => {
    const badIhl = Uint8Array.from(tcp);
    badIhl[14] = 0x43;
    expect(MALFORMED_REASONS[decode(badIhl).p.malformed]).toBe('bad-ipv4-header');
    const badOff = Uint8Array.from(tcp);
    badOff[14 + 20 + 12] = 0x20;
    expect(MALFORMED_REASONS[decode(badOff).p.malformed]).toBe('bad-tcp-offset');
    const tags = buildFrame({ vlans: [1, 2, 3, 4, 5], src: '10.0.0.2', dst: '10.0.0.3', proto: 'udp' });
    expect(MALFORMED_REASONS[decode(tags).p.malformed]).toBe('too-many-vlan-tags');
    const chain = buildFrame({ src: '::1', dst: '::2', proto: 'udp', ipv6Ext: new Array(9).fill('dest'), payload: 8 });
    expect(MALFORMED_REASONS[decode(chain).p.malformed]).toBe('bad-ipv6-extension');
  });

  it('survives every truncation and random corruption of valid frames', () => {
    const d = new PacketDecoder();
    const frames = [
      tcp,
      buildFrame({ vlans: [1, 2], src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', sport: 1, dport: 2, ipv6Ext: ['hop', { fragment: 0, more: true }] }),
    ];
    let seed = 12345;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    let total = 0;
    for (const f of frames) {
      for (let len = 0; len <= f.length; len++) {
        d.decode(f, len, LINKTYPE_ETHERNET);
        total++;
      }
      for (let i = 0; i < 2000; i++) {
        const c = Uint8Array.from(f);
        c[Math.floor(rnd() * c.length)] = Math.floor(rnd() * 256);
        d.decode(c, c.length, LINKTYPE_ETHERNET);
        total++;
      }
    }
    const s = d.stats();
    expect(s.frames).toBe(total);
    expect(s.malformed).toBeGreaterThan(0);
    expect(Object.values(s.malformedBy).reduce((a, b) => a + b, 0)).toBe(s.malformed);
  });
});

describe('frames inside a larger buffer', () => {
  it('decodes at a start offset without copying', () => {
    const f = buildFrame({ vlans: [3], src: '10.1.1.1', dst: '10.2.2.2', proto: 'udp', sport: 7, dport: 8 });
    const big = new Uint8Array(f.length + 100).fill(0xee);
    big.set(f, 37);
    const d = new PacketDecoder();
    expect(d.decode(big, f.length, LINKTYPE_ETHERNET, 37)).toBe(DECODED_IP);
    expect([d.packet.vlan, d.packet.sport, d.packet.dport, formatAddress(4, d.packet.dst), d.packet.l3Offset]).toEqual([3, 7, 8, '10.2.2.2', 37 + 18]);
    expect(d.decode(big, 13, LINKTYPE_ETHERNET, 37)).toBe(DECODED_MALFORMED);
  });
});
