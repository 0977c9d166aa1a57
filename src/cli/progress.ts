/**
 * Progress of long offline work on a terminal: one line on stderr, rewritten in place and throttled, so stdout (tables,
 * JSON, NDJSON) stays clean. Nothing at all when stderr is not a terminal (logs and CI).
 */

export interface Progress {
  /** Reports bytes done of a total (the shape of readPcapFile's onProgress). */
  update(done: number, total: number): void;
  /** Ends the line. */
  done(): void;
}

/** A progress line for `label` ("reading capture.pcap"), or undefined when stderr is not a terminal. */
export function fileProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  let shown = false;
  const started = Date.now();
  const show = (done: number, total: number): void => {
    const pct = total > 0 ? Math.min(100, (100 * done) / total) : 100;
    const mib = (done / (1 << 20)).toFixed(0);
    stream.write(`\r${label}: ${pct.toFixed(0)}% (${mib} MiB, ${((Date.now() - started) / 1000).toFixed(0)} s)\x1b[K`);
    shown = true;
  };
  return {
    update(done, total) {
      const now = Date.now();
      // ~10 redraws a second at most: a terminal write per 1 MiB chunk would cost more than the chunk.
      if (now - last < 100 && done < total) return;
      last = now;
      show(done, total);
    },
    done() {
      if (shown) stream.write('\n');
    },
  };
}

/**
 * A status line on a terminal's stderr for a step that reports no progress of its own (e.g. a synchronous scan);
 * returns the function that clears it. Nothing when stderr is not a terminal.
 */
export function statusLine(text: string, stream: NodeJS.WriteStream = process.stderr): () => void {
  if (!stream.isTTY) return () => undefined;
  stream.write(`${text} ...`);
  return () => void stream.write('\r\x1b[K');
}
