// Baseline check of one process with ~100 mappings, without content hashing, beside the raw cost of reading and
// parsing its /proc maps: C read() of the file, and JS readFileSync + split + start/end/perms (the platform
// figure). The check runs repeated (as `watch` does: an unchanged maps text is not parsed again) and first (a fresh
// detector, as one CLI run). Then the same check with content hashing from the identity cache (a stat per file),
// and with written code pages looked up in /proc/PID/pagemap (`codePages`).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { consume, emit, interleaved, measure, parasight, reference, scratchDir } from '../lib/harness.mjs';
import { baselineTarget } from '../lib/baseline-target.mjs';

const trial = 'baseline-check';
const { BaselineDetector, BaselineStore, parseMaps } = await parasight();
const target = await baselineTarget(100);
const dir = mkdtempSync(join(scratchDir, 'parasight-bench-baseline-'));
const store = new BaselineStore(join(dir, 'b.db'));
const mapsPath = `/proc/${target.pid}/maps`;
const note = `${target.mappings} mappings`;

function plainParse() {
  let n = 0;
  for (const l of readFileSync(mapsPath, 'utf8').split('\n')) {
    if (!l) continue;
    const dash = l.indexOf('-');
    const sp = l.indexOf(' ', dash);
    n += parseInt(l.slice(dash + 1, sp), 16) - parseInt(l.slice(0, dash), 16) + l.slice(sp + 1, sp + 5).length;
  }
  return n;
}

try {
  const plain = await BaselineDetector.create({ store, hashFiles: false });
  plain.record({ pid: target.pid });
  const hashing = await BaselineDetector.create({ store });
  hashing.record({ pid: target.pid });
  const pages = await BaselineDetector.create({ store, hashFiles: false, codePages: true });
  for (const d of [plain, hashing, pages]) {
    const f = d.check({ pid: target.pid })[0].comparison.findings;
    if (f.length) throw new Error(`clean target has findings: ${f.map((x) => x.reason).join('; ')}`);
  }
  const asRef = async (r) => ({ ...(await r), reference: true });
  const vs = 'JS read + split + parse start/end/perms (reference)';
  // Interleaved rounds: the load on a shared machine drifts; this spreads it over ours and the references alike.
  const rows = await interleaved([
    () => reference(trial, 'C read() of /proc/PID/maps', ['read', mapsPath], { items: target.mappings, note }),
    () => asRef(measure(trial, vs, () => consume(plainParse()), { items: target.mappings, note })),
    () => measure(trial, 'parseMaps (every field, kinds, list names)', () => consume(parseMaps(readFileSync(mapsPath, 'utf8')).entries.length), { items: target.mappings, vs }),
    () => measure(trial, 'check, no content hashing, repeated (unchanged maps text: parse reused)', () => consume(plain.check({ pid: target.pid }).length), { items: target.mappings, vs }),
    // A first check: a fresh detector (as one CLI run) parses the maps; creating it is part of the cost.
    () => measure(trial, 'check, no content hashing, first (fresh detector, full parse)', () => BaselineDetector.create({ store, hashFiles: false }).then((d) => consume(d.check({ pid: target.pid }).length)), { items: target.mappings, vs, defer: true }),
    () => measure(trial, 'check with content hashes (identity cache warm: a stat per file)', () => consume(hashing.check({ pid: target.pid }).length), { items: target.mappings, vs }),
    () => measure(trial, 'check with code pages (pagemap of every executable file mapping)', () => consume(pages.check({ pid: target.pid }).length), { items: target.mappings, vs }),
  ]);
  emit(rows);
} finally {
  store.close();
  target.stop();
  rmSync(dir, { recursive: true, force: true });
}
