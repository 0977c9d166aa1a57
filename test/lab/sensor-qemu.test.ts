/**
 * The VM sensor on the live Linux lab guest (QEMU): capture on the VM's tap with libpcap, attribution by walking the
 * guest kernel in its live RAM file (Linux introspector, profile from the guest's kernel), policy per program.
 * A program allowed one destination uses it (no alert); then code injected into that running program reaches
 * elsewhere: exactly one process.parasitized, with the pid, name and executable path the guest itself gives. Two
 * injections: a library dlopen'ed into the already running, clean program by a ptrace injector inside the guest,
 * and a library loaded with LD_PRELOAD at start and woken later by a signal.
 */import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SensorEvent } from '../../src/index.js';
import { labUnavailable, startLab, type Lab } from './lab.mjs';
import { labProfile } from './linux-helpers.js';
import { Child, ensureBuilt, root } from './sensor-helpers.js';

const why = labUnavailable();

describe.skipIf(why !== undefined)(`sensor on the QEMU lab guest${why ? ` (skipped: ${why})` : ''}`, () => {
  let lab: Lab;
  let sensor: Child;
  let child: ChildProcess | undefined;
  let work: string;
  const events = (): SensorEvent[] => sensor.lines.filter((l) => l.startsWith('{"event"')).map((l) => (JSON.parse(l) as { event: SensorEvent }).event);

  beforeAll(async () => {
    ensureBuilt();
    const profile = labProfile();
    lab = await startLab({ memory: 'shm', kaslr: true });
    work = mkdtempSync(join(tmpdir(), 'parasight-sensor-qemu-'));
    const policy = join(work, 'policy.yaml');
    writeFileSync(
      policy,
      [
        'version: 1',
        'processes:',
        ...['updater', 'fetcher'].flatMap((name) => [
          `  - name: ${name}`,
          '    mode: default-deny',
          '    rules:',
          `      - { direction: outbound, proto: tcp, remote: ${lab.hostV4}, rport: ${lab.peerPort} }`,
        ]),
        '',
      ].join('\n'),
    );
    const cfg = { vm: 'lab', iface: 'tap0', guest: { ips: [lab.guestV4, lab.guestV6] }, memory: lab.ramPath, profile: profile.name, policy };
    child = spawn('ip', ['netns', 'exec', lab.netns, process.execPath, join(root, 'test/lab/sensor-child.mjs'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    sensor = new Child(child);
    await sensor.waitFor((l) => l.startsWith('{"ready"'), 'sensor ready', 60_000);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await lab?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Starts `name` (netprog through a symlink) connecting to its allowed destination; resolves once that is attributed. */
  async function cleanRun(name: string, env: string[] = []): Promise<{ pid: number; localPort: number | undefined }> {
    await lab.run(`ln -sf /bin/netprog /tmp/${name}`);
    const prog = await lab.spawn([...(env.length > 0 ? ['env', ...env] : []), `/tmp/${name}`, 'tcp-connect', lab.hostV4, String(lab.peerPort)]);
    await sensor.waitFor(() => events().some((e) => e.process?.pid === prog.pid), `${name}'s allowed connection attributed`, 60_000);
    expect(events().find((e) => e.process?.pid === prog.pid)).toMatchObject({
      type: 'connection.allowed',
      // The kernel executed the symlink's target: that is the path the guest gives too (readlink /proc/PID/exe).
      process: { name, path: '/bin/netprog', create_time_base: 'boot' },
      flow: { proto: 'tcp', local: lab.guestV4, lport: prog.localPort, remote: lab.hostV4, rport: lab.peerPort, direction: 'outbound' },
      rule: `${name}#0`,
      attribution: { outcome: 'attributed' },
    });
    expect((await lab.run(`readlink /proc/${prog.pid}/exe`)).trim()).toBe('/bin/netprog');
    expect(events().filter((e) => e.verdict === 'deny' && e.process?.pid === prog.pid)).toEqual([]);
    return prog;
  }

  /** The one process.parasitized event of `pid`, once it came. */
  async function caught(pid: number, name: string): Promise<void> {
    await sensor.waitFor(() => events().some((e) => e.type === 'process.parasitized' && e.process?.pid === pid), `parasitized event for ${name}`, 60_000);
    const p = events().filter((e) => e.type === 'process.parasitized' && e.process?.name === name);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({
      vm: 'lab',
      process: { pid, name, path: '/bin/netprog' },
      flow: { proto: 'udp', local: lab.guestV6, remote: lab.hostV6, rport: lab.peerPort, direction: 'outbound' },
      verdict: 'deny',
      risk: 'high',
      rule: `${name}#mode`,
      attribution: { outcome: 'attributed' },
    });
    const truth = await lab.truth();
    expect(truth.processes.find((x) => x.pid === pid)?.comm).toBe(name);
  }

  it('code injected with ptrace into the running, clean program reaching elsewhere is parasitized', async () => {
    const prog = await cleanRun('updater');
    expect(await lab.run(`grep -c parasite /proc/${prog.pid}/maps || true`)).toMatch(/^0/);
    // Inside the guest: attach to the running program, make it dlopen the payload; its constructor sends at once.
    const out = await lab.run(`/bin/injector ${prog.pid} /bin/parasite.so`);
    expect(out).toMatch(/handle=0x[0-9a-f]+/);
    await caught(prog.pid, 'updater');
    expect(await lab.run(`grep -c /bin/parasite.so /proc/${prog.pid}/maps`)).not.toMatch(/^0/);
    expect(events().filter((e) => e.type === 'process.parasitized')).toHaveLength(1);
  }, 180_000);

  it('code preloaded at start (LD_PRELOAD) and woken by a signal reaching elsewhere is parasitized', async () => {
    const prog = await cleanRun('fetcher', ['LD_PRELOAD=/bin/beacon.so', `BEACON=${lab.hostV6},${lab.peerPort}`]);
    // Wake the injected library: it sends from inside the same process (same pid) to a destination the policy forbids.
    await lab.run(`kill -USR1 ${prog.pid}`);
    await caught(prog.pid, 'fetcher');
  }, 180_000);
});
