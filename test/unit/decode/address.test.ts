import { describe, expect, it } from 'vitest';
import { formatIPv6, parseAddress, tryParseAddress, parseMac, formatMac } from '../../../src/decode/address.js';

describe('address text', () => {
  it('round-trips IPv6 in RFC 5952 form', () => {
    for (const a of ['2001:db8::1', '::1', '::', 'fe80::1:2:3:4', '2001:db8:0:1:1:1:1:1', '::ffff:10.1.2.3', '1::']) {
      expect(formatIPv6(parseAddress(a).words)).toBe(a);
    }
    expect(formatIPv6(parseAddress('2001:0DB8:0000:0000:0000:0000:0000:0001').words)).toBe('2001:db8::1');
  });
  it('rejects what is not an address', () => {
    for (const a of ['1.2.3', '1.2.3.256', '1::2::3', 'g::1', '1:2:3:4:5:6:7:8:9', '']) expect(tryParseAddress(a)).toBeUndefined();
  });
  it('parses and formats MACs', () => {
    expect(formatMac(...parseMac('52:54:00:AB:cd:0f'))).toBe('52:54:00:ab:cd:0f');
    expect(() => parseMac('52:54:00')).toThrow(/not a MAC/);
  });
});
