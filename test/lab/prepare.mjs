// Lab inputs, built once and cached under test/lab/.cache (gitignored): for each lab kernel (KERNELS) the Debian
// kernel package its meta-package depends on, and Debian's libc6 (downloaded with apt, extracted with dpkg-deb, never
// installed), our guest programs (compiled here against the same glibc), and per kernel an initramfs holding busybox,
// the dynamic loader and libc, that kernel's NIC modules and those programs.
//
//   node test/lab/prepare.mjs     download (apt) what is missing for every lab kernel and build; CI runs this.
//
// Tests call prepareLab({ download: false, kernel }): nothing is downloaded while tests run; they skip with the reason.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const cacheDir = join(here, '.cache');
const guestSrc = join(here, 'guest');

/** The host side of the lab bridge and its peer's port (lab.mjs); parasite.so carries them compiled in. */
export const HOST_V6 = 'fd77::1';
export const PEER_PORT = 7000;

/**
 * Kernels the lab boots, the first being the default. `meta` is the Debian meta-package whose dependency names the
 * kernel build to fetch (the newest of that series when prepared). They differ in struct layouts, kallsyms layout,
 * image compression (XZ vs zstd) and which drivers are modules.
 */
export const KERNELS = [
  { name: '6.1', meta: 'linux-image-amd64' },
  { name: '6.12', meta: 'linux-image-6.12-amd64' },
];

// NIC and virtio-serial modules in load order (the package ships no modules.dep; this order satisfies their
// dependencies). A kernel that builds one in (modules.builtin) skips it; compressed modules (.ko.xz) are unpacked.
const MODULES = [
  'kernel/net/core/failover.ko',
  'kernel/drivers/net/net_failover.ko',
  'kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
  'kernel/drivers/virtio/virtio_pci.ko',
  'kernel/drivers/net/virtio_net.ko',
  'kernel/drivers/char/virtio_console.ko',
];

