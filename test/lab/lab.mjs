// The Linux guest lab: one QEMU guest on a tap, bridged inside a network namespace of its own (nothing leaves
// it), a bounded host-side peer in that namespace, a QMP socket, and a command channel on a virtio serial port. Guest RAM is either a shared file under /dev/shm (`memory: 'shm'`) or plain anonymous QEMU memory
// (`memory: 'anon'`, the way stock libvirt guests run; read through the QEMU process).
//
//   const lab = await startLab({ memory: 'shm', kaslr: true, kernel: '6.12' });   // kernel: one of KERNELS
//   const truth = await lab.truth();            // the guest's own view: processes and sockets from its /proc
//   const p = await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, String(lab.peerPort)]);
//   await lab.kill(p.pid);  await lab.stop();
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_V6, PEER_PORT, prepareLab } from './prepare.mjs';

export const HOST_V4 = '10.77.0.1';
export const GUEST_V4 = '10.77.0.2';
export const GUEST_V6 = 'fd77::2';
export { HOST_V6, PEER_PORT };
const PEER_MAX_CONNECTIONS = 256;
const PEER_MAX_SECONDS = 900;
const RAM_MIB = 256;

const live = new Set();
process.once('exit', () => {
  for (const lab of live) lab.stopSync();
});

function commandExists(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the lab cannot run on this machine (with that lab kernel, default the first), or undefined when it can. */
export function labUnavailable(kernel) {
  // An explicit off switch: the machine may be able to run the lab while its owner does not want guests booted
  // (and tests use it to exercise what happens without the lab).
  if (process.env.PARASIGHT_LAB === 'off') return 'the lab is switched off (PARASIGHT_LAB=off)';
  if (process.platform !== 'linux') return 'the lab needs Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the lab needs root (network namespace, bridge and tap devices)';
  }
  if (!commandExists('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (Debian package qemu-system-x86)';
  if (!commandExists('ip')) return 'ip is not installed (Debian package iproute2)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (no tap devices)';
  try {
    prepareLab({ download: false, kernel });
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return undefined;
}

function kvmUsable() {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function ip(args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

let counter = 0;

/**
 * Boots a guest. Options: memory 'shm' | 'anon' (default 'shm'), kaslr (default true), ramMiB (default 256),
 * kernel (a KERNELS name, default the first).
 * Resolves once the guest answers on its command channel.
 */
export async function startLab(options = {}) {
  const memory = options.memory ?? 'shm';
  const kaslr = options.kaslr ?? true;
  const inputs = prepareLab({ download: options.download ?? false, kernel: options.kernel });
  const id = `${process.pid}-${++counter}`;
  const dir = mkdtempSync(join(tmpdir(), 'parasight-lab-'));
  const netns = `psl-${id}`;
  const ramPath = memory === 'shm' ? `/dev/shm/parasight-lab-${id}` : undefined;
  const ramMiB = options.ramMiB ?? RAM_MIB;
  const lab = new Lab({ id, dir, netns, ramPath, memory, kaslr, inputs, ramMiB });
  live.add(lab);
  try {
    lab.createNetwork();
    lab.startPeer();
    lab.startQemu();
    await lab.waitReady(options.bootTimeoutMs ?? 120_000);
  } catch (e) {
    lab.stopSync();
    throw e;
  }
  return lab;
}

class Lab {
  constructor({ id, dir, netns, ramPath, memory, kaslr, inputs, ramMiB }) {
    this.id = id;
    this.dir = dir;
    this.netns = netns;
    this.ramPath = ramPath;
    this.memory = memory;
    this.kaslr = kaslr;
    this.kernel = inputs.kernel;
    this.kernelVersion = inputs.version;
    this.vmlinuz = inputs.vmlinuz;
    this.initrd = inputs.initrd;
    this.ramMiB = ramMiB;
    this.ramBytes = ramMiB * 1024 * 1024;
    this.consolePath = join(dir, 'console.log');
    this.qmpPath = join(dir, 'qmp.sock');
    this.ctlPath = join(dir, 'ctl.sock');
    this.hostV4 = HOST_V4;
    this.hostV6 = HOST_V6;
    this.guestV4 = GUEST_V4;
    this.guestV6 = GUEST_V6;
    this.peerPort = PEER_PORT;
    this.accel = kvmUsable() ? 'kvm' : 'tcg';
    this.qemu = undefined;
    this.peer = undefined;
    this.ctl = undefined;
    this.ctlBuffer = '';
    this.ctlWaiters = [];
    this.seq = 0;
    this.queue = Promise.resolve();
    this.netprog = inputs.bins.netprog;
  }

  /** QEMU's process id (for the qemu-process memory source). */
  get pid() {
    return this.qemu?.pid;
  }

  createNetwork() {
    ip(['netns', 'add', this.netns]);
    this.netnsCreated = true;
    const inNs = (args) => ip(['-n', this.netns, ...args]);
    inNs(['link', 'set', 'lo', 'up']);
    inNs(['link', 'add', 'br0', 'type', 'bridge']);
    inNs(['link', 'set', 'br0', 'up']);
    inNs(['addr', 'add', `${HOST_V4}/24`, 'dev', 'br0']);
    inNs(['-6', 'addr', 'add', `${HOST_V6}/64`, 'dev', 'br0', 'nodad']);
    inNs(['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    inNs(['link', 'set', 'tap0', 'master', 'br0']);
    inNs(['link', 'set', 'tap0', 'up']);
  }

  /** The host-side peer: TCP and UDP on [::]:PEER_PORT, bounded in connections and lifetime. */
  startPeer() {
    this.peer = spawn('ip', ['netns', 'exec', this.netns, this.netprog, 'serve', String(PEER_PORT),
      String(PEER_MAX_CONNECTIONS), String(PEER_MAX_SECONDS)], { stdio: 'ignore' });
  }

  startQemu() {
    const args = [
      '-accel', this.accel, '-cpu', this.accel === 'kvm' ? 'host' : 'qemu64',
      '-m', `${this.ramMiB}M`, '-smp', '1',
      '-kernel', this.vmlinuz, '-initrd', this.initrd,
      '-append', `console=ttyS0 panic=-1 quiet loglevel=3${this.kaslr ? '' : ' nokaslr'}`,
      '-display', 'none', '-no-reboot', '-nodefaults',
      '-serial', `file:${this.consolePath}`,
      // Commands go over a virtio serial port: a 16550 serial port stalled on input bursts under TCG.
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=ctl,path=${this.ctlPath},server=on,wait=off`, '-device', 'virtserialport,chardev=ctl,name=parasight.ctl',
      '-qmp', `unix:${this.qmpPath},server=on,wait=off`,
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02',
    ];
    if (this.memory === 'shm') {
      args.push('-object', `memory-backend-file,id=mem,size=${this.ramMiB}M,mem-path=${this.ramPath},share=on`,
        '-machine', 'q35,memory-backend=mem');
    } else {
      args.push('-machine', 'q35');
    }
    this.qemu = spawn('ip', ['netns', 'exec', this.netns, 'qemu-system-x86_64', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.qemuStderr = '';
    this.qemu.stderr.on('data', (d) => {
      this.qemuStderr += d.toString();
    });
    this.qemu.on('exit', (code) => {
      this.qemuExit = code ?? -1;
    });
  }

  async waitReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.qemuExit !== undefined) {
        throw new Error(`QEMU exited (${this.qemuExit}) during boot: ${this.qemuStderr.trim()}`);
      }
      if (!this.ctl && existsSync(this.ctlPath)) await this.#connectCtl().catch(() => undefined);
      if (this.ctl && this.#console().includes('PARASIGHT-LAB-READY')) {
        const r = await this.run('echo alive', 5_000).catch(() => '');
        if (r.trim() === 'alive') return;
      }
      await sleep(200);
    }
    throw new Error(`the lab guest did not come up in ${timeoutMs} ms; console:\n${this.#console().slice(-2000)}`);
  }

  #console() {
    try {
      return readFileSync(this.consolePath, 'utf8');
    } catch {
      return '';
    }
  }

  /** The guest's serial console so far. */
  console() {
    return this.#console();
  }

  #connectCtl() {
    return new Promise((resolve, reject) => {
      const s = connect(this.ctlPath);
      s.once('connect', () => {
        this.ctl = s;
        s.setEncoding('utf8');
        s.on('data', (d) => {
          this.ctlBuffer += d;
          for (const w of [...this.ctlWaiters]) w();
        });
        resolve();
      });
      s.once('error', reject);
    });
  }

  /**
   * Runs a shell command line in the guest (busybox sh on the virtio serial port) and returns its output. Commands are
   * serialised; each ends with a unique marker carrying the exit status.
   */
  run(command, timeoutMs = 20_000) {
    const job = this.queue.then(() => this.#runNow(command, timeoutMs));
    this.queue = job.catch(() => undefined);
    return job;
  }

  #runNow(command, timeoutMs) {
    if (!this.ctl) return Promise.reject(new Error('guest command channel is not connected'));
    const marker = `__PARASIGHT_${++this.seq}__`;
    this.ctlBuffer = '';
    return new Promise((resolve, reject) => {
      const re = new RegExp(`${marker} (\\d+)\\n`);
      const check = () => {
        const m = re.exec(this.ctlBuffer);
        if (!m) return;
        done();
        const out = this.ctlBuffer.slice(0, m.index);
        this.ctlBuffer = this.ctlBuffer.slice(m.index + m[0].length);
        if (m[1] !== '0') reject(new Error(`guest command failed (${m[1]}): ${command}\n${out}`));
        else resolve(out);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`guest command timed out after ${timeoutMs} ms: ${command}\n${this.ctlBuffer}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.ctlWaiters = this.ctlWaiters.filter((w) => w !== check);
      };
      this.ctlWaiters.push(check);
      this.ctl.write(`${command}\necho ${marker} $?\n`);
    });
  }

  /** The guest's own view: { processes: [{pid, ppid, comm}], sockets: [{pid, proto, family, local, lport, ...}] }. */
  async truth() {
    const out = await this.run('/bin/truth');
    return JSON.parse(out.trim());
  }

  /**
   * Starts a program in the guest in the background. `as` runs it under another name (a symlink), so its comm
   * differs. Waits for its first output line (netprog prints "ok LPORT" once its socket is set up).
   */
  async spawn(argv, { as, waitOutput = true } = {}) {
    const n = ++this.seq;
    let prog = argv[0].includes('/') ? argv[0] : `/bin/${argv[0]}`;
    if (as) {
      await this.run(`ln -sf ${prog} /tmp/${as}`);
      prog = `/tmp/${as}`;
    }
    const out = `/tmp/out.${n}`;
    const line = [prog, ...argv.slice(1)].join(' ');
    const pidText = await this.run(`${line} >${out} 2>&1 </dev/null & echo $!`);
    const pid = Number.parseInt(pidText.trim(), 10);
    let output = '';
    if (waitOutput) {
      output = await this.run(`i=0; while [ ! -s ${out} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat ${out}`);
      if (!output.startsWith('ok')) throw new Error(`guest program ${line} failed: ${output}`);
    }
    const lport = /^ok (\d+)/.exec(output)?.[1];
    return { pid, output, localPort: lport ? Number(lport) : undefined, outputPath: out };
  }

  async kill(pid) {
    await this.run(`kill -9 ${pid}; i=0; while [ -e /proc/${pid} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; true`);
  }

  async stop() {
    this.stopSync();
  }

  stopSync() {
    live.delete(this);
    try {
      this.ctl?.destroy();
    } catch {
      /* already closed */
    }
    for (const child of [this.qemu, this.peer]) {
      if (child && child.exitCode === null && child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    // `ip netns exec` execs its command, so the pids above are QEMU and the peer themselves.
    if (this.netnsCreated) {
      try {
        execFileSync('ip', ['netns', 'del', this.netns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
      this.netnsCreated = false;
    }
    if (this.ramPath) rmSync(this.ramPath, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
