// Generates the sensor benchmark's "realistic mix" capture: ~2,000 concurrent flows, short flows (a few dozen packets
// each, so new flows keep arriving), 85% TCP / 15% UDP, 10% IPv6, both directions, frame sizes from ACKs to full MTU
// (average ~700 bytes). Deterministic for a given seed. Written as classic pcap, streaming.
import { closeSync, openSync, writeSync } from 'node:fs';

export const GUEST_MAC = '52:54:00:00:00:10';
const GUEST_MAC_BYTES = [0x52, 0x54, 0x00, 0x00, 0x00, 0x10];
const PEER_MAC_BYTES = [0x52, 0x54, 0x00, 0x00, 0x00, 0x20];
export const GUEST_V4 = '10.0.0.2';
export const GUEST_V6 = 'fd00::2';

export function generateTraffic(path, packets, { concurrent = 2000, seed = 42 } = {}) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(8 << 20);
  let used = 0;
  const flush = () => {
    writeSync(fd, buf, 0, used);
    used = 0;
  };
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16);
  buf.writeUInt32LE(1, 20);
  used = 24;

  let nextPort = 1024;
  const newFlow = () => ({
    tcp: rnd() < 0.85,
    v6: rnd() < 0.1,
    lport: (nextPort = nextPort >= 65000 ? 1024 : nextPort + 1),
    remote: (0xc6336400 + Math.floor(rnd() * 50000)) >>> 0, // 198.51.x.x and beyond: many peers
    rport: [443, 80, 53, 8080, 22, 5432][Math.floor(rnd() * 6)],
    left: 5 + Math.floor(-Math.log(1 - rnd()) * 45),
    sent: 0,
  });
  const flows = Array.from({ length: concurrent }, newFlow);
  let ts = 1_700_000_000_000_000; // µs
  let flowsCreated = concurrent;
  let bytes = 0;
  for (let i = 0; i < packets; i++) {
    const k = Math.floor(rnd() * concurrent);
    let f = flows[k];
    if (f.left === 0) {
      f = flows[k] = newFlow();
      flowsCreated++;
    }
    const r = rnd();
    let size = r < 0.42 ? 66 : r < 0.84 ? 1514 : 100 + Math.floor(rnd() * 500);
    const outbound = f.sent === 0 || rnd() < 0.4;
    let flags = 0x10;
    if (f.tcp) {
      if (f.sent === 0) flags = 0x02;
      else if (f.sent === 1) flags = 0x12;
      else if (f.left === 1) flags = 0x11;
      else flags = rnd() < 0.5 ? 0x18 : 0x10;
    }
    const l3 = f.v6 ? 40 : 20;
    const l4 = f.tcp ? 20 : 8;
    if (size < 14 + l3 + l4) size = 14 + l3 + l4;
    if (used + 16 + size > buf.length) flush();
    ts += 1;
    buf.writeUInt32LE(Math.floor(ts / 1e6), used);
    buf.writeUInt32LE(ts % 1e6, used + 4);
    buf.writeUInt32LE(size, used + 8);
    buf.writeUInt32LE(size, used + 12);
    let o = used + 16;
    const dmac = outbound ? PEER_MAC_BYTES : GUEST_MAC_BYTES;
    const smac = outbound ? GUEST_MAC_BYTES : PEER_MAC_BYTES;
    for (let j = 0; j < 6; j++) {
      buf[o + j] = dmac[j];
      buf[o + 6 + j] = smac[j];
    }
    buf.writeUInt16BE(f.v6 ? 0x86dd : 0x0800, o + 12);
    o += 14;
    const ipLen = size - 14;
    const proto = f.tcp ? 6 : 17;
    buf.fill(0, o, o + ipLen);
    if (f.v6) {
      buf[o] = 0x60;
      buf.writeUInt16BE(ipLen - 40, o + 4);
      buf[o + 6] = proto;
      buf[o + 7] = 64;
      const guest = o + (outbound ? 8 : 24);
      const peer = o + (outbound ? 24 : 8);
      buf.writeUInt32BE(0xfd000000, guest);
      buf.writeUInt32BE(2, guest + 12);
      buf.writeUInt32BE(0x20010db8, peer);
      buf.writeUInt32BE(f.remote, peer + 12);
    } else {
      buf[o] = 0x45;
      buf.writeUInt16BE(ipLen, o + 2);
      buf[o + 8] = 64;
      buf[o + 9] = proto;
      buf.writeUInt32BE(outbound ? 0x0a000002 : f.remote, o + 12);
      buf.writeUInt32BE(outbound ? f.remote : 0x0a000002, o + 16);
    }
    o += l3;
    buf.writeUInt16BE(outbound ? f.lport : f.rport, o);
    buf.writeUInt16BE(outbound ? f.rport : f.lport, o + 2);
    if (f.tcp) {
      buf[o + 12] = 0x50;
      buf[o + 13] = flags;
    } else {
      buf.writeUInt16BE(ipLen - l3, o + 4);
    }
    used += 16 + size;
    bytes += size;
    f.sent++;
    f.left--;
  }
  flush();
  closeSync(fd);
  return { packets, flowsCreated, avgBytes: bytes / packets };
}
