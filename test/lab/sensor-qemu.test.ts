/**
 * The VM sensor on the live Linux lab guest (QEMU): capture on the VM's tap with libpcap, attribution by walking the
 * guest kernel in its live RAM file (Linux introspector, profile from the guest's kernel), policy per program.
 * A program allowed one destination uses it (no alert); then code injected into that running program (a library
 * loaded with LD_PRELOAD, woken later by a signal) reaches elsewhere: exactly one process.parasitized, with the pid and name the
 * guest itself gives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
        '  - name: updater',
        '    mode: default-deny',
        '    rules:',
        `      - { direction: outbound, proto: tcp, remote: ${lab.hostV4}, rport: ${lab.peerPort} }`,
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

  it('allowed use raises no alert; code injected into the running program reaching elsewhere is parasitized', async () => {
    await lab.run('ln -sf /bin/netprog /tmp/updater');
    const ok = await lab.spawn(['env', 'LD_PRELOAD=/bin/beacon.so', `BEACON=${lab.hostV6},${lab.peerPort}`, '/tmp/updater', 'tcp-connect', lab.hostV4, String(lab.peerPort)]);
    await sensor.waitFor(() => events().some((e) => e.process?.pid === ok.pid), 'allowed connection attributed', 60_000);
    expect(events().find((e) => e.process?.pid === ok.pid)).toMatchObject({
      type: 'connection.allowed',
      process: { name: 'updater', create_time_base: 'boot' },
      flow: { proto: 'tcp', local: lab.guestV4, lport: ok.localPort, remote: lab.hostV4, rport: lab.peerPort, direction: 'outbound' },
      rule: 'updater#0',
      attribution: { outcome: 'attributed' },
    });
    expect(events().filter((e) => e.verdict === 'deny')).toEqual([]);

    // Wake the injected library: it sends from inside the same process (same pid) to a destination the policy forbids.
    await lab.run(`kill -USR1 ${ok.pid}`);
    await sensor.waitFor(() => events().some((e) => e.type === 'process.parasitized'), 'parasitized event', 60_000);
    const p = events().filter((e) => e.type === 'process.parasitized');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({
      vm: 'lab',
      process: { pid: ok.pid, name: 'updater' },
      flow: { proto: 'udp', local: lab.guestV6, remote: lab.hostV6, rport: lab.peerPort, direction: 'outbound' },
      verdict: 'deny',
      risk: 'high',
      rule: 'updater#mode',
      attribution: { outcome: 'attributed' },
    });
    const truth = await lab.truth();
    expect(truth.processes.find((x) => x.pid === ok.pid)?.comm).toBe('updater');
  }, 180_000);
});
