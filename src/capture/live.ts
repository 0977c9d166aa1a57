/**
 * Live capture through the optional `pcap` package (libpcap), loaded lazily so the library works without it.
 *
 * Buffer settings follow what avoids drops on bursts: immediate mode (buffer_timeout 0) with a 64 KiB snaplen
 * dropped half of a 1000-packet burst, while a ~10 ms buffer timeout (TPACKET_V3 blocks), a small snaplen (we only
 * need headers) and a large ring lost nothing in a 100k burst. Drops are reported from pcap's own counters.
 */
import { createRequire } from 'node:module';
import { ParasightError } from '../errors.js';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW } from '../decode/packet.js';
import type { CaptureStats, FrameSink } from './types.js';

export interface LiveCaptureOptions {
  /** BPF filter (e.g. the VM's `ether host` filter). */
  filter?: string;
  /** Bytes kept per frame: enough for Ethernet + 2 VLAN tags + IPv6 with extension headers + TCP. */
  snaplen?: number;
  /** Kernel ring size in bytes. */
  bufferSize?: number;
  /** ms: batches packets per wake-up; 0 would mean immediate mode (drops under bursts). */
  bufferTimeout?: number;
  promiscuous?: boolean;
}

/** node-pcap's native session: the read callback its poll handler calls, and the dispatch that callback runs. */
interface PcapNativeSession {
  read_callback: (() => void) | undefined;
  dispatch(buf: Buffer, header: Buffer): number;
}

interface PcapSessionLike {
  link_type: string;
  session: PcapNativeSession;
  buf: Buffer;
  header: Buffer;
  on(event: 'packet', fn: (p: { buf: Buffer; header: Buffer }) => void): unknown;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
  close(): void;
}
interface PcapModuleLike {
  createSession(device: string, options: Record<string, unknown>): PcapSessionLike;
  warningHandler: (text: string) => void;
}

/** libpcap warnings (e.g. "no IPv4 address assigned" on a bridge), kept instead of printed. */
export const pcapWarnings: string[] = [];

let pcapModule: PcapModuleLike | undefined;

/** Loads node-pcap once; a clear error when the optional package (or libpcap) is missing. */
export function loadPcap(): PcapModuleLike {
  if (pcapModule) return pcapModule;
  try {
    const mod = createRequire(import.meta.url)('pcap') as PcapModuleLike;
    mod.warningHandler = (text) => {
      if (pcapWarnings.length < 100) pcapWarnings.push(text);
    };
    pcapModule = mod;
    return mod;
  } catch (e) {
    throw new ParasightError(
      'live capture needs the optional "pcap" package and libpcap (Debian: apt-get install libpcap-dev, then npm install pcap): ' + (e as Error).message,
      { code: 'NATIVE_LOAD', cause: e },
    );
  }
}

const LINK_TYPES: Record<string, number> = {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LINUX_SLL,
};

export class LiveCapture {
  readonly iface: string;
  readonly linkType: number;
  private session: PcapSessionLike | undefined;
  private frames = 0;
  private last: CaptureStats = { frames: 0, received: 0, dropped: 0, ifDropped: 0 };

  /** `onLost`: the capture stopped by itself (the interface was removed, e.g. the VM shut down and its tap went). */
  constructor(iface: string, sink: FrameSink, options: LiveCaptureOptions = {}, onLost?: (e: ParasightError) => void) {
    const pcap = loadPcap();
    this.iface = iface;
    try {
      this.session = pcap.createSession(iface, {
        filter: options.filter ?? '',
        snap_length: options.snaplen ?? 256,
        buffer_size: options.bufferSize ?? 64 << 20,
        buffer_timeout: options.bufferTimeout ?? 10,
        promiscuous: options.promiscuous ?? true,
      });
    } catch (e) {
      throw new ParasightError(`cannot capture on ${iface}: ${(e as Error).message}`, { code: 'IO', source: iface, cause: e });
    }
    const lt = LINK_TYPES[this.session.link_type];
    if (lt === undefined) {
      this.session.close();
      throw new ParasightError(`cannot capture on ${iface}: unsupported link type ${this.session.link_type}`, { code: 'UNSUPPORTED', source: iface });
    }
    this.linkType = lt;
    this.session.on('packet', ({ buf, header }) => {
      // node-pcap reuses `buf` and a 16-byte header: sec, usec, caplen, len (host order).
      const caplen = header.readUInt32LE(8);
      this.frames++;
      sink(buf, 0, caplen, header.readUInt32LE(12), header.readUInt32LE(0) * 1000 + header.readUInt32LE(4) / 1000, lt);
    });
    // node-pcap drops dispatch()'s result: a read error (-1) is lost, and libuv, seeing the socket's error, stops
    // polling, so the capture would end in silence (and a CLI with nothing else to wait for would exit 0). The same
    // read, with its result looked at.
    const s = this.session;
    s.session.read_callback = () => {
      if (s.session.dispatch(s.buf, s.header) === -1 && this.session === s) this.stopLost(onLost);
    };
  }

  private stopLost(onLost: ((e: ParasightError) => void) | undefined): void {
    // Not told apart: while a removed interface is being unregistered it still shows in sysfs, so "gone" vs "down"
    // would be a guess.
    const lost = new ParasightError(
      `capture on ${this.iface} stopped: the interface went down or was removed (the VM shut down, its tap went away)`,
      { code: 'SOURCE_GONE', source: this.iface },
    );
    this.close();
    onLost?.(lost);
  }

  stats(): CaptureStats {
    if (this.session) {
      try {
        const s = this.session.stats();
        this.last = { frames: this.frames, received: s.ps_recv, dropped: s.ps_drop, ifDropped: s.ps_ifdrop };
      } catch {
        // The interface is gone: the counters read before stand.
      }
    }
    return { ...this.last, frames: this.frames };
  }

  close(): void {
    if (!this.session) return;
    this.stats();
    this.session.close();
    this.session = undefined;
  }
}
