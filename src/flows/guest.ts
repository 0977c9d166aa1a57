/**
 * Which side of a packet is the guest. Guest addresses are configured per VM (its MACs and/or IPs): on a bridge the
 * guest's MAC is the reliable marker; IPs also work on routed/tap setups and raw-IP captures.
 */
import { formatIPv4 as formatV4, formatIPv6 as formatV6, parseAddress, parseMac } from '../decode/address.js';
import { badArgument } from '../errors.js';
import type { DecodedPacket } from '../decode/packet.js';

export const SIDE_NONE = 0;
/** The guest sent this packet (it is the source). */
export const SIDE_GUEST_SRC = 1;
/** The guest receives this packet. */
export const SIDE_GUEST_DST = 2;

export interface GuestAddresses {
  /** Guest NIC MAC addresses ("52:54:00:12:34:56"). */
  macs?: string[];
  /** Guest IPv4/IPv6 addresses. */
  ips?: string[];
}

export class GuestMatcher {
  private readonly macHi: number[];
  private readonly macLo: number[];
  /** IP words, 5 per address: family, w0..w3. */
  private readonly ips: Uint32Array;
  private readonly ipCount: number;

  constructor(addresses: GuestAddresses) {
    const macs = (addresses.macs ?? []).map(parseMac);
    const ips = (addresses.ips ?? []).map(parseAddress);
    if (macs.length === 0 && ips.length === 0) throw badArgument('a VM needs at least one guest MAC or IP address');
    this.macHi = macs.map((m) => m[0]);
    this.macLo = macs.map((m) => m[1]);
    this.ipCount = ips.length;
    this.ips = new Uint32Array(ips.length * 5);
    ips.forEach((a, i) => {
      this.ips[i * 5] = a.family;
      this.ips.set(a.words, i * 5 + 1);
    });
  }

  /** SIDE_GUEST_SRC, SIDE_GUEST_DST or SIDE_NONE (not this guest's traffic). */
  side(p: DecodedPacket): number {
    const n = this.macHi.length;
    if (n > 0 && (p.srcMacHi !== 0 || p.srcMacLo !== 0 || p.dstMacHi !== 0 || p.dstMacLo !== 0)) {
      for (let i = 0; i < n; i++) {
        if (p.srcMacLo === this.macLo[i] && p.srcMacHi === this.macHi[i]) return SIDE_GUEST_SRC;
      }
      for (let i = 0; i < n; i++) {
        if (p.dstMacLo === this.macLo[i] && p.dstMacHi === this.macHi[i]) return SIDE_GUEST_DST;
      }
      if (this.ipCount === 0) return SIDE_NONE;
    }
    if (this.ipMatch(p.family, p.src)) return SIDE_GUEST_SRC;
    if (this.ipMatch(p.family, p.dst)) return SIDE_GUEST_DST;
    return SIDE_NONE;
  }

  private ipMatch(family: number, w: Uint32Array): boolean {
    const ips = this.ips;
    for (let i = 0; i < this.ipCount; i++) {
      const o = i * 5;
      if (ips[o] === family && ips[o + 1] === w[0] && ips[o + 2] === w[1] && ips[o + 3] === w[2] && ips[o + 4] === w[3]) return true;
    }
    return false;
  }

  /** A BPF filter selecting this guest's traffic (for the capture handle). */
  bpfFilter(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.macHi.length; i++) {
      const hi = this.macHi[i]!;
      const lo = this.macLo[i]!;
      const b = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
      parts.push(`ether host ${b.map((x) => x.toString(16).padStart(2, '0')).join(':')}`);
    }
    for (let i = 0; i < this.ipCount; i++) {
      const o = i * 5;
      const words = this.ips.subarray(o + 1, o + 5);
      parts.push(this.ips[o] === 6 ? `ip6 host ${formatV6(words)}` : `host ${formatV4(words[0]!)}`);
    }
    // VLAN-tagged frames need the filter repeated after "vlan" (BPF offsets shift by 4 per tag).
    const base = parts.join(' or ');
    return `(${base}) or (vlan and (${base}))`;
  }
}
