// A target process for the baseline trials: `sleep` with enough system libraries preloaded to have at least
// `want` mappings (a typical small service has 60-150).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const CANDIDATES = ['libz.so.1', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'liblzma.so.5', 'libxxhash.so.0',
  'libcrypto.so.3', 'libssl.so.3', 'libbz2.so.1.0', 'libzstd.so.1', 'libexpat.so.1', 'libffi.so.8', 'libgmp.so.10',
  'libuuid.so.1', 'libcap.so.2', 'libacl.so.1', 'libattr.so.1', 'libselinux.so.1', 'libpcre2-8.so.0', 'libmd.so.0']
  .map((l) => join(LIBDIR, l))
  .filter(existsSync);

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

export async function baselineTarget(want = 100) {
  for (let n = 0; n <= CANDIDATES.length; n++) {
    const child = spawn('sleep', ['3600'], { env: { ...process.env, LD_PRELOAD: CANDIDATES.slice(0, n).join(':') }, stdio: 'ignore' });
    await pause(100);
    const mappings = readFileSync(`/proc/${child.pid}/maps`, 'utf8').trim().split('\n').length;
    if (mappings >= want || n === CANDIDATES.length) return { pid: child.pid, mappings, stop: () => child.kill('SIGKILL') };
    child.kill('SIGKILL');
  }
  throw new Error('no target');
}
