// Helpers for bench trials: measure a function with `benchmark`, run the C reference program, report rows to the
// runner. A trial is a plain script (bench/trials/<name>.mjs) that the runner starts in its own child process.
import Benchmark from 'benchmark';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchRoot = dirname(dirname(fileURLToPath(import.meta.url)));
export const packageRoot = dirname(benchRoot);
/** Where the runner makes its per-run scratch directory (tmpfs when available: page-cache speed, no disk noise). */
export const scratchRoot = existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
/** Scratch directory for generated images and files: the runner's per-run directory (removed after the run). */
export const scratchDir = process.env.PARASIGHT_BENCH_DIR ?? scratchRoot;
/** `--quick` on the runner: shorter runs, smaller inputs (for a smoke test, not for numbers). */
export const quick = process.env.PARASIGHT_BENCH_QUICK === '1';

/** The built package (the runner compiles src/ to dist/ first). */
export async function parasight() {
  return import(join(packageRoot, 'dist', 'index.js'));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * Builds a result row from per-operation times in nanoseconds. `bytes` and `items` are per operation: they give
 * the throughput column (bytes/s) and the per-item time (e.g. ns per translated address). `vs` names the reference
 * row of the same trial this one is compared with (default: the trial's first reference).
 */
export function row({ trial, name, samplesNs, bytes, items, reference = false, vs, note }) {
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  return {
    trial,
    name,
    reference,
    samples: sorted.length,
    p50Ns: p50,
    p99Ns: percentile(sorted, 99),
    perItemNs: items ? p50 / items : undefined,
    bytesPerSecond: bytes ? bytes / (p50 * 1e-9) : undefined,
    bytes,
    items,
    vs,
    note,
    samplesNs: sorted,
  };
}

/**
 * Measures `fn` with benchmark.js (one sample = the mean time per call over one cycle). Async functions: pass
 * `defer: true` and a `fn` that returns a promise.
 */
export function measure(trial, name, fn, { bytes, items, vs, defer = false, minSamples = quick ? 5 : 10, maxTime = quick ? 0.3 : 0.8, note } = {}) {
  return new Promise((resolve, reject) => {
    const options = {
      minSamples,
      maxTime,
      defer,
      onError: (e) => reject(e.target?.error ?? e),
      onComplete: function () {
        if (this.error) return reject(this.error);
        resolve(row({ trial, name, samplesNs: this.stats.sample.map((s) => s * 1e9), bytes, items, vs, note }));
      },
    };
    const bench = defer
      ? new Benchmark(name, { ...options, fn: (deferred) => fn().then(() => deferred.resolve(), reject) })
      : new Benchmark(name, fn, options);
    bench.run({ async: false });
  });
}

/** Compiles bench/native/ref.c once (gcc -O2, xxhash.h inlined) and returns the binary's path. */
export function referenceBinary() {
  const src = join(benchRoot, 'native', 'ref.c');
  const outDir = join(packageRoot, 'build', 'bench');
  const bin = join(outDir, 'ref');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(outDir, { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' });
  }
  return bin;
}

/** Runs the C reference program (`ref <args>`) and returns its row. */
export function reference(trial, name, args, { bytes, items, note } = {}) {
  const out = execFileSync(referenceBinary(), args.map(String), {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
    env: { ...process.env, PARASIGHT_BENCH_REF_CYCLES: quick ? '8' : '12' },
  });
  const { samples } = JSON.parse(out.trim().split('\n').pop());
  return row({ trial, name, samplesNs: samples, bytes, items, reference: true, note });
}

/**
 * Runs every case (a function returning a row, or a promise of one) `rounds` times, in order, and merges each case's
 * samples. The machine's load drifts (other work, frequency): interleaving ours and the reference spreads that drift
 * over both instead of favouring whichever ran at the quiet moment.
 */
export async function interleaved(cases, rounds = quick ? 1 : 3) {
  const byName = new Map();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const got = await c();
      const prev = byName.get(got.name);
      byName.set(got.name, prev ? { ...prev, samplesNs: [...prev.samplesNs, ...got.samplesNs] } : got);
    }
  }
  return [...byName.values()].map((x) => row(x));
}

/** Hands rows to the runner (one marked JSON line each on stdout). */
export function emit(...rows) {
  for (const r of rows.flat()) process.stdout.write(`PARASIGHT_BENCH_ROW ${JSON.stringify(r)}\n`);
}

/** Nanoseconds one synchronous call of `fn` takes (for trials that time single operations themselves). */
export function timeNs(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t);
}

/** Prevents dead-code elimination of benchmark results. */
export let blackhole = 0;
export function consume(v) {
  blackhole ^= typeof v === 'bigint' ? Number(v & 0xffn) : Number(v) | 0;
}

/**
 * Longest gap (ns) between ticks of a 1 ms interval while `work` runs (started from a timer, so a blocking call
 * counts), the wall time of `work` (ns) and its value: how long the event loop stood still.
 */
export async function eventLoopStall(work) {
  let last = performance.now();
  let max = 0;
  const t = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  max = 0;
  last = performance.now();
  const started = performance.now();
  const value = await new Promise((resolve, reject) => setTimeout(() => Promise.resolve().then(work).then(resolve, reject), 0));
  const wall = performance.now() - started;
  await new Promise((r) => setTimeout(r, 10));
  clearInterval(t);
  return { stallNs: max * 1e6, wallNs: wall * 1e6, value };
}
