/** IPv4 header: options skipped via IHL; fragments flagged (later fragments carry no transport header). */
import { M_BAD_IP4, M_TRUNC_IP4, type DecodedPacket } from './packet.js';

/** Returns the offset of the transport header, or -(reason + 1) when malformed. */
export function decodeIPv4(b: Uint8Array, off: number, end: number, p: DecodedPacket): number {
  if (off + 20 > end) return -(M_TRUNC_IP4 + 1);
  const vihl = b[off]!;
  const ihl = (vihl & 0x0f) * 4;
  if (vihl >>> 4 !== 4 || ihl < 20) return -(M_BAD_IP4 + 1);
  if (off + ihl > end) return -(M_TRUNC_IP4 + 1);
  const total = (b[off + 2]! << 8) | b[off + 3]!;
  if (total < ihl) return -(M_BAD_IP4 + 1);
  const frag = (b[off + 6]! << 8) | b[off + 7]!;
  const moreFragments = (frag & 0x2000) !== 0;
  const fragOffset = frag & 0x1fff;
  p.fragment = fragOffset !== 0 ? 2 : moreFragments ? 1 : 0;
  p.family = 4;
  p.ipLength = total;
  p.proto = b[off + 9]!;
  p.src[0] = ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
  p.dst[0] = ((b[off + 16]! << 24) | (b[off + 17]! << 16) | (b[off + 18]! << 8) | b[off + 19]!) >>> 0;
  p.src[1] = p.src[2] = p.src[3] = 0;
  p.dst[1] = p.dst[2] = p.dst[3] = 0;
  return off + ihl;
}
