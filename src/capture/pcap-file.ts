/**
 * Reads classic pcap and pcapng files in chunks with asynchronous reads, handing each frame to a sink. libpcap's
 * offline reader (through node-pcap) runs synchronously until the file ends and would block the event loop; here
 * each chunk (1 MiB by default, ~1–2 ms of decoding) is followed by an I/O wait, so timers and sockets keep running.
 */
import { open } from 'node:fs/promises';
import { ParasightError } from '../errors.js';
import type { FrameSink } from './types.js';

export interface PcapFileOptions {
  chunkSize?: number;
  signal?: AbortSignal;
  /** Called after each chunk with bytes read so far and the file size (progress on long offline work). */
  onProgress?: (bytesRead: number, fileSize: number) => void;
}

export interface PcapFileSummary {
  format: 'pcap' | 'pcapng';
  frames: number;
  bytes: number;
  /** Link type of the (first) interface. */
  linkType: number;
  /** Trailing bytes that did not form a whole record (a capture cut short). */
  truncatedTail: number;
}

const MAX_RECORD = 16 << 20;

function formatError(path: string, offset: number, message: string): ParasightError {
  return new ParasightError(`${path}: ${message} at byte ${offset}`, { code: 'FORMAT', source: path, offset });
}

interface Interface {
  linkType: number;
  /** Multiplier from timestamp units to ms. */
  unitMs: number;
}

