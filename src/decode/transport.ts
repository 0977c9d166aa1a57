/** TCP and UDP: ports and TCP flags; nothing past the fixed header is read. */
import { M_BAD_TCP_OFF, M_TRUNC_TCP, M_TRUNC_UDP, type DecodedPacket } from './packet.js';

export function decodeTcp(b: Uint8Array, off: number, end: number, p: DecodedPacket): number {
  if (off + 20 > end) return -(M_TRUNC_TCP + 1);
  const dataOffset = (b[off + 12]! >>> 4) * 4;
  if (dataOffset < 20) return -(M_BAD_TCP_OFF + 1);
  p.sport = (b[off]! << 8) | b[off + 1]!;
  p.dport = (b[off + 2]! << 8) | b[off + 3]!;
  p.tcpFlags = b[off + 13]!;
  p.hasPorts = true;
  return off + dataOffset;
}

export function decodeUdp(b: Uint8Array, off: number, end: number, p: DecodedPacket): number {
  if (off + 8 > end) return -(M_TRUNC_UDP + 1);
  p.sport = (b[off]! << 8) | b[off + 1]!;
  p.dport = (b[off + 2]! << 8) | b[off + 3]!;
  p.hasPorts = true;
  return off + 8;
}
