// Markdown table of benchmark rows. Each non-reference row is compared with the reference row of the same trial
// named in its `vs` (or the trial's first reference): "% of ref" = reference time / our time (higher is
// better; 100% = as fast as the plain C reference).

function fmtNs(ns) {
  if (ns === undefined || Number.isNaN(ns)) return '';
  if (ns < 1_000) return `${ns.toFixed(ns < 10 ? 2 : 1)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(2)} µs`;
  return `${(ns / 1_000_000).toFixed(2)} ms`;
}

function fmtRate(bps) {
  if (bps === undefined) return '';
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} GB/s`;
  return `${(bps / 1e6).toFixed(0)} MB/s`;
}

export function formatTable(rows) {
  const lines = [
    '| trial | case | p50 | p99 | per item | throughput | % of ref |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    let ratio = '';
    if (!r.reference) {
      const refs = rows.filter((x) => x.trial === r.trial && x.reference);
      const ref = refs.find((x) => x.name === r.vs) ?? refs[0];
      if (ref) {
        // Same work measured two ways: compare throughput when both move bytes, else time per item (or per op).
        const value =
          r.bytesPerSecond && ref.bytesPerSecond
            ? r.bytesPerSecond / ref.bytesPerSecond
            : ref.p50Ns / (ref.items ?? 1) / (r.p50Ns / (r.items ?? 1));
        ratio = `${(value * 100).toFixed(0)}% of ${ref.name}`;
      }
    }
    const name = r.reference ? `*ref:* ${r.name}` : r.name;
    lines.push(
      `| ${r.trial} | ${name} | ${fmtNs(r.p50Ns)} | ${fmtNs(r.p99Ns)} | ${r.items ? fmtNs(r.perItemNs) : ''} | ${fmtRate(r.bytesPerSecond)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}
