// Small in-JS inputs: xxhash-wasm XXH64 vs the native addon (one N-API call) vs XXH64 / XXH3 in plain C, on the
// same sizes.
import { emit, interleaved, measure, parasight, reference } from '../lib/harness.mjs';

const trial = 'hash-small';
const { hashBytes, loadWasmHasher } = await parasight();
const wasm = await loadWasmHasher();

const cases = [];
for (const size of [64, 1024, 65536]) {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 131) & 0xff;
  const ref = `C XXH64 ${size} B`;
  cases.push(() => reference(trial, ref, ['hash', 'xxh64', size], { bytes: size }));
  cases.push(() => reference(trial, `C XXH3-64 ${size} B`, ['hash', 'xxh3', size], { bytes: size }));
  cases.push(() => measure(trial, `xxhash-wasm h64Raw ${size} B`, () => wasm.xxh64(data), { bytes: size, vs: ref }));
  cases.push(() => measure(trial, `native hashBytes xxh64 ${size} B`, () => hashBytes(data, { algorithm: 'xxh64' }), { bytes: size, vs: ref }));
  cases.push(() => measure(trial, `native hashBytes xxh3-64 ${size} B`, () => hashBytes(data), { bytes: size, vs: `C XXH3-64 ${size} B` }));
}
const rows = await interleaved(cases);
emit(rows);
