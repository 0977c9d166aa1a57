/**
 * What a capture source hands the sensor: frames inside a buffer it reuses (valid only during the call — copy what
 * you keep), with the capture length, wire length, timestamp (ms since the epoch) and pcap link type.
 */
export type FrameSink = (bytes: Uint8Array, start: number, caplen: number, origLen: number, tsMs: number, linkType: number) => void;

export interface CaptureStats {
  /** Frames handed to the sink. */
  frames: number;
  /** Kernel-reported: packets received by the filter, dropped for lack of buffer space, dropped by the NIC. */
  received: number;
  dropped: number;
  ifDropped: number;
}
