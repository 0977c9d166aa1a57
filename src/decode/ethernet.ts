/** Ethernet II with any number (up to 4) of 802.1Q / 802.1ad (QinQ) tags. */
import { M_TRUNC_ETH, M_TRUNC_VLAN, M_VLAN_DEPTH, type DecodedPacket } from './packet.js';

const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
const MAX_TAGS = 4;

/** Returns the offset of the layer-3 header, or -(reason + 1) when malformed. */
export function decodeEthernet(b: Uint8Array, s: number, end: number, p: DecodedPacket): number {
  if (end - s < 14) return -(M_TRUNC_ETH + 1);
  p.dstMacHi = (b[s + 0]! << 8) | b[s + 1]!;
  p.dstMacLo = ((b[s + 2]! << 24) | (b[s + 3]! << 16) | (b[s + 4]! << 8) | b[s + 5]!) >>> 0;
  p.srcMacHi = (b[s + 6]! << 8) | b[s + 7]!;
  p.srcMacLo = ((b[s + 8]! << 24) | (b[s + 9]! << 16) | (b[s + 10]! << 8) | b[s + 11]!) >>> 0;
  let type = (b[s + 12]! << 8) | b[s + 13]!;
  let off = s + 14;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
    if (p.vlanDepth === MAX_TAGS) return -(M_VLAN_DEPTH + 1);
    if (off + 4 > end) return -(M_TRUNC_VLAN + 1);
    if (p.vlanDepth === 0) p.vlan = ((b[off]! << 8) | b[off + 1]!) & 0x0fff;
    p.vlanDepth++;
    type = (b[off + 2]! << 8) | b[off + 3]!;
    off += 4;
  }
  p.etherType = type;
  return off;
}

/** Linux "cooked" capture header (DLT_LINUX_SLL, 16 bytes): used when capturing on the "any" device. */
export function decodeLinuxSll(b: Uint8Array, s: number, end: number, p: DecodedPacket): number {
  if (end - s < 16) return -(M_TRUNC_ETH + 1);
  p.etherType = (b[s + 14]! << 8) | b[s + 15]!;
  return s + 16;
}