export async function readPcapFile(path: string, sink: FrameSink, options: PcapFileOptions = {}): Promise<PcapFileSummary> {
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new ParasightError(`cannot open capture file ${path}: ${e.message}`, { code: e.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', source: path, cause: e });
  });
  try {
    const size = (await fh.stat()).size;
    let buf = Buffer.alloc(options.chunkSize ?? 1 << 20);
    let have = 0; // valid bytes in buf
    let fileOff = 0; // file offset of buf[0]
    let eof = false;
    const fill = async (): Promise<void> => {
      if (eof) return;
      const { bytesRead } = await fh.read(buf, have, buf.length - have, fileOff + have);
      if (bytesRead === 0) eof = true;
      have += bytesRead;
      options.onProgress?.(fileOff + have, size);
    };
    /** Ensures `n` bytes at `pos` are in buf (compacting or growing it); false at end of file. */
    const ensure = async (pos: number, n: number): Promise<{ ok: boolean; pos: number }> => {
      while (have - pos < n) {
        if (options.signal?.aborted) throw new ParasightError(`reading ${path} cancelled`, { code: 'CANCELLED', source: path });
        if (pos > 0) {
          buf.copy(buf, 0, pos, have);
          have -= pos;
          fileOff += pos;
          pos = 0;
        }
        if (n > buf.length) {
          const bigger = Buffer.alloc(Math.max(n, buf.length * 2));
          buf.copy(bigger, 0, 0, have);
          buf = bigger;
        }
        const before = have;
        await fill();
        if (have === before) return { ok: false, pos };
      }
      return { ok: true, pos };
    };

    let r = await ensure(0, 4);
    if (!r.ok) throw formatError(path, 0, 'file too short for a capture header');
    const magic = buf.readUInt32LE(0);
    const summary: PcapFileSummary = { format: 'pcap', frames: 0, bytes: 0, linkType: 0, truncatedTail: 0 };

    if (magic === 0x0a0d0d0a) {
      summary.format = 'pcapng';
      let pos = 0;
      let le = true;
      let ifaces: Interface[] = [];
      for (;;) {
        r = await ensure(pos, 12);
        pos = r.pos;
        if (!r.ok) {
          summary.truncatedTail = have - pos;
          break;
        }
        let type = le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
        if (type === 0x0a0d0d0a) {
          const bom = buf.readUInt32LE(pos + 8);
          if (bom === 0x1a2b3c4d) le = true;
          else if (bom === 0x4d3c2b1a) le = false;
          else throw formatError(path, fileOff + pos, 'bad pcapng byte-order magic');
          type = 0x0a0d0d0a;
          ifaces = [];
        }
        const len = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
        if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) throw formatError(path, fileOff + pos, `bad pcapng block length ${len}`);
        r = await ensure(pos, len);
        pos = r.pos;
        if (!r.ok) {
          summary.truncatedTail = have - pos;
          break;
        }
        const u32 = (o: number): number => (le ? buf.readUInt32LE(pos + o) : buf.readUInt32BE(pos + o));
        const u16 = (o: number): number => (le ? buf.readUInt16LE(pos + o) : buf.readUInt16BE(pos + o));
        if (type === 1) {
          const iface: Interface = { linkType: u16(8), unitMs: 1e-3 };
          // Options: code, length, value padded to 4.
          for (let o = 16; o + 4 <= len - 4; ) {
            const code = u16(o);
            const olen = u16(o + 2);
            if (code === 0) break;
            if (code === 9 && olen >= 1) {
              const v = buf[pos + o + 4]!;
              iface.unitMs = (v & 0x80 ? 2 ** -(v & 0x7f) : 10 ** -v) * 1000;
            }
            o += 4 + ((olen + 3) & ~3);
          }
          ifaces.push(iface);
          if (summary.linkType === 0) summary.linkType = iface.linkType;
        } else if (type === 6 || type === 2) {
          const ifIndex = type === 6 ? u32(8) : u16(8);
          const iface = ifaces[ifIndex];
          if (!iface) throw formatError(path, fileOff + pos, `packet for undeclared interface ${ifIndex}`);
          const ts = (u32(12) * 4294967296 + u32(16)) * iface.unitMs;
          const caplen = u32(20);
          if (28 + caplen > len - 4) throw formatError(path, fileOff + pos, `captured length ${caplen} exceeds its block`);
          summary.frames++;
          summary.bytes += caplen;
          sink(buf, pos + 28, caplen, u32(24), ts, iface.linkType);
        } else if (type === 3) {
          const iface = ifaces[0];
          if (!iface) throw formatError(path, fileOff + pos, 'simple packet block before any interface');
          const orig = u32(8);
          const caplen = Math.min(orig, len - 16);
          summary.frames++;
          summary.bytes += caplen;
          sink(buf, pos + 12, caplen, orig, 0, iface.linkType);
        }
        pos += len;
      }
      return summary;
    }

    // Classic pcap: magic gives byte order and µs/ns resolution.
    let le: boolean;
    let unitMs: number;
    if (magic === 0xa1b2c3d4) [le, unitMs] = [true, 1e-3];
    else if (magic === 0xd4c3b2a1) [le, unitMs] = [false, 1e-3];
    else if (magic === 0xa1b23c4d) [le, unitMs] = [true, 1e-6];
    else if (magic === 0x4d3cb2a1) [le, unitMs] = [false, 1e-6];
    else throw formatError(path, 0, `not a pcap or pcapng file (magic 0x${magic.toString(16)})`);
    r = await ensure(0, 24);
    if (!r.ok) throw formatError(path, 0, 'truncated pcap header');
    const linkType = (le ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0x0fffffff;
    summary.linkType = linkType;
    let pos = 24;
    for (;;) {
      // Fast inner loop over whole records already in the buffer; refill only at the chunk's edge.
      while (have - pos >= 16) {
        const caplen = le ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8);
        if (caplen > MAX_RECORD) throw formatError(path, fileOff + pos, `record length ${caplen} is not plausible`);
        if (have - pos < 16 + caplen) break;
        const sec = le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
        const frac = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
        const orig = le ? buf.readUInt32LE(pos + 12) : buf.readUInt32BE(pos + 12);
        summary.frames++;
        summary.bytes += caplen;
        sink(buf, pos + 16, caplen, orig, sec * 1000 + frac * unitMs, linkType);
        pos += 16 + caplen;
      }
      const caplen = have - pos >= 16 ? (le ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8)) : 0;
      r = await ensure(pos, 16 + caplen);
      pos = r.pos;
      if (!r.ok) {
        summary.truncatedTail = have - pos;
        break;
      }
    }
    return summary;
  } finally {
    await fh.close();
  }
}
