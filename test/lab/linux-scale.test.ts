// Scale: a guest running ~2,000 processes that each hold a UDP socket. The walk sees every one with its owner (as
// the guest's own /proc says), and a new connection among them is attributed by one lookup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemory } from '../../src/memory/open.js';
import { LinuxIntrospector } from '../../src/introspect/linux/introspector.js';
import { labUnavailable, startLab, type Lab } from './lab.mjs';
import { expectSameAsGuest, labProfile } from './linux-helpers.js';

const why = labUnavailable();
const SLEEPERS = 2000;

describe.skipIf(why !== undefined)(`Linux guest with ${SLEEPERS} processes holding sockets${why ? ` (skipped: ${why})` : ''}`, () => {
  let lab: Lab;
  let intro: LinuxIntrospector;
  let swarm: number;
  beforeAll(async () => {
    const profile = labProfile();
    // ~110 KiB of kernel memory per sleeper (stack, task, page tables, socket): 256 MiB is not enough.
    lab = await startLab({ memory: 'shm', kaslr: true, ramMiB: 1024 });
    // threads-max defaults to what the RAM allows by a conservative rule; raise it for the sleepers.
    await lab.run('echo 8192 > /proc/sys/kernel/threads-max');
    const s = await lab.spawn(['netprog', 'swarm', String(SLEEPERS)], { as: 'sleeper', waitOutput: false });
    swarm = s.pid;
    // Forking under TCG takes a while: wait up to 100 s for "ok N".
    const out = await lab.run(`i=0; while [ ! -s ${s.outputPath} ] && [ $i -lt 1000 ]; do sleep 0.1; i=$((i+1)); done; cat ${s.outputPath}`, 120_000);
    expect(out.trim()).toBe(`ok ${SLEEPERS}`);
    intro = LinuxIntrospector.open(openMemory({ kind: 'live-file', path: lab.ramPath! }), { profile, ownMemory: true });
  }, 180_000);
  afterAll(async () => {
    intro?.close();
    await lab?.stop();
  });

  it('lists every sleeper and its socket with the owner the guest reports', async () => {
    intro.refresh();
    const sleepers = intro.processes().items.filter((p) => p.ppid === swarm);
    expect(sleepers).toHaveLength(SLEEPERS);
    const pids = new Set(sleepers.map((p) => p.pid));
    expect(intro.sockets().items.filter((x) => pids.has(x.pid))).toHaveLength(SLEEPERS);
    expectSameAsGuest(intro, await lab.truth());
  }, 120_000);

  it('attributes a new connection of a new process among them with one lookup', async () => {
    const p = await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, String(lab.peerPort)], { as: 'latecomer' });
    const owner = intro.lookupConnection({
      proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: p.localPort!, remoteAddress: lab.hostV4, remotePort: lab.peerPort,
    });
    expect(owner?.pid).toBe(p.pid);
    expect(owner?.process?.name).toBe('latecomer');
    expect(owner?.answeredFrom).toBe('refresh');
  });
});
