// Baseline detector trials, each beside a reference measured in the same run:
//  1. a check of one process with ~100 mappings, without content hashing, vs reading + parsing its /proc maps the
//     plain way (readFileSync + split + start/end/perms; the platform figure in the performance facts);
//  2. content hashing of every file that process maps vs read() alone of the same files into a reused buffer.
// Needs the TypeScript build (npm run build:ts). Prints a markdown table; writes bench/results/baseline.json.
import Benchmark from 'benchmark';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaselineDetector } from '../dist/baseline/detector.js';
import { loadDigest } from '../dist/baseline/digest.js';
import { parseMaps } from '../dist/baseline/maps.js';
import { BaselineStore } from '../dist/baseline/store.js';

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const CANDIDATES = ['libz.so.1', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'liblzma.so.5', 'libxxhash.so.0',
  'libcrypto.so.3', 'libssl.so.3', 'libbz2.so.1.0', 'libzstd.so.1', 'libexpat.so.1', 'libffi.so.8', 'libgmp.so.10',
  'libuuid.so.1', 'libcap.so.2', 'libacl.so.1', 'libattr.so.1', 'libselinux.so.1', 'libpcre2-8.so.0', 'libmd.so.0']
  .map((l) => join(LIBDIR, l)).filter(existsSync);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A `sleep` process with enough preloaded system libraries to have at least `want` mappings. */
async function target(want) {
  for (let n = 0; n <= CANDIDATES.length; n++) {
    const child = spawn('sleep', ['600'], { env: { ...process.env, LD_PRELOAD: CANDIDATES.slice(0, n).join(':') }, stdio: 'ignore' });
    await sleep(100);
    const count = readFileSync(`/proc/${child.pid}/maps`, 'utf8').trim().split('\n').length;
    if (count >= want || n === CANDIDATES.length) return { child, count };
    child.kill('SIGKILL');
  }
  throw new Error('unreachable');
}

function referenceParse(pid) {
  const lines = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  let n = 0;
  for (const l of lines) {
    if (!l) continue;
    const dash = l.indexOf('-');
    const sp = l.indexOf(' ', dash);
    const start = parseInt(l.slice(0, dash), 16);
    const end = parseInt(l.slice(dash + 1, sp), 16);
    const perms = l.slice(sp + 1, sp + 5);
    n += end - start + perms.length;
  }
  return n;
}

function run(suite) {
  return new Promise((resolve) => {
    const out = [];
    suite.on('cycle', (e) => out.push(e.target)).on('complete', () => resolve(out)).run({ async: false });
  });
}

const us = (t) => (t.stats.mean * 1e6);

const { child, count } = await target(100);
const pid = child.pid;
const dir = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
const store = new BaselineStore(join(dir, 'b.db'));
try {
  const det = await BaselineDetector.create({ store, hashFiles: false });
  det.record({ pid });
  const first = det.check({ pid })[0];
  if (first.comparison.findings.length !== 0) throw new Error('clean target has findings: ' + JSON.stringify(first.comparison.findings.map((f) => f.reason)));

  const mapsResults = await run(new Benchmark.Suite()
    .add('reference: read + split + parse start/end/perms of /proc/PID/maps', () => referenceParse(pid))
    .add('parseMaps (all fields, kinds, list names)', () => parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8')))
    .add('baseline check, no content hashing (collect + feature + store lookup + compare + events)', () => det.check({ pid })));

  // Files the target maps, hashed whole: ours vs read() alone into one reused 1 MiB buffer.
  const files = [...new Set(parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8')).entries.filter((e) => e.kind === 'file').map((e) => e.path))];
  const digest = await loadDigest();
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  const readAll = () => {
    let total = 0;
    for (const f of files) {
      const fd = openSync(f, 'r');
      let n;
      while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) total += n;
      closeSync(fd);
    }
    return total;
  };
  bytes = readAll();
  const hashResults = await run(new Benchmark.Suite()
    .add(`reference: read() alone of the ${files.length} mapped files (${(bytes / 2 ** 20).toFixed(1)} MiB)`, readAll)
    .add(`content hash (${digest.algo}) of the same files`, () => { for (const f of files) digest.file(f); }));

  const rows = [];
  const ref1 = us(mapsResults[0]);
  for (const t of mapsResults) rows.push({ trial: t.name, mean_us: us(t), ratio: us(t) / ref1, extra: `${count} mappings` });
  const ref2 = us(hashResults[0]);
  for (const t of hashResults) rows.push({ trial: t.name, mean_us: us(t), ratio: us(t) / ref2, extra: `${((bytes / (t.stats.mean)) / 1e9).toFixed(2)} GB/s` });

  console.log('| trial | mean | vs reference | note |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.trial} | ${r.mean_us.toFixed(1)} µs | ${r.ratio.toFixed(2)}× | ${r.extra} |`);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/baseline.json', import.meta.url), JSON.stringify({ mappings: count, files: files.length, bytes, rows }, null, 2) + '\n');
} finally {
  store.close();
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
