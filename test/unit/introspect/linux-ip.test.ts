// Address text for Linux sockets: RFC 5952 IPv6 text, IPv4 as mapped 16-byte form; checked against node:net's
// own parser/normaliser on many addresses, and bad input refused.
import { SocketAddress } from 'node:net';
import { describe, expect, it } from 'vitest';
import { canonicalAddress, formatAddress, parseAddress } from '../../../src/introspect/linux/ip.js';

const samples = [
  '::', '::1', 'fd77::2', 'fe80::5054:ff:fe77:2', '2001:db8::1:0:0:1', '2001:db8:0:0:1:0:0:1', '1:2:3:4:5:6:7:8',
  '1::8', '::ffff:10.77.0.2', '2001:db8:0:1:1:1:1:1', '0:0:0:0:0:0:0:1', 'FD77:0:0:0:0:0:0:2', '1:0:0:2::3',
];

describe('Linux socket address text', () => {
  it('formats IPv6 as node:net normalises it and round-trips through parse', () => {
    for (const a of samples) {
      const want = new SocketAddress({ address: a, family: 'ipv6' }).address;
      expect(canonicalAddress(a), a).toBe(want);
    }
  });

  it('keeps IPv4 as dotted text and as ::ffff:a.b.c.d in 16 bytes', () => {
    const b = parseAddress('10.77.0.2');
    expect([...b.subarray(10)]).toEqual([0xff, 0xff, 10, 77, 0, 2]);
    expect(formatAddress(b, 0, 4)).toBe('10.77.0.2');
    expect(formatAddress(b, 0, 6)).toBe('::ffff:10.77.0.2');
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', '10.77.0', '10.77.0.256', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fd77:::2', 'g::1', '1:2', 'a.b.c.d']) {
      expect(() => parseAddress(bad), bad).toThrow(/not an IP address/);
    }
  });
});
