/**
 * Frame → DecodedPacket. Decodes the headers we need from raw bytes (no per-packet allocation) and counts what it
 * sees. Malformed or truncated frames are counted by reason and reported as DECODED_MALFORMED; nothing throws.
 */
import { decodeEthernet, decodeLinuxSll } from './ethernet.js';
import { decodeIPv4 } from './ipv4.js';
import { decodeIPv6 } from './ipv6.js';
import { decodeTcp, decodeUdp } from './transport.js';
import {
  DECODED_IP,
  DECODED_MALFORMED,
  DECODED_NOT_IP,
  DecodedPacket,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_RAW,
  LINKTYPE_RAW_ALT,
  MALFORMED_REASONS,
  M_BAD_IP_VERSION,
  M_LINK_TYPE,
  PROTO_TCP,
  PROTO_UDP,
  type MalformedReason,
} from './packet.js';

export interface DecodeStats {
  frames: number;
  ipv4: number;
  ipv6: number;
  tcp: number;
  udp: number;
  /** IP packets with another transport (ICMP, ...) or later fragments: no ports. */
  otherIp: number;
  fragments: number;
  notIp: number;
  malformed: number;
  malformedBy: Record<MalformedReason, number>;
}

export class PacketDecoder {
  readonly packet = new DecodedPacket();
  frames = 0;
  ipv4 = 0;
  ipv6 = 0;
  tcp = 0;
  udp = 0;
  otherIp = 0;
  fragments = 0;
  notIp = 0;
  malformed = 0;
  private readonly malformedBy = new Float64Array(MALFORMED_REASONS.length);

  /**
   * Decodes the frame at `frame[start .. start + caplen)` (a frame inside a larger read buffer needs no
   * subarray). Returns DECODED_IP, DECODED_NOT_IP or DECODED_MALFORMED; the fields are in `this.packet` until the
   * next call. Offsets in the packet are relative to `frame`, not to `start`.
   */
  decode(frame: Uint8Array, caplen: number, linkType: number, start = 0): number {
    const p = this.packet;
    p.reset();
    this.frames++;
    const end = start + caplen < frame.length ? start + caplen : frame.length;
    let off: number;
    let etherType: number;
    if (linkType === LINKTYPE_ETHERNET) {
      off = decodeEthernet(frame, start, end, p);
      etherType = p.etherType;
    } else if (linkType === LINKTYPE_RAW || linkType === LINKTYPE_RAW_ALT) {
      off = start;
      const v = end > start ? frame[start]! >>> 4 : 0;
      if (v !== 4 && v !== 6) return this.fail(M_BAD_IP_VERSION);
      etherType = v === 4 ? 0x0800 : 0x86dd;
    } else if (linkType === LINKTYPE_LINUX_SLL) {
      off = decodeLinuxSll(frame, start, end, p);
      etherType = p.etherType;
    } else {
      return this.fail(M_LINK_TYPE);
    }
    if (off < 0) return this.fail(-off - 1);
    p.l3Offset = off;
    if (etherType === 0x0800) {
      off = decodeIPv4(frame, off, end, p);
      if (off < 0) return this.fail(-off - 1);
      this.ipv4++;
    } else if (etherType === 0x86dd) {
      off = decodeIPv6(frame, off, end, p);
      if (off < 0) return this.fail(-off - 1);
      this.ipv6++;
    } else {
      this.notIp++;
      return DECODED_NOT_IP;
    }
    p.l4Offset = off;
    if (p.fragment !== 0) this.fragments++;
    if (p.fragment === 2) {
      this.otherIp++;
      return DECODED_IP;
    }
    if (p.proto === PROTO_TCP) {
      off = decodeTcp(frame, off, end, p);
      if (off < 0) return this.fail(-off - 1);
      this.tcp++;
    } else if (p.proto === PROTO_UDP) {
      off = decodeUdp(frame, off, end, p);
      if (off < 0) return this.fail(-off - 1);
      this.udp++;
    } else {
      this.otherIp++;
    }
    return DECODED_IP;
  }

  private fail(reason: number): number {
    this.malformed++;
    this.malformedBy[reason]!++;
    this.packet.malformed = reason;
    return DECODED_MALFORMED;
  }

  stats(): DecodeStats {
    const malformedBy = {} as Record<MalformedReason, number>;
    MALFORMED_REASONS.forEach((r, i) => (malformedBy[r] = this.malformedBy[i]!));
    const { frames, ipv4, ipv6, tcp, udp, otherIp, fragments, notIp, malformed } = this;
    return { frames, ipv4, ipv6, tcp, udp, otherIp, fragments, notIp, malformed, malformedBy };
  }
}
