// Scale: a guest running ~2,000 processes that each hold a UDP socket. The walk sees every one with its owner (as
// the guest's own /proc says), and a new connection among them is attributed by one lookup, by the cheapest stage
// that can settle it: a changed fd table the last sweep knew (new descriptor, the same descriptor number closed
// and reopened, a second thread, after exec; a table that changed lately is looked at first), or a task created
// since (a new process).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemory } from '../../src/memory/open.js';
import { LinuxIntrospector } from '../../src/introspect/linux/introspector.js';
import { labUnavailable, startLab, type Lab } from './lab.mjs';
import { askForMore, attributeNew, expectSameAsGuest, labProfile } from './linux-helpers.js';

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

  const attribute = (port: number) => attributeNew(intro, lab, port);
  const more = (p: { pid: number; outputPath: string }, lines: number) => askForMore(lab, p, lines);

  it('attributes a new connection of a new process among them with one lookup (a task created since the sweep)', async () => {
    intro.refresh();
    const p = await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, String(lab.peerPort)], { as: 'latecomer' });
    expect(attribute(p.localPort!)).toEqual({ pid: p.pid, name: 'latecomer', stage: 'newTasks' });
  });

  it('attributes a running process\'s new connection on a new descriptor from its changed fd table', async () => {
    const p = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, String(lab.peerPort), 'new'], { as: 'morenew' });
    intro.refresh();
    const first = Number(/^ok \d+ (\d+)/.exec(p.output)![1]);
    for (let i = 2; i <= 3; i++) {
      const c = await more(p, i);
      expect(c.fd).toBe(first + i - 1);
      // The first from all known tables; then this table is one that changed lately, looked at first.
      expect(attribute(c.port)).toEqual({ pid: p.pid, name: 'morenew', stage: i === 2 ? 'knownTables' : 'hotTables' });
    }
  });

  it('attributes a connection on a descriptor number closed and reopened since the sweep', async () => {
    const p = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, String(lab.peerPort), 'reuse'], { as: 'morereuse' });
    intro.refresh();
    const first = Number(/^ok \d+ (\d+)/.exec(p.output)![1]);
    for (let i = 2; i <= 3; i++) {
      const c = await more(p, i);
      expect(c.fd).toBe(first);
      const { stage, ...owner } = attribute(c.port);
      expect(owner).toEqual({ pid: p.pid, name: 'morereuse' });
      // The first: from all known tables, unless the kernel handed the reopen the struct file just freed (nothing in
      // any table changed): then the sweep. Either way the table is then one that changed lately, whose every
      // descriptor is looked at.
      if (i === 2) expect(['knownTables', 'sweeps']).toContain(stage);
      else expect(stage).toBe('hotTables');
    }
  });

  it('attributes a connection opened by a second thread to its process', async () => {
    const p = await lab.spawn(['netprog', 'tcp-more', lab.hostV4, String(lab.peerPort), 'thread'], { as: 'morethread' });
    intro.refresh();
    const c = await more(p, 2);
    expect(attribute(c.port)).toEqual({ pid: p.pid, name: 'morethread', stage: 'knownTables' });
  });

  it('attributes a connection of a process that exec\'d since the sweep, under its new name', async () => {
    await lab.run('ln -sf /bin/netprog /tmp/execd');
    const p = await lab.spawn(['netprog', 'exec-usr1', '/tmp/execd', 'tcp-connect', lab.hostV4, String(lab.peerPort)], { as: 'waiter' });
    intro.refresh();
    expect(intro.processes().items.find((x) => x.pid === p.pid)?.name).toBe('waiter');
    const out = await lab.run(
      `kill -USR1 ${p.pid}; i=0; while [ $(grep -c ok ${p.outputPath}) -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; tail -n1 ${p.outputPath}`,
    );
    const port = Number(/^ok (\d+)/.exec(out.trim())?.[1]);
    expect(attribute(port)).toEqual({ pid: p.pid, name: 'execd', stage: 'knownTables' });
    expect(intro.processes().items.find((x) => x.pid === p.pid)?.name).toBe('execd');
  });

  it('still finds every owner after those lookups, and a sweep agrees with the guest', async () => {
    intro.refresh();
    expectSameAsGuest(intro, await lab.truth());
  }, 120_000);
});