const APPLETS = ['sh', 'mount', 'insmod', 'ip', 'sleep', 'cat', 'ps', 'kill', 'ls', 'echo', 'stty', 'ln', 'rm',
  'mkdir', 'setsid', 'nc', 'grep', 'head', 'poweroff', 'true', 'test', '[', 'env', 'sync', 'reboot', 'cp', 'pidof',
  'readlink'];

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function which(cmd) {
  try {
    return sh('sh', ['-c', `command -v ${cmd}`]).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Name of the kernel package a meta-package depends on (apt metadata), e.g. linux-image-6.1.0-56-amd64. */
function currentKernelPackage(meta) {
  const out = sh('apt-cache', ['depends', meta]);
  const m = /Depends:\s*(linux-image-[0-9][^\s]*)/.exec(out);
  if (!m) throw new Error(`apt-cache does not list the kernel package ${meta} depends on`);
  return m[1];
}

/** Which MODULES a kernel has as files (path in the package, maybe compressed), skipping the built-in ones. */
function kernelModules(kernelDir, version) {
  const base = join(kernelDir, 'lib/modules', version);
  const builtinFile = join(base, 'modules.builtin');
  const builtin = new Set(existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n') : []);
  const out = [];
  for (const m of MODULES) {
    const file = [m, `${m}.xz`].find((f) => existsSync(join(base, f)));
    if (file) out.push({ module: m, file });
    else if (!builtin.has(m)) throw new Error(`kernel ${version} has neither the module ${m} nor it built in`);
  }
  return out;
}

function download(pkg) {
  const have = readdirSync(cacheDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (have) return join(cacheDir, have);
  sh('apt-get', ['download', pkg], { cwd: cacheDir });
  const got = readdirSync(cacheDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!got) throw new Error(`apt-get download ${pkg} produced no .deb`);
  return join(cacheDir, got);
}

function extract(deb, into) {
  if (existsSync(join(into, '.done'))) return into;
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  sh('dpkg-deb', ['-x', deb, into]);
  writeFileSync(join(into, '.done'), '');
  return into;
}

/** Atomic write: parallel test files may prepare at the same time. */
function writeAtomic(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Builds `src` (default guest/NAME.c) into the cache as bin/NAME, again only when the source or flags changed. */
function compile(name, extra = [], src = join(guestSrc, `${name}.c`)) {
  const out = join(cacheDir, 'bin', name);
  const hash = createHash('sha256').update(readFileSync(src));
  // Flags beyond the shared-library ones are part of what is built (a compiled-in destination).
  const defines = extra.filter((a) => a.startsWith('-D'));
  if (defines.length > 0) hash.update(defines.join('\0'));
  const stamp = hash.digest('hex').slice(0, 16);
  const stampFile = `${out}.src`;
  if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  sh('gcc', ['-O2', '-Wall', '-Wextra', '-o', tmp, src, ...extra]);
  renameSync(tmp, out);
  writeFileSync(stampFile, stamp);
  return out;
}

function initScript(version, modules) {
  const insmods = modules.map(({ module }) => `insmod /lib/modules/${version}/${module}`).join('\n');
  return `#!/bin/sh
# Lab guest init: network up, ground truth on request, commands from a virtio serial port.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp
${insmods}
ip link set lo up
ip link set eth0 up
echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
ip addr add 10.77.0.2/24 dev eth0
ip -6 addr add fd77::2/64 dev eth0
echo "PARASIGHT-LAB-READY kernel=$(cat /proc/sys/kernel/osrelease)" > /dev/ttyS0
i=0; while [ ! -e /dev/vport0p1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
while true; do
  # One read-write open (a virtio port admits one opener); not a tty, so the shell is non-interactive.
  setsid sh -c 'exec sh 0<>/dev/vport0p1 1>&0 2>&0'
done`;
}

function buildInitramfs(kernelDir, libcDir, version, bins) {
  const busybox = which('busybox');
  if (!busybox) throw new Error('busybox is not installed (Debian package busybox-static)');
  const modules = kernelModules(kernelDir, version);
  const inputs = createHash('sha256');
  inputs.update(initScript(version, modules));
  for (const b of Object.values(bins)) inputs.update(readFileSync(b));
  inputs.update(readFileSync(busybox));
  const digest = inputs.digest('hex').slice(0, 16);
  const out = join(cacheDir, `initramfs-${version}-${digest}.cpio.gz`);
  if (existsSync(out)) return out;

  const root = join(cacheDir, `root.${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'lib64', 'lib/x86_64-linux-gnu', 'etc']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  copyFileSync(busybox, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  // Debian's dynamic loader and libc, so dynamically linked programs, LD_PRELOAD and dlopen work in the guest.
  const libSrc = join(libcDir, 'lib/x86_64-linux-gnu');
  for (const f of readdirSync(libSrc)) {
    if (f.endsWith('.so') || /\.so\.\d+$/.test(f)) copyFileSync(join(libSrc, f), join(root, 'lib/x86_64-linux-gnu', f));
  }
  symlinkSync('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(root, 'lib64/ld-linux-x86-64.so.2'));
  for (const { module, file } of modules) {
    const src = join(kernelDir, 'lib/modules', version, file);
    const dst = join(root, 'lib/modules', version, module);
    mkdirSync(dirname(dst), { recursive: true });
    // busybox insmod takes plain ELF modules only.
    if (file.endsWith('.xz')) writeFileSync(dst, execFileSync('xz', ['-dc', src], { maxBuffer: 64 << 20 }));
    else copyFileSync(src, dst);
  }
  for (const [name, path] of Object.entries(bins)) {
    copyFileSync(path, join(root, 'bin', name));
    chmodSync(join(root, 'bin', name), 0o755);
  }
  writeFileSync(join(root, 'init'), initScript(version, modules), { mode: 0o755 });
  const tmp = `${out}.${process.pid}.tmp`;
  sh('sh', ['-c', `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${tmp}"`]);
  renameSync(tmp, out);
  rmSync(root, { recursive: true, force: true });
  return out;
}

/**
 * The kernels lab suites run on: all of KERNELS, or those named in PARASIGHT_LAB_KERNELS (comma-separated, e.g.
 * "6.1") to spend fewer boots.
 */
export function testedKernels() {
  const only = process.env.PARASIGHT_LAB_KERNELS?.split(',').map((x) => x.trim()).filter(Boolean);
  return only?.length ? only.map((name) => labKernel(name)) : KERNELS;
}

/** The lab kernel named `name` (default: the first of KERNELS); throws listing the known names. */
export function labKernel(name = KERNELS[0].name) {
  const k = KERNELS.find((x) => x.name === name);
  if (!k) throw new Error(`unknown lab kernel ${name} (known: ${KERNELS.map((x) => x.name).join(', ')})`);
  return k;
}

function cachedDeb(pkg) {
  const f = readdirSync(cacheDir).find((x) => x.startsWith(`${pkg}_`) && x.endsWith('.deb'));
  return f ? join(cacheDir, f) : undefined;
}

/**
 * Everything a lab guest boots from, for the kernel named `kernel` (see KERNELS). Throws an Error whose message
 * says what is missing; with download=false nothing is fetched (tests), with download=true apt fetches the packages
 * (CI setup, `npm run lab`).
 */
export function prepareLab({ download: allowDownload = false, kernel } = {}) {
  const k = labKernel(kernel);
  mkdirSync(cacheDir, { recursive: true });
  // The default kernel keeps the state file name older checkouts read.
  const stateFile = join(cacheDir, k === KERNELS[0] ? 'kernel.json' : `kernel-${k.name}.json`);
  let pkg;
  if (allowDownload) {
    pkg = currentKernelPackage(k.meta);
  } else if (existsSync(stateFile)) {
    pkg = JSON.parse(readFileSync(stateFile, 'utf8')).package;
  } else {
    throw new Error(`the lab kernel ${k.name} is not cached: run "node test/lab/prepare.mjs" (downloads it with apt)`);
  }
  const kernelDeb = allowDownload ? download(pkg) : cachedDeb(pkg);
  const libcDeb = allowDownload ? download('libc6') : cachedDeb('libc6');
  if (!kernelDeb || !libcDeb) {
    throw new Error(`the lab packages for kernel ${k.name} are not cached: run "node test/lab/prepare.mjs" (downloads them with apt)`);
  }
  const kernelDir = extract(kernelDeb, join(cacheDir, 'x', pkg));
  const libcDir = extract(libcDeb, join(cacheDir, 'x', 'libc6'));
  const version = readdirSync(join(kernelDir, 'lib/modules'))[0];
  const vmlinuz = join(kernelDir, 'boot', `vmlinuz-${version}`);
  // Code the lab injects into guest programs: beacon.so with LD_PRELOAD at start; parasite.so into a running program
  // with the injector (ptrace; the same injector the host-side injection tests build).
  const bins = {
    netprog: compile('netprog'),
    truth: compile('truth'),
    'beacon.so': compile('beacon', ['-shared', '-fPIC']),
    'parasite.so': compile('parasite', ['-shared', '-fPIC', `-DBEACON_AT_LOAD="${HOST_V6},${PEER_PORT}"`], join(guestSrc, 'beacon.c')),
    injector: compile('injector', [], join(here, '../fixtures/inject/injector.c')),
  };
  const initrd = buildInitramfs(kernelDir, libcDir, version, bins);
  if (allowDownload) writeAtomic(stateFile, JSON.stringify({ package: pkg, version }, null, 2));
  return { kernel: k.name, version, vmlinuz, initrd, bins, kernelDir };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Each kernel on its own: one that cannot be fetched leaves the others usable (its suites skip, saying why).
  let failed = 0;
  for (const { name } of KERNELS) {
    const started = Date.now();
    try {
      const r = prepareLab({ download: true, kernel: name });
      console.log(`lab ready: kernel ${r.version} (${name}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n  ${r.vmlinuz}\n  ${r.initrd}`);
    } catch (e) {
      failed++;
      console.error(`lab kernel ${name} could not be prepared: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}
