/**
 * IPv6 header and its extension-header chain (hop-by-hop, routing, fragment, destination options, AH), bounded to
 * a few headers so a crafted chain cannot loop. ESP and "no next header" end the chain without ports.
 */
import { M_BAD_IP6_EXT, M_TRUNC_IP6, type DecodedPacket } from './packet.js';

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AUTH = 51;
const DEST_OPTS = 60;
const MOBILITY = 135;
const MAX_EXTENSIONS = 8;

function word(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Returns the offset of the transport header (p.proto set to the final next-header), or -(reason + 1). */
export function decodeIPv6(b: Uint8Array, off: number, end: number, p: DecodedPacket): number {
  if (off + 40 > end) return -(M_TRUNC_IP6 + 1);
  p.family = 6;
  p.ipLength = 40 + ((b[off + 4]! << 8) | b[off + 5]!);
  for (let i = 0; i < 4; i++) {
    p.src[i] = word(b, off + 8 + 4 * i);
    p.dst[i] = word(b, off + 24 + 4 * i);
  }
  let next = b[off + 6]!;
  let o = off + 40;
  p.fragment = 0;
  for (let n = 0; ; n++) {
    if (next !== HOP_BY_HOP && next !== ROUTING && next !== FRAGMENT && next !== AUTH && next !== DEST_OPTS && next !== MOBILITY) break;
    if (n === MAX_EXTENSIONS) return -(M_BAD_IP6_EXT + 1);
    if (o + 8 > end) return -(M_TRUNC_IP6 + 1);
    const following = b[o]!;
    let len: number;
    if (next === FRAGMENT) {
      const fo = ((b[o + 2]! << 8) | b[o + 3]!) >>> 3;
      const more = (b[o + 3]! & 1) !== 0;
      p.fragment = fo !== 0 ? 2 : more ? 1 : p.fragment;
      len = 8;
    } else if (next === AUTH) {
      len = (b[o + 1]! + 2) * 4;
    } else {
      len = (b[o + 1]! + 1) * 8;
    }
    next = following;
    o += len;
    if (o > end) return -(M_TRUNC_IP6 + 1);
  }
  p.proto = next;
  return o;
}
