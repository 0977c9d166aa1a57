/**
 * The decoder's output: one mutable record reused for every frame (no allocation per packet). Fields are valid
 * until the next decode call; copy what you keep.
 */

/** pcap link types we decode. */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
/** Some platforms write raw IP as DLT 12/14; libpcap maps them to 101 in files, but live handles may report 12. */
export const LINKTYPE_RAW_ALT = 12;
export const LINKTYPE_LINUX_SLL = 113;

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** Result of decoding one frame. */
export const DECODED_IP = 0; // an IPv4/IPv6 packet; `hasPorts` says whether TCP/UDP ports were read
export const DECODED_NOT_IP = 1; // ARP, LLDP, ...: passes, counted
export const DECODED_MALFORMED = 2; // truncated or inconsistent headers: counted by reason, never thrown

/** Why a frame was malformed: index into MALFORMED_REASONS. */
export const MALFORMED_REASONS = [
  'truncated-ethernet',
  'truncated-vlan',
  'too-many-vlan-tags',
  'truncated-ipv4',
  'bad-ipv4-header',
  'truncated-ipv6',
  'bad-ipv6-extension',
  'truncated-tcp',
  'bad-tcp-offset',
  'truncated-udp',
  'bad-ip-version',
  'unsupported-link-type',
] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

export const M_TRUNC_ETH = 0;
export const M_TRUNC_VLAN = 1;
export const M_VLAN_DEPTH = 2;
export const M_TRUNC_IP4 = 3;
export const M_BAD_IP4 = 4;
export const M_TRUNC_IP6 = 5;
export const M_BAD_IP6_EXT = 6;
export const M_TRUNC_TCP = 7;
export const M_BAD_TCP_OFF = 8;
export const M_TRUNC_UDP = 9;
export const M_BAD_IP_VERSION = 10;
export const M_LINK_TYPE = 11;

export class DecodedPacket {
  /** Ethernet source/destination MAC as (high 16 bits, low 32 bits); 0 when the link has no MACs. */
  srcMacHi = 0;
  srcMacLo = 0;
  dstMacHi = 0;
  dstMacLo = 0;
  /** Outermost 802.1Q/802.1ad VLAN id, -1 when untagged; `vlanDepth` counts tags (QinQ = 2). */
  vlan = -1;
  vlanDepth = 0;
  /** EtherType after the VLAN tags. */
  etherType = 0;
  /** 4 or 6 when IP, else 0. */
  family = 0;
  /** Source/destination address words (IPv4 uses word 0). */
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  /** Transport protocol number (6 TCP, 17 UDP, ...), after IPv6 extension headers. */
  proto = 0;
  /** True when sport/dport were read (TCP/UDP, first or unfragmented packet). */
  hasPorts = false;
  sport = 0;
  dport = 0;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10). */
  tcpFlags = 0;
  /** 0 unfragmented, 1 first fragment, 2 later fragment (no transport header). */
  fragment = 0;
  /** IP total length (header + payload) as the header states it. */
  ipLength = 0;
  /** Offsets of the IP and transport headers in the frame. */
  l3Offset = 0;
  l4Offset = 0;
  /** Set when DECODED_MALFORMED: index into MALFORMED_REASONS. */
  malformed = -1;

  reset(): void {
    this.srcMacHi = this.srcMacLo = this.dstMacHi = this.dstMacLo = 0;
    this.vlan = -1;
    this.vlanDepth = 0;
    this.etherType = 0;
    // src/dst are not cleared: every IP decoder writes all four words, and they are meaningless when family is 0.
    this.family = 0;
    this.proto = 0;
    this.hasPorts = false;
    this.sport = this.dport = this.tcpFlags = 0;
    this.fragment = 0;
    this.ipLength = 0;
    this.l3Offset = this.l4Offset = 0;
    this.malformed = -1;
  }
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;
